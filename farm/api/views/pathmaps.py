"""Views of the pathmaps API (``/api/v1/pathmaps/...``).

Agents fetch the maps that apply to them with ``GET pathmaps/?for_agent=<id>``.
"""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from farm.api.schema import id_parameter
from farm.api.serializers.pathmaps import PathMapInputSerializer, PathMapSerializer
from farm.api.views.base import AgentReadMixin, ColumnTypesView, parse_int
from farm.models import Agent, PathMap

# The column -> SQL type map the original documents for ``pathmaps/schema``.
PATHMAP_SCHEMA = {
    "id": "INTEGER",
    "path_linux": "VARCHAR(512)",
    "path_windows": "VARCHAR(512)",
    "path_osx": "VARCHAR(512)",
    "tag": "VARCHAR(64)",
}

_PATHS = ("path_linux", "path_windows", "path_osx")


def maps_for_agent(maps: QuerySet[PathMap], value: str) -> list[PathMap]:
    """The maps that apply to agent ``value``: its tags' and the untagged ones.

    A tagged map overrides an untagged one for the same path: an untagged map
    sharing a path (on any operating system) with one of the agent's tagged
    maps is left out. 400 for an id that is no UUID, 404 for an unknown agent.
    """
    try:
        agent_id = uuid.UUID(value)
    except ValueError:
        raise ValidationError(f"for_agent: {value!r} is not a valid UUID") from None
    if not Agent.objects.filter(pk=agent_id).exists():
        raise NotFound(f"agent {agent_id} not found")
    applicable = list(maps.filter(Q(tag__isnull=True) | Q(tag__agents=agent_id)))
    tagged_paths = {
        getattr(row, name)
        for row in applicable
        if row.tag_id is not None
        for name in _PATHS
    }
    return [
        row
        for row in applicable
        if row.tag_id is not None
        or not any(getattr(row, name) in tagged_paths for name in _PATHS)
    ]


def _pathmap(value: str) -> PathMap:
    pathmap_id = parse_int(value, "pathmap id")
    found = PathMap.objects.select_related("tag").filter(pk=pathmap_id).first()
    if found is None:
        raise NotFound(f"pathmap {pathmap_id} not found")
    return found


class PathMapListView(AgentReadMixin, GenericAPIView):
    """``GET pathmaps/`` (agents too, ``?for_agent=<uuid>``); ``POST`` creates."""

    queryset = PathMap.objects.select_related("tag").order_by("id")
    serializer_class = PathMapSerializer

    @extend_schema(
        operation_id="pathmaps_list",
        responses=PathMapSerializer(many=True),
        parameters=[
            OpenApiParameter(
                "for_agent",
                OpenApiTypes.UUID,
                description="only the maps that apply to this agent",
            )
        ],
    )
    def get(self, request: Request) -> Response:
        """All maps, or those of one agent."""
        maps: QuerySet[PathMap] | list[PathMap] = self.get_queryset()
        for_agent = request.query_params.get("for_agent")
        if for_agent is not None:
            maps = maps_for_agent(self.get_queryset(), for_agent)
        return Response(self.get_serializer(maps, many=True).data)

    @extend_schema(request=PathMapInputSerializer, responses={201: PathMapSerializer})
    def post(self, request: Request) -> Response:
        """201 with the new map; an unknown tag is created."""
        serializer = PathMapInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pathmap = serializer.save()
        return Response(
            self.get_serializer(pathmap).data, status=status.HTTP_201_CREATED
        )


class PathMapSchemaView(ColumnTypesView):
    """``GET pathmaps/schema``: the documented column types."""

    columns = PATHMAP_SCHEMA


@extend_schema(parameters=[id_parameter("pathmap_id", "The path map's id.")])
class PathMapDetailView(GenericAPIView):
    """``pathmaps/<id>``: GET, POST (change some columns) and DELETE."""

    serializer_class = PathMapSerializer

    def get(self, request: Request, pathmap_id: str) -> Response:
        """The map."""
        return Response(self.get_serializer(_pathmap(pathmap_id)).data)

    @extend_schema(
        operation_id="pathmaps_update",
        request=PathMapInputSerializer,
        responses={200: PathMapSerializer},
    )
    def post(self, request: Request, pathmap_id: str) -> Response:
        """200 with the map; only the columns given change, ``id`` never."""
        pathmap = _pathmap(pathmap_id)
        serializer = PathMapInputSerializer(pathmap, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        return Response(self.get_serializer(serializer.save()).data)

    def delete(self, request: Request, pathmap_id: str) -> Response:
        """204, whether the map existed or not."""
        PathMap.objects.filter(pk=parse_int(pathmap_id, "pathmap id")).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
