"""URLs of the tags API, as the original spelled them.

Tags are addressed by name or id. Each documented path is kept with its
trailing-slash form and the other spelling accepted (left out of the OpenAPI
description). ``schema`` comes before ``<tagname>``, so a tag named "schema"
is reached by its id, as in the original.
"""

from __future__ import annotations

from farm.api.urls.base import legacy_paths
from farm.api.views.tags import TagAgentViewSet, TagViewSet

urlpatterns = [
    *legacy_paths(
        "tags/", TagViewSet, "api-tags", actions={"get": "list", "post": "create"}
    ),
    *legacy_paths(
        "tags/schema/", TagViewSet, "api-tags-schema", actions={"get": "columns"}
    ),
    *legacy_paths(
        "tags/<str:tagname>",
        TagViewSet,
        "api-tag",
        actions={"get": "retrieve", "put": "replace", "delete": "destroy"},
    ),
    *legacy_paths(
        "tags/<str:tagname>/agents/",
        TagAgentViewSet,
        "api-tag-agents",
        actions={"get": "list", "post": "create"},
    ),
]
