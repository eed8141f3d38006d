"""Serializers of the jobs API: jobs, their tasks, notified users, failed agents.

Input serializers refuse unknown and read-only columns and wrong JSON types
(`StrictSerializerMixin` and the strict fields); output serializers render the
legacy field names of the original master.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from farm.api.fields import (
    LegacyChoiceField,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    StrictUUIDField,
)
from farm.api.serializers.base import StrictSerializerMixin
from farm.choices import WorkState
from farm.models import Job, Task
from farm.services.references import (
    NotifiedUserSpec,
    SoftwareRequirementSpec,
    TagRequirementSpec,
)

# The column -> SQL type map of GET /jobs/schema, as the original documents it
# (including its inconsistent spacing in the NUMERIC types).
JOB_SCHEMA = {
    "batch": "INTEGER",
    "by": "NUMERIC(10, 4)",
    "cpus": "INTEGER",
    "data": "JSONDict",
    "end": "NUMERIC(10,4)",
    "environ": "JSONDict",
    "hidden": "BOOLEAN",
    "id": "INTEGER",
    "jobtype": "VARCHAR(64)",
    "jobtype_version": "INTEGER",
    "jobqueue": "VARCHAR(255)",
    "notes": "TEXT",
    "priority": "INTEGER",
    "project_id": "INTEGER",
    "ram": "INTEGER",
    "ram_max": "INTEGER",
    "ram_warning": "INTEGER",
    "requeue": "INTEGER",
    "start": "NUMERIC(10,4)",
    "state": "WorkStateEnum",
    "time_finished": "DATETIME",
    "time_started": "DATETIME",
    "time_submitted": "DATETIME",
    "title": "VARCHAR(255)",
    "user": "VARCHAR(255)",
}

# States an agent (or a user) may report for a task; paused is a job's state.
TASK_REPORT_STATES = (
    WorkState.QUEUED,
    WorkState.RUNNING,
    WorkState.DONE,
    WorkState.FAILED,
)


# --- fields ------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.DOUBLE)
class FrameNumberField(serializers.Field):
    """A frame number: a JSON number (not a string or boolean), as a Decimal.

    Rendered as a JSON float (``2.0``), as the original did.
    """

    default_error_messages = {"invalid": "must be a number"}

    def to_internal_value(self, data: Any) -> Decimal:
        """Only finite JSON numbers."""
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, float) and not math.isfinite(data):
            self.fail("invalid")
        return Decimal(str(data))

    def to_representation(self, value: Decimal) -> float:
        """A float."""
        return float(value)


class ProgressField(StrictFloatField):
    """A task's progress: a JSON number from 0.0 to 1.0."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=0.0, max_value=1.0, **kwargs)


@extend_schema_field({"type": "integer", "nullable": True})
class AlwaysNullField(serializers.ReadOnlyField):
    """A legacy key that is always null (``project``: projects were dropped)."""

    def get_attribute(self, instance: Any) -> None:
        """Nothing to read."""


class JSONObjectField(serializers.JSONField):
    """A JSON object (``data``, ``environ``), or null."""

    def to_internal_value(self, data: Any) -> Any:
        """Refuse arrays, strings and numbers."""
        if not isinstance(data, dict):
            raise serializers.ValidationError("must be a JSON object")
        return super().to_internal_value(data)


# --- input -------------------------------------------------------------------


class TagRequirementInputSerializer(StrictSerializerMixin, serializers.Serializer):
    """``{"tag": "<name>", "negate": false}`` of a submission or change."""

    tag = StrictCharField()
    negate = StrictBooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> TagRequirementSpec:
        """The requirement, for the service."""
        return TagRequirementSpec(**attrs)


class SoftwareRequirementInputSerializer(StrictSerializerMixin, serializers.Serializer):
    """``{"software": "blender", "min_version": "2.79", "max_version": null}``."""

    software = StrictCharField()
    min_version = StrictCharField(required=False, allow_null=True, default=None)
    max_version = StrictCharField(required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> SoftwareRequirementSpec:
        """The requirement, for the service."""
        return SoftwareRequirementSpec(**attrs)


class NotifiedUserInputSerializer(StrictSerializerMixin, serializers.Serializer):
    """``{"username": ..., "on_success": true, "on_failure": true, ...}``."""

    username = StrictCharField()
    on_success = StrictBooleanField(required=False)
    on_failure = StrictBooleanField(required=False)
    on_deletion = StrictBooleanField(required=False)


class _NotifiedUserSpecSerializer(NotifiedUserInputSerializer):
    def validate(self, attrs: dict[str, Any]) -> NotifiedUserSpec:
        return NotifiedUserSpec(**attrs)


class _JobColumnsSerializer(StrictSerializerMixin, serializers.Serializer):
    """The columns and relations users set on submission and change alike."""

    title = StrictCharField(required=False)
    priority = StrictIntegerField(required=False)
    weight = StrictIntegerField(required=False)
    minimum_agents = StrictIntegerField(required=False, allow_null=True)
    maximum_agents = StrictIntegerField(required=False, allow_null=True)
    start = FrameNumberField(required=False)
    end = FrameNumberField(required=False)
    by = FrameNumberField(required=False)
    batch = StrictIntegerField(required=False)
    requeue = StrictIntegerField(required=False)
    cpus = StrictIntegerField(required=False)
    ram = StrictIntegerField(required=False)
    ram_warning = StrictIntegerField(required=False, allow_null=True)
    ram_max = StrictIntegerField(required=False, allow_null=True)
    hidden = StrictBooleanField(required=False)
    autodelete_time = StrictIntegerField(required=False, allow_null=True)
    output_link = StrictCharField(required=False, allow_null=True, allow_blank=True)
    data = JSONObjectField(required=False, allow_null=True)  # type: ignore[assignment]
    environ = JSONObjectField(required=False, allow_null=True)
    notes = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
    user = StrictCharField(required=False, allow_null=True)
    jobqueue = StrictCharField(required=False, allow_null=True)
    jobgroup_id = StrictIntegerField(required=False, allow_null=True)
    parents = serializers.ListField(child=StrictIntegerField(), required=False)
    tags = serializers.ListField(child=StrictCharField(), required=False)
    tag_requirements = TagRequirementInputSerializer(many=True, required=False)
    software_requirements = SoftwareRequirementInputSerializer(
        many=True, required=False
    )


class JobSubmissionSerializer(_JobColumnsSerializer):
    """The body of ``POST /jobs/``: the job type and frame range are required."""

    jobtype = StrictCharField()
    jobtype_version = StrictIntegerField(required=False, allow_null=True)
    title = StrictCharField()
    start = FrameNumberField()
    end = FrameNumberField()
    num_tiles = StrictIntegerField(required=False, allow_null=True)
    notified_users = _NotifiedUserSpecSerializer(many=True, required=False)


class JobUpdateSerializer(_JobColumnsSerializer):
    """The body of ``POST /jobs/<job>``: any of the changeable columns.

    ``state`` pauses ("paused") or resumes ("queued") the job; the job type,
    tiles, times and notified users (their own endpoint) cannot be changed.
    """

    state = LegacyChoiceField(WorkState, required=False)


class TaskUpdateSerializer(StrictSerializerMixin, serializers.Serializer):
    """The agent's task report: state, error, progress, agent, start time."""

    state = LegacyChoiceField(WorkState, required=False, allow_null=True)
    last_error = StrictCharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    progress = ProgressField(required=False)
    agent_id = StrictUUIDField(required=False, allow_null=True)
    time_started = StrictCharField(required=False)

    def validate_state(self, value: str | None) -> str:
        """A task is queued, running, done or failed (null means queued)."""
        state = value or WorkState.QUEUED
        if state not in TASK_REPORT_STATES:
            raise serializers.ValidationError(
                f"a task cannot be set to {state!r}; pause its job instead"
            )
        return state

    def validate_time_started(self, value: str) -> str:
        """Only "now", the agent's way of saying it started the task."""
        if value != "now":
            raise serializers.ValidationError('the only accepted value is "now"')
        return value


class AgentIdSerializer(StrictSerializerMixin, serializers.Serializer):
    """``{"id": "<agent uuid>"}`` of ``POST .../failed_on_agents/``."""

    id = StrictUUIDField()


# --- output ------------------------------------------------------------------


class JobListSerializer(serializers.Serializer):
    """One row of ``GET /jobs/``."""

    id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(read_only=True)
    state = LegacyChoiceField(WorkState, read_only=True)


def _job_ref(job: Job) -> dict[str, Any]:
    return {"id": job.pk, "title": job.title}


class JobSerializer(serializers.Serializer):
    """A job with its relations, as the single-job endpoints return it.

    Needs `job_detail_queryset`'s joins and prefetches to run a fixed number
    of queries. ``project`` and ``project_id`` are always null: projects were
    dropped from the original long ago but stayed in its answers.
    """

    id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(read_only=True)
    state = LegacyChoiceField(WorkState, read_only=True)
    jobtype = serializers.CharField(
        source="jobtype_version.jobtype.name", read_only=True
    )
    jobtype_version = serializers.IntegerField(
        source="jobtype_version.version", read_only=True
    )
    jobqueue = serializers.SerializerMethodField()
    jobgroup_id = serializers.IntegerField(source="group_id", read_only=True)
    user = serializers.SerializerMethodField()
    priority = serializers.IntegerField(read_only=True)
    weight = serializers.IntegerField(read_only=True)
    minimum_agents = serializers.IntegerField(read_only=True)
    maximum_agents = serializers.IntegerField(read_only=True)
    start = FrameNumberField(read_only=True)
    end = FrameNumberField(read_only=True)
    by = FrameNumberField(read_only=True)
    batch = serializers.IntegerField(read_only=True)
    num_tiles = serializers.IntegerField(read_only=True)
    requeue = serializers.IntegerField(read_only=True)
    cpus = serializers.IntegerField(read_only=True)
    ram = serializers.IntegerField(read_only=True)
    ram_warning = serializers.IntegerField(read_only=True)
    ram_max = serializers.IntegerField(read_only=True)
    hidden = serializers.BooleanField(read_only=True)
    to_be_deleted = serializers.BooleanField(read_only=True)
    autodelete_time = serializers.IntegerField(read_only=True)
    output_link = serializers.CharField(read_only=True)
    data = serializers.JSONField(read_only=True)  # type: ignore[assignment]
    environ = serializers.JSONField(read_only=True)
    notes = serializers.CharField(read_only=True)
    time_submitted = serializers.DateTimeField(read_only=True)
    time_started = serializers.DateTimeField(read_only=True)
    time_finished = serializers.DateTimeField(read_only=True)
    parents = serializers.SerializerMethodField()
    children = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    tag_requirements = serializers.SerializerMethodField()
    software_requirements = serializers.SerializerMethodField()
    notified_users = serializers.SerializerMethodField()
    tasks_failed = serializers.SerializerMethodField()
    project_id = AlwaysNullField()
    project = AlwaysNullField()

    def get_jobqueue(self, job: Job) -> str | None:
        """The queue's name."""
        return job.queue.name if job.queue is not None else None

    def get_user(self, job: Job) -> str | None:
        """The owner's username."""
        return job.user.username if job.user is not None else None

    def get_parents(self, job: Job) -> list[dict[str, Any]]:
        """The jobs this job waits for, as ``{"id", "title"}``."""
        return [_job_ref(parent) for parent in job.parents.all()]

    def get_children(self, job: Job) -> list[dict[str, Any]]:
        """The jobs waiting for this job, as ``{"id", "title"}``."""
        return [_job_ref(child) for child in job.children.all()]

    def get_tags(self, job: Job) -> list[str]:
        """The job's tag names."""
        return [tag.tag for tag in job.tags.all()]

    def get_tag_requirements(self, job: Job) -> list[dict[str, Any]]:
        """``[{"tag", "negate"}]``."""
        return [
            {"tag": requirement.tag.tag, "negate": requirement.negate}
            for requirement in job.tag_requirements.all()
        ]

    def get_software_requirements(self, job: Job) -> list[dict[str, Any]]:
        """``[{"software", "software_id", "min_version", "max_version", ...}]``."""
        return [
            {
                "software": requirement.software.software,
                "software_id": requirement.software_id,
                "min_version": (
                    requirement.min_version.version
                    if requirement.min_version is not None
                    else None
                ),
                "max_version": (
                    requirement.max_version.version
                    if requirement.max_version is not None
                    else None
                ),
                "min_version_id": requirement.min_version_id,
                "max_version_id": requirement.max_version_id,
            }
            for requirement in job.software_requirements.all()
        ]

    def get_notified_users(self, job: Job) -> list[dict[str, Any]]:
        """``[{"username", "email", "on_success", "on_failure", "on_deletion"}]``."""
        return [
            {
                "username": notified.user.username,
                "email": notified.user.email,
                "on_success": notified.on_success,
                "on_failure": notified.on_failure,
                "on_deletion": notified.on_deletion,
            }
            for notified in job.notified_users.all()
        ]

    def get_tasks_failed(self, job: Job) -> list[int]:
        """Ids of the job's failed tasks."""
        return [task.pk for task in getattr(job, "failed_tasks", [])]


class TaskListSerializer(serializers.Serializer):
    """One row of ``GET /jobs/<job>/tasks/``.

    A job may have a million tasks: the list is streamed from plain rows
    (`farm.api.streaming`), with the keys and values of these fields.
    """

    id = serializers.IntegerField(read_only=True)
    job_id = serializers.IntegerField(read_only=True)
    agent_id = serializers.UUIDField(read_only=True)
    frame = FrameNumberField(read_only=True)
    tile = serializers.IntegerField(read_only=True)
    state = LegacyChoiceField(WorkState, read_only=True)
    priority = serializers.IntegerField(read_only=True)
    hidden = serializers.BooleanField(read_only=True)
    attempts = serializers.IntegerField(read_only=True)
    failures = serializers.IntegerField(read_only=True)
    progress = serializers.FloatField(read_only=True)
    last_error = serializers.CharField(read_only=True)
    time_submitted = serializers.DateTimeField(read_only=True)
    time_started = serializers.DateTimeField(read_only=True)
    time_finished = serializers.DateTimeField(read_only=True)
    project_id = AlwaysNullField()


class TaskSerializer(TaskListSerializer):
    """A single task, with its job and agent (needs their joins)."""

    job = serializers.SerializerMethodField()
    agent = serializers.SerializerMethodField()
    parents = serializers.SerializerMethodField()
    children = serializers.SerializerMethodField()
    project = AlwaysNullField()

    def get_job(self, task: Task) -> dict[str, Any]:
        """``{"id", "title"}`` of the task's job."""
        return _job_ref(task.job)

    def get_agent(self, task: Task) -> dict[str, Any] | None:
        """``{"id", "hostname"}`` of the agent the task is assigned to."""
        return AgentBriefSerializer(task.agent).data if task.agent is not None else None

    def get_parents(self, task: Task) -> list[Any]:
        """Always empty: tasks have no dependencies of their own."""
        return []

    def get_children(self, task: Task) -> list[Any]:
        """Always empty: tasks have no dependencies of their own."""
        return []


class AgentBriefSerializer(serializers.Serializer):
    """``{"id", "hostname"}`` of an agent (failed_on_agents, a task's agent)."""

    id = serializers.UUIDField(read_only=True)
    hostname = serializers.CharField(read_only=True)


class NotifiedUserSerializer(serializers.Serializer):
    """``{"id", "username", "email"}`` of a user notified about a job."""

    id = serializers.IntegerField(source="user.id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.CharField(source="user.email", read_only=True)
