"""Agents: list, page and farm admins' actions."""

from django.urls import path

from farm.web.views.pending import pending

urlpatterns = [
    path("agents/", pending, name="agents"),
    path("agents/<uuid:agent_id>/", pending, name="agent"),
]
