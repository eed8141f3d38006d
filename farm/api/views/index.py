"""``GET /api/v1/``: the API's index, a link to each group of endpoints."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

#: Each group of endpoints and its list's path under the API prefix, as the
#: original documents it (with its trailing slash).
ENDPOINT_GROUPS = {
    "agents": "agents/",
    "jobgroups": "jobgroups/",
    "jobqueues": "jobqueues/",
    "jobs": "jobs/",
    "jobtypes": "jobtypes/",
    "pathmaps": "pathmaps/",
    "software": "software/",
    "tags": "tags/",
    # The API's description: Swagger UI and the OpenAPI schema.
    "docs": "docs/",
    "openapi": "openapi.json",
}


class ApiIndexView(APIView):
    """The index of the API: a link per endpoint group, and to the docs.

    Served to anyone, as the API's description is: it names no data.
    """

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="api_index",
        summary="API index",
        responses=inline_serializer(
            "ApiIndex",
            {name: serializers.URLField(read_only=True) for name in ENDPOINT_GROUPS},
        ),
    )
    def get(self, request: Request) -> Response:
        """``{"<group>": "<URL>", ..., "docs": "<URL>", "openapi": "<URL>"}``."""
        root = reverse("api-index")
        return Response(
            {
                name: request.build_absolute_uri(root + path)
                for name, path in ENDPOINT_GROUPS.items()
            }
        )
