"""URLs of the tasklogs API (filled in by its area)."""

urlpatterns: list = []
