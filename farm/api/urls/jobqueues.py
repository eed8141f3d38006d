"""URLs of the jobqueues API (filled in by its area)."""

urlpatterns: list = []
