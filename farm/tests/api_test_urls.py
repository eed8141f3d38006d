"""A tiny URLconf for testing the API framework apart from any endpoint."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from farm.api.permissions import AgentPermission
from farm.api.serializers.base import StrictSerializerMixin
from farm.services.errors import ConflictError
from pyfarm_site.urls import (  # noqa: F401
    handler400,
    handler403,
    handler404,
    handler500,
)


class EchoSerializer(StrictSerializerMixin, serializers.Serializer):
    """One required integer."""

    count = serializers.IntegerField(min_value=0)


class EchoView(APIView):
    """GET answers a fixed body; POST validates and echoes."""

    def get(self, request: Request) -> Response:
        return Response({"answer": 42, "text": "ünïcode"})

    def post(self, request: Request) -> Response:
        serializer = EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data, status=201)


class AgentEchoView(EchoView):
    """The same, open to agent networks."""

    permission_classes = [AgentPermission]


class ConflictingView(APIView):
    """Raises a service's conflict, uncaught."""

    def get(self, request: Request) -> Any:
        raise ConflictError("tag 'x' already exists")


class BrokenView(APIView):
    """Raises an unexpected error."""

    def get(self, request: Request) -> Any:
        raise RuntimeError("boom")


def plain_view(request: HttpRequest) -> HttpResponse:
    """A plain Django view (not DRF's): CSRF-protected like any other."""
    return HttpResponse("{}", content_type="application/json")


def forbidden_view(request: HttpRequest) -> HttpResponse:
    """A plain Django view that refuses everybody."""
    raise PermissionDenied("nobody may")


api_patterns = [
    path("echo", EchoView.as_view()),
    path("plain", plain_view),
    path("forbidden", forbidden_view),
    path("agent-echo", AgentEchoView.as_view()),
    path("broken", BrokenView.as_view()),
    path("conflicting", ConflictingView.as_view()),
    path("", include("farm.api.urls")),
]

urlpatterns = [path("api/v1/", include(api_patterns))]
