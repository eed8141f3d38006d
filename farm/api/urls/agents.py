"""URLs of the agents API, as the original spelled them.

Each documented path is kept with its trailing-slash form (``agents/`` with a
slash, ``agents/<id>`` without); the other spelling is accepted too, but left
out of the OpenAPI description. ``schema`` and ``updates`` come before
``<agent_id>``, which would otherwise swallow them.
"""

from __future__ import annotations

from django.urls import re_path

from farm.api.urls.base import legacy_paths
from farm.api.views.agents import (
    AgentSoftwareViewSet,
    AgentTaskViewSet,
    AgentUpdateViewSet,
    AgentViewSet,
)

urlpatterns = [
    *legacy_paths(
        "agents/",
        AgentViewSet,
        "api-agents",
        actions={"get": "list", "post": "register"},
    ),
    *legacy_paths(
        "agents/schema", AgentViewSet, "api-agents-schema", actions={"get": "columns"}
    ),
    # The version is captured whole, slashes included, so that a version
    # trying to leave the updates directory gets a 400 rather than a 404.
    re_path(
        r"^agents/updates/(?P<version>.+)$",
        AgentUpdateViewSet.as_view({"get": "retrieve", "put": "upload"}),
        name="api-agent-update",
    ),
    *legacy_paths(
        "agents/<str:agent_id>",
        AgentViewSet,
        "api-agent",
        actions={"get": "retrieve", "post": "report", "delete": "destroy"},
    ),
    *legacy_paths(
        "agents/<str:agent_id>/software/",
        AgentSoftwareViewSet,
        "api-agent-software",
        actions={"get": "list", "post": "create"},
    ),
    *legacy_paths(
        "agents/<str:agent_id>/software/<str:software>/versions/<str:version>",
        AgentSoftwareViewSet,
        "api-agent-software-version",
        actions={"delete": "destroy"},
    ),
    *legacy_paths(
        "agents/<str:agent_id>/tasks/",
        AgentTaskViewSet,
        "api-agent-tasks",
        actions={"get": "list", "post": "create"},
    ),
]
