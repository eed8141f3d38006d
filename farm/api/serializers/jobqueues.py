"""Serializers of the job queue endpoints."""

from __future__ import annotations

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from farm.api.fields import (
    ID_RANGE,
    StrictCharField,
    StrictIntegerField,
    scheduling_fields,
)
from farm.api.serializers.base import StrictSerializerMixin
from farm.models import Job, JobQueue


class JobQueueSerializer(serializers.ModelSerializer[JobQueue]):
    """A queue in the list: its own columns, ``fullpath`` ("root/child") included."""

    parent_jobqueue_id = serializers.IntegerField(
        source="parent_id", read_only=True, allow_null=True
    )

    class Meta:
        model = JobQueue
        fields = [
            "id",
            "name",
            "fullpath",
            "priority",
            "weight",
            "minimum_agents",
            "maximum_agents",
            "parent_jobqueue_id",
        ]
        read_only_fields = fields


class JobQueueParentSerializer(serializers.ModelSerializer[JobQueue]):
    """The parent of a queue, as the original unpacked it."""

    class Meta:
        model = JobQueue
        fields = [
            "id",
            "name",
            "priority",
            "weight",
            "maximum_agents",
            "minimum_agents",
        ]
        read_only_fields = fields


class JobQueueDetailSerializer(JobQueueSerializer):
    """One queue, with its parent and the ids of its jobs and child queues."""

    parent = JobQueueParentSerializer(read_only=True, allow_null=True)
    jobs: serializers.PrimaryKeyRelatedField[Job] = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True
    )
    children = serializers.SerializerMethodField()

    class Meta(JobQueueSerializer.Meta):
        fields = [*JobQueueSerializer.Meta.fields, "parent", "jobs", "children"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_children(self, queue: JobQueue) -> list[int]:
        """The ids of the queues right below this one, ascending (one query)."""
        return list(queue.children.order_by("id").values_list("id", flat=True))


# A queue's name: not blank, no "/" (it separates the names of a queue path).
QUEUE_NAME = RegexValidator(
    r"\A[^/\x00]*[^\s/\x00][^/\x00]*\Z", "must not be blank nor contain '/'"
)


class JobQueueWriteSerializer(StrictSerializerMixin, serializers.Serializer):
    """A new queue (``name`` required) or changes to one (``partial=True``)."""

    name = StrictCharField(
        trim_whitespace=False,
        max_length="max_queue_name_length",
        validators=[QUEUE_NAME],
    )
    parent_jobqueue_id = StrictIntegerField(
        required=False, allow_null=True, bounds=ID_RANGE
    )
    priority, weight, minimum_agents, maximum_agents = scheduling_fields()
