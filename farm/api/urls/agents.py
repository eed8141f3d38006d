"""URLs of the agents API, as the original spelled them.

Each documented path is kept with its trailing-slash form (``agents/`` with a
slash, ``agents/<id>`` without); the other spelling is accepted too, but left
out of the OpenAPI description. ``schema`` and ``updates`` come before
``<agent_id>``, which would otherwise swallow them.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path, re_path

from farm.api.views.agents import (
    AgentSoftwareViewSet,
    AgentTaskViewSet,
    AgentUpdateViewSet,
    AgentViewSet,
)


def legacy_paths(
    route: str, viewset: Any, actions: dict[str, str], name: str
) -> list[URLPattern]:
    """The documented ``route`` and its other trailing-slash spelling."""
    other = route.removesuffix("/") if route.endswith("/") else f"{route}/"
    return [
        path(route, viewset.as_view(actions), name=name),
        path(other, viewset.as_view(actions, schema=None)),
    ]


urlpatterns = [
    *legacy_paths(
        "agents/", AgentViewSet, {"get": "list", "post": "register"}, "api-agents"
    ),
    *legacy_paths(
        "agents/schema", AgentViewSet, {"get": "columns"}, "api-agents-schema"
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
        {"get": "retrieve", "post": "report", "delete": "destroy"},
        "api-agent",
    ),
    *legacy_paths(
        "agents/<str:agent_id>/software/",
        AgentSoftwareViewSet,
        {"get": "list", "post": "create"},
        "api-agent-software",
    ),
    *legacy_paths(
        "agents/<str:agent_id>/software/<str:software>/versions/<str:version>",
        AgentSoftwareViewSet,
        {"delete": "destroy"},
        "api-agent-software-version",
    ),
    *legacy_paths(
        "agents/<str:agent_id>/tasks/",
        AgentTaskViewSet,
        {"get": "list", "post": "create"},
        "api-agent-tasks",
    ),
]
