"""The API's URLs, mounted under ``api_prefix`` (``/api/v1/``).

The legacy paths are spelled out by hand, one module per area, keeping the
original's trailing-slash quirks and name-or-id lookups. Anything else under
the prefix answers a JSON 404 (never Django's HTML page, which the agent
cannot read).
"""

from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularSwaggerView,
    SpectacularYAMLAPIView,
)
from rest_framework.permissions import AllowAny

from farm.api.exceptions import json_not_found
from farm.api.urls import (
    agents,
    jobgroups,
    jobqueues,
    jobs,
    jobtypes,
    pathmaps,
    software,
    tags,
    tasklogs,
)
from farm.api.views.index import ApiIndexView

urlpatterns = [
    path("", ApiIndexView.as_view(), name="api-index"),
    *agents.urlpatterns,
    *jobgroups.urlpatterns,
    *jobqueues.urlpatterns,
    *jobs.urlpatterns,
    *tasklogs.urlpatterns,
    *jobtypes.urlpatterns,
    *pathmaps.urlpatterns,
    *software.urlpatterns,
    *tags.urlpatterns,
    # The API's description is no secret: served to anyone.
    path(
        "openapi.json",
        SpectacularJSONAPIView.as_view(permission_classes=[AllowAny]),
        name="openapi-json",
    ),
    path(
        "openapi.yaml",
        SpectacularYAMLAPIView.as_view(permission_classes=[AllowAny]),
        name="openapi-yaml",
    ),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(
            url_name="openapi-json", permission_classes=[AllowAny]
        ),
        name="api-docs",
    ),
    # Any path at all, newlines included, and any method: a JSON 404, never
    # Django's CSRF page or debug listing of the URLs.
    re_path(r"^[\s\S]*$", csrf_exempt(json_not_found), name="api-not-found"),
]
