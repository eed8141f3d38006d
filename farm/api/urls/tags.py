"""URLs of the tags API (filled in by its area)."""

urlpatterns: list = []
