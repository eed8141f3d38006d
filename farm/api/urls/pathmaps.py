"""URLs of the pathmaps API, spelled out as the original has them."""

from django.urls import URLPattern, path, re_path

from farm.api.views.pathmaps import (
    PathMapDetailView,
    PathMapListView,
    PathMapSchemaView,
)

urlpatterns: list[URLPattern] = [
    path("pathmaps/", PathMapListView.as_view(), name="api-pathmap-list"),
    re_path(
        r"^pathmaps/schema/?$", PathMapSchemaView.as_view(), name="api-pathmap-schema"
    ),
    re_path(
        r"^pathmaps/(?P<pathmap_id>[^/]+)$",
        PathMapDetailView.as_view(),
        name="api-pathmap-detail",
    ),
]
