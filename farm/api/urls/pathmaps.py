"""URLs of the pathmaps API (filled in by its area)."""

urlpatterns: list = []
