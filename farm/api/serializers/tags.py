"""Serializers of the tags API.

Tags are shown with the agents and jobs that carry them, each with an
``href`` to its own API URL, as the original did.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from farm.api.fields import (
    ID_RANGE,
    StrictCharField,
    StrictIntegerField,
    StrictUUIDField,
)
from farm.api.serializers.base import StrictSerializerMixin
from farm.models import Agent, Job, Tag


def api_href(path: str) -> str:
    """The absolute path of an API resource, e.g. ``/api/v1/agents/<id>``."""
    return f"/{settings.API_PREFIX}{path}"


class TagSerializer(StrictSerializerMixin, serializers.Serializer):
    """A tag by itself: ``{"id", "tag"}`` (``POST /tags/`` in and out)."""

    id = serializers.IntegerField(read_only=True)
    tag = StrictCharField(max_length="max_tag_length")


class TaggedAgentSerializer(serializers.ModelSerializer):
    """An agent carrying a tag: its id, host name and API URL."""

    href = serializers.SerializerMethodField()

    class Meta:
        model = Agent
        fields = ["id", "hostname", "href"]
        read_only_fields = fields

    def get_href(self, agent: Agent) -> str:
        """``/api/v1/agents/<uuid>``."""
        return api_href(f"agents/{agent.pk}")


class TaggedJobSerializer(serializers.ModelSerializer):
    """A job carrying a tag: its id, title and API URL."""

    href = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["id", "title", "href"]
        read_only_fields = fields

    def get_href(self, job: Job) -> str:
        """``/api/v1/jobs/<id>``."""
        return api_href(f"jobs/{job.pk}")


class TagDetailSerializer(serializers.ModelSerializer):
    """A tag with its agents and jobs (``GET /tags/`` and ``/tags/<tag>``)."""

    agents = TaggedAgentSerializer(many=True, read_only=True)
    jobs = TaggedJobSerializer(many=True, read_only=True)

    class Meta:
        model = Tag
        fields = ["id", "tag", "agents", "jobs"]
        read_only_fields = fields


class TagReplacementSerializer(StrictSerializerMixin, serializers.Serializer):
    """``PUT /tags/<tag>``: the name (optional, must match the URL) and relations.

    ``agents`` are agent UUIDs and ``jobs`` job ids; omitted means none.
    """

    tag = StrictCharField(required=False, max_length="max_tag_length")
    agents = serializers.ListField(child=StrictUUIDField(), required=False)
    jobs = serializers.ListField(
        child=StrictIntegerField(bounds=ID_RANGE), required=False
    )


class TagAgentSerializer(StrictSerializerMixin, serializers.Serializer):
    """``{"agent_id": "<uuid>"}``: the agent to tag."""

    agent_id = StrictUUIDField()


class TaggedAgentLinkSerializer(TaggedAgentSerializer):
    """A newly tagged agent: ``{"id", "href"}``."""

    class Meta(TaggedAgentSerializer.Meta):
        fields = ["id", "href"]
        read_only_fields = fields
