"""URLs of the jobgroups API (filled in by its area)."""

urlpatterns: list = []
