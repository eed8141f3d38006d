"""URLs of the jobtypes API (filled in by its area)."""

urlpatterns: list = []
