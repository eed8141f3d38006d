"""Serializers of the job group endpoints."""

from __future__ import annotations

from rest_framework import serializers

from farm.api.fields import USERNAME, LegacyChoiceField, StrictCharField
from farm.api.serializers.base import StrictSerializerMixin
from farm.choices import WorkState
from farm.models import Job, JobGroup


class JobGroupSerializer(serializers.ModelSerializer[JobGroup]):
    """A group in the list: owner and main job type by name."""

    user = serializers.CharField(
        source="user.username", read_only=True, allow_null=True
    )
    main_jobtype = serializers.CharField(source="main_jobtype.name", read_only=True)

    class Meta:
        model = JobGroup
        fields = ["id", "user", "main_jobtype", "title"]
        read_only_fields = fields


class JobGroupDetailSerializer(JobGroupSerializer):
    """One group, with the ids of its jobs."""

    jobs: serializers.PrimaryKeyRelatedField[Job] = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True
    )

    class Meta(JobGroupSerializer.Meta):
        fields = ["id", "user", "main_jobtype", "jobs", "title"]
        read_only_fields = fields


class JobGroupCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    """A new group: a title, a job type name and (optionally) a user name."""

    title = StrictCharField(max_length="max_jobgroup_name_length")
    main_jobtype = StrictCharField(max_length="job_type_max_name_length")
    user = StrictCharField(
        required=False,
        allow_null=True,
        max_length="max_username_length",
        validators=[USERNAME],
    )


class JobGroupUpdateSerializer(StrictSerializerMixin, serializers.Serializer):
    """Changes to a group; columns left out stay as they are."""

    title = StrictCharField(required=False, max_length="max_jobgroup_name_length")
    main_jobtype = StrictCharField(
        required=False, max_length="job_type_max_name_length"
    )
    user = StrictCharField(
        required=False,
        allow_null=True,
        max_length="max_username_length",
        validators=[USERNAME],
    )


class JobGroupJobSerializer(serializers.ModelSerializer[Job]):
    """A job of a group with its task counts (`services.queues.jobgroup_jobs`)."""

    state = LegacyChoiceField(WorkState, read_only=True)
    jobtype_id = serializers.IntegerField(
        source="jobtype_version.jobtype_id", read_only=True
    )
    jobtype = serializers.CharField(
        source="jobtype_version.jobtype.name", read_only=True
    )
    tasks_queued = serializers.IntegerField(read_only=True)
    tasks_running = serializers.IntegerField(read_only=True)
    tasks_done = serializers.IntegerField(read_only=True)
    tasks_failed = serializers.IntegerField(read_only=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "title",
            "state",
            "jobtype_id",
            "jobtype",
            "tasks_queued",
            "tasks_running",
            "tasks_done",
            "tasks_failed",
        ]
        read_only_fields = fields
