"""URLs of the software API (filled in by its area)."""

urlpatterns: list = []
