"""Agents: list, page and farm admins' actions."""

from django.urls import path

from farm.web.views import agents

urlpatterns = [
    path("agents/", agents.agent_list, name="agents"),
    path("agents/bulk/", agents.agents_bulk, name="agents_bulk"),
    path("agents/<uuid:agent_id>/", agents.agent_page, name="agent"),
    path("agents/<uuid:agent_id>/action/", agents.agent_action, name="agent_action"),
    path("agents/<uuid:agent_id>/notes/", agents.agent_notes, name="agent_notes"),
    path("agents/<uuid:agent_id>/tags/", agents.agent_tags, name="agent_tags"),
    path(
        "agents/<uuid:agent_id>/software/add/",
        agents.agent_software,
        {"change": "add"},
        name="agent_software_add",
    ),
    path(
        "agents/<uuid:agent_id>/software/remove/",
        agents.agent_software,
        {"change": "remove"},
        name="agent_software_remove",
    ),
]
