"""URLs of the jobs API (filled in by its area)."""

urlpatterns: list = []
