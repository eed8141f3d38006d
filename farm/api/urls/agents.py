"""URLs of the agents API (filled in by its area)."""

urlpatterns: list = []
