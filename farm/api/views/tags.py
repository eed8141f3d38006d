"""Views of the tags API: tags, and the agents that carry them.

Tags are addressed by name or by id (``/tags/render`` or ``/tags/3``). Users
read; farm admins change.
"""

from __future__ import annotations

from typing import cast

from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from farm.api.serializers.tags import (
    TagAgentSerializer,
    TagDetailSerializer,
    TaggedAgentLinkSerializer,
    TaggedAgentSerializer,
    TagReplacementSerializer,
    TagSerializer,
)
from farm.api.views.base import get_by_name_or_id
from farm.models import Agent, Job, Tag
from farm.services.tags import get_or_create_tag, replace_tag, tag_agent

# The column -> SQL type map of ``GET /tags/schema``, as documented.
TAG_SCHEMA = {"id": "INTEGER", "tag": "VARCHAR(64)"}


def find_tag(value: str, queryset: QuerySet[Tag] | None = None) -> Tag | None:
    """The tag whose id or name is ``value``, or None."""
    try:
        found = get_by_name_or_id(
            queryset if queryset is not None else Tag.objects.all(),
            value,
            name_field="tag",
            label="tag",
        )
    except NotFound:
        return None
    return cast(Tag, found)


def get_tag(value: str, queryset: QuerySet[Tag] | None = None) -> Tag:
    """The tag whose id or name is ``value``; 404 when there is none."""
    tag = find_tag(value, queryset)
    if tag is None:
        raise NotFound(f"tag `{value}` not found")
    return tag


class TagViewSet(viewsets.GenericViewSet):
    """``/tags/``, ``/tags/<name or id>`` and ``/tags/schema``."""

    queryset = Tag.objects.prefetch_related(
        Prefetch("agents", queryset=Agent.objects.only("id", "hostname")),
        Prefetch("jobs", queryset=Job.objects.only("id", "title")),
    )
    serializer_class = TagDetailSerializer

    @extend_schema(summary="List tags", responses=TagDetailSerializer(many=True))
    def list(self, request: Request) -> Response:
        """Every tag with its agents and jobs."""
        return Response(TagDetailSerializer(self.get_queryset(), many=True).data)

    @extend_schema(
        summary="Create a tag",
        request=TagSerializer,
        responses={201: TagSerializer, 200: TagSerializer},
    )
    def create(self, request: Request) -> Response:
        """Create the tag (201), or return the one of that name (200)."""
        serializer = TagSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tag, created = get_or_create_tag(name=serializer.validated_data["tag"])
        return Response(
            TagSerializer(tag).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(summary="Show a tag", responses=TagDetailSerializer)
    def retrieve(self, request: Request, tagname: str) -> Response:
        """One tag with its agents and jobs."""
        return Response(TagDetailSerializer(get_tag(tagname, self.get_queryset())).data)

    @extend_schema(
        summary="Create or overwrite a tag",
        request=TagReplacementSerializer,
        responses={201: TagSerializer},
    )
    def replace(self, request: Request, tagname: str) -> Response:
        """Create or overwrite the tag with exactly the agents and jobs given.

        The URL names the tag (or gives its id); a ``tag`` in the body must
        be the same name. Answers 201 either way, as the original did (it
        deleted and recreated the tag).
        """
        serializer = TagReplacementSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tag = find_tag(tagname)
        name = tag.tag if tag is not None else tagname
        if data.get("tag", name) != name:
            raise ValidationError(
                f"`tag` in the body ({data['tag']!r}) must be the tag of the URL "
                f"({name!r})"
            )
        tag = replace_tag(
            tag=tag,
            name=name,
            agent_ids=data.get("agents"),
            job_ids=data.get("jobs"),
        )
        return Response(TagSerializer(tag).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Delete a tag", responses={204: None})
    def destroy(self, request: Request, tagname: str) -> Response:
        """Delete the tag and its relations; 204 even if it did not exist."""
        tag = find_tag(tagname)
        if tag is not None:
            tag.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Tag columns", responses=OpenApiTypes.OBJECT)
    def columns(self, request: Request) -> Response:
        """The tag's columns and their SQL types, as the original listed them."""
        return Response(TAG_SCHEMA)


class TagAgentViewSet(viewsets.GenericViewSet):
    """``/tags/<name or id>/agents/``: the agents carrying a tag."""

    queryset = Tag.objects.all()
    serializer_class = TaggedAgentSerializer

    @extend_schema(
        summary="List a tag's agents", responses=TaggedAgentSerializer(many=True)
    )
    def list(self, request: Request, tagname: str) -> Response:
        """The agents carrying the tag."""
        agents = get_tag(tagname).agents.only("id", "hostname")
        return Response(TaggedAgentSerializer(agents, many=True).data)

    @extend_schema(
        summary="Tag an agent",
        request=TagAgentSerializer,
        responses={201: TaggedAgentLinkSerializer, 200: TaggedAgentLinkSerializer},
    )
    def create(self, request: Request, tagname: str) -> Response:
        """Put the tag on an agent: 201, or 200 when it already had it."""
        tag = get_tag(tagname)
        serializer = TagAgentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent_id = serializer.validated_data["agent_id"]
        agent = Agent.objects.filter(pk=agent_id).first()
        if agent is None:
            raise NotFound(f"agent {agent_id} does not exist")
        created = tag_agent(tag=tag, agent=agent)
        return Response(
            TaggedAgentLinkSerializer(agent).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
