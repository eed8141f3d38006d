"""Serializers of the jobs API: jobs, their tasks, notified users, failed agents.

Input serializers refuse unknown and read-only columns and wrong JSON types
(`StrictSerializerMixin` and the strict fields); output serializers render the
legacy field names of the original master.
"""

from __future__ import annotations

import datetime
import math
from decimal import Decimal
from typing import Any

from django.core.validators import RegexValidator, URLValidator
from django.utils import timezone
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from farm.api.fields import (
    ID_RANGE,
    POSITIVE_INTEGER_RANGE,
    USERNAME,
    LegacyChoiceField,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    StrictUUIDField,
    scheduling_fields,
)
from farm.api.serializers.base import StrictSerializerMixin
from farm.api.serializers.software import SOFTWARE_NAME_LENGTH, VERSION_LENGTH
from farm.choices import WorkState
from farm.models import Job, Task
from farm.services.references import (
    NotifiedUserSpec,
    SoftwareRequirementSpec,
    TagRequirementSpec,
)
from pyfarm_site.conf import farm_config

# The column -> SQL type map of GET /jobs/schema: every column of the
# original's Job model, with the job type version, owner and queue ids given
# as the names the API uses, and the frame range (including the original's
# inconsistent spacing in the NUMERIC types).
JOB_SCHEMA = {
    "autodelete_time": "INTEGER",
    "batch": "INTEGER",
    "by": "NUMERIC(10, 4)",
    "cpus": "INTEGER",
    "data": "JSONDict",
    "end": "NUMERIC(10,4)",
    "environ": "JSONDict",
    "hidden": "BOOLEAN",
    "completion_notify_sent": "BOOLEAN",
    "id": "INTEGER",
    "job_group_id": "INTEGER",
    "jobtype": "VARCHAR(64)",
    "jobtype_version": "INTEGER",
    "jobqueue": "VARCHAR(255)",
    "maximum_agents": "INTEGER",
    "minimum_agents": "INTEGER",
    "notes": "TEXT",
    "num_tiles": "INTEGER",
    "output_link": "TEXT",
    "priority": "INTEGER",
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
    "to_be_deleted": "BOOLEAN",
    "user": "VARCHAR(255)",
    "weight": "INTEGER",
}

# States an agent (or a user) may report for a task; paused is a job's state.
TASK_REPORT_STATES = (
    WorkState.QUEUED.value,
    WorkState.RUNNING.value,
    WorkState.DONE.value,
    WorkState.FAILED.value,
)
# States a job may be set to: paused, or resumed (queued or running).
JOB_CHANGE_STATES = (
    WorkState.QUEUED.value,
    WorkState.PAUSED.value,
    WorkState.RUNNING.value,
)
# Frames are NUMERIC(10, 4): four decimal places, below a million.
FRAME_QUANTUM = Decimal("0.0001")
FRAME_LIMIT = Decimal("999999.9999")


# --- fields ------------------------------------------------------------------


class FrameNumberField(serializers.Field):
    """A frame number: a JSON number (not a string or boolean), as a Decimal.

    Within the range of the NUMERIC(10, 4) columns; ``minimum`` is the lowest
    value accepted (a step ``by`` must be positive). More than four decimal
    places are refused by the model. Rendered as a JSON float (``2.0``), as
    the original did.
    """

    default_error_messages = {
        "invalid": "must be a number",
        "range": "must be between {low} and {high}",
    }

    def __init__(self, *, minimum: Decimal = -FRAME_LIMIT, **kwargs: Any) -> None:
        self.minimum = minimum
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        """Only finite JSON numbers, within the column's range once rounded."""
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, float) and not math.isfinite(data):
            self.fail("invalid")
        value = Decimal(str(data))
        if not self.minimum <= value <= FRAME_LIMIT:
            self.fail("range", low=self.minimum, high=FRAME_LIMIT)
        return value

    def to_representation(self, value: Decimal) -> float:
        """A float."""
        return float(value)


class FrameNumberFieldExtension(OpenApiSerializerFieldExtension):
    """A frame number in the schema: a number within the column's range."""

    target_class = FrameNumberField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> Any:
        """A double; in requests, with the accepted range and places."""
        schema: dict[str, Any] = {"type": "number", "format": "double"}
        if direction == "request":
            schema["minimum"] = float(self.target.minimum)
            schema["maximum"] = float(FRAME_LIMIT)
            schema["multipleOf"] = float(FRAME_QUANTUM)
        return schema


class JobResourceField(StrictIntegerField):
    """CPUs or RAM a job needs: 0 (none), -1 (the whole agent) or in the range.

    The range is the agents' (``agent_min_<key>`` to ``agent_max_<key>``).
    """

    def __init__(self, key: str, **kwargs: Any) -> None:
        self.key = key
        super().__init__(bounds=(-1, f"agent_max_{key}"), **kwargs)

    def to_internal_value(self, data: Any) -> int:
        """-1, 0, or a number in the agents' range."""
        value = super().to_internal_value(data)
        low = int(farm_config(f"agent_min_{self.key}"))
        if 0 < value < low:
            raise serializers.ValidationError(
                f"must be 0, -1 or between {low} and "
                f"{farm_config(f'agent_max_{self.key}')}"
            )
        return value


class JobResourceFieldExtension(OpenApiSerializerFieldExtension):
    """A job's CPUs or RAM: -1, 0 or the agents' range."""

    target_class = JobResourceField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> Any:
        """An integer: one of -1 and 0, or within the configured range."""
        key = self.target.key
        return {
            "type": "integer",
            "anyOf": [
                {"enum": [-1, 0]},
                {
                    "minimum": int(farm_config(f"agent_min_{key}")),
                    "maximum": int(farm_config(f"agent_max_{key}")),
                },
            ],
        }


class ProgressField(StrictFloatField):
    """A task's progress: a JSON number from 0.0 to 1.0."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=0.0, max_value=1.0, **kwargs)


@extend_schema_field({"type": "object", "additionalProperties": {}})
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

    tag = StrictCharField(max_length="max_tag_length")
    negate = StrictBooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> TagRequirementSpec:
        """The requirement, for the service."""
        return TagRequirementSpec(**attrs)


class SoftwareRequirementInputSerializer(StrictSerializerMixin, serializers.Serializer):
    """``{"software": "blender", "min_version": "2.79", "max_version": null}``."""

    software = StrictCharField(max_length=SOFTWARE_NAME_LENGTH)
    min_version = StrictCharField(
        required=False, allow_null=True, default=None, max_length=VERSION_LENGTH
    )
    max_version = StrictCharField(
        required=False, allow_null=True, default=None, max_length=VERSION_LENGTH
    )

    def validate(self, attrs: dict[str, Any]) -> SoftwareRequirementSpec:
        """The requirement, for the service."""
        return SoftwareRequirementSpec(**attrs)


class NotifiedUserInputSerializer(StrictSerializerMixin, serializers.Serializer):
    """``{"username": ..., "on_success": true, "on_failure": true, ...}``."""

    username = StrictCharField(max_length="max_username_length", validators=[USERNAME])
    on_success = StrictBooleanField(required=False)
    on_failure = StrictBooleanField(required=False)
    on_deletion = StrictBooleanField(required=False)


class _NotifiedUserSpecSerializer(NotifiedUserInputSerializer):
    def validate(self, attrs: dict[str, Any]) -> NotifiedUserSpec:
        return NotifiedUserSpec(**attrs)


class _JobColumnsSerializer(StrictSerializerMixin, serializers.Serializer):
    """The columns and relations users set on submission and change alike."""

    title = StrictCharField(required=False, max_length="jobtitle_max_length")
    priority, weight, minimum_agents, maximum_agents = scheduling_fields()
    start = FrameNumberField(required=False)
    end = FrameNumberField(required=False)
    by = FrameNumberField(required=False, minimum=FRAME_QUANTUM)
    batch = StrictIntegerField(required=False, bounds=(1, POSITIVE_INTEGER_RANGE[1]))
    requeue = StrictIntegerField(
        required=False,
        bounds=(-1, POSITIVE_INTEGER_RANGE[1]),
        help_text="Times a failed task is queued again: 0 never, -1 forever.",
    )
    cpus = JobResourceField("cpus", required=False)
    ram = JobResourceField("ram", required=False, help_text="MB")
    ram_warning = StrictIntegerField(
        required=False, allow_null=True, bounds=POSITIVE_INTEGER_RANGE
    )
    ram_max = StrictIntegerField(
        required=False, allow_null=True, bounds=POSITIVE_INTEGER_RANGE
    )
    hidden = StrictBooleanField(required=False)
    autodelete_time = StrictIntegerField(
        required=False, allow_null=True, bounds=POSITIVE_INTEGER_RANGE
    )
    output_link = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=Job._meta.get_field("output_link").max_length,
        validators=[URLValidator()],
    )
    data = JSONObjectField(required=False, allow_null=True)  # type: ignore[assignment]
    environ = JSONObjectField(required=False, allow_null=True)
    notes = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
    user = StrictCharField(
        required=False,
        allow_null=True,
        max_length="max_username_length",
        validators=[USERNAME],
    )
    jobqueue = StrictCharField(
        required=False, allow_null=True, max_length="max_queue_path_length"
    )
    job_group_id = StrictIntegerField(
        source="jobgroup_id", required=False, allow_null=True, bounds=ID_RANGE
    )
    parents = serializers.ListField(
        child=StrictIntegerField(bounds=ID_RANGE), required=False
    )
    tags = serializers.ListField(
        child=StrictCharField(max_length="max_tag_length"), required=False
    )
    tag_requirements = TagRequirementInputSerializer(many=True, required=False)
    software_requirements = SoftwareRequirementInputSerializer(
        many=True, required=False
    )


class JobSubmissionSerializer(_JobColumnsSerializer):
    """The body of ``POST /jobs/``: the job type and frame range are required."""

    jobtype = StrictCharField(max_length="job_type_max_name_length")
    jobtype_version = StrictIntegerField(
        required=False, allow_null=True, bounds=(1, POSITIVE_INTEGER_RANGE[1])
    )
    title = StrictCharField(max_length="jobtitle_max_length")
    start = FrameNumberField()
    end = FrameNumberField()
    num_tiles = StrictIntegerField(
        required=False, allow_null=True, bounds=(1, "max_tasks_per_job")
    )
    notified_users = _NotifiedUserSpecSerializer(many=True, required=False)


class JobUpdateSerializer(_JobColumnsSerializer):
    """The body of ``POST /jobs/<job>``: any of the changeable columns.

    ``state`` pauses ("paused") or resumes ("queued") the job; the job type,
    tiles, times and notified users (their own endpoint) cannot be changed.
    """

    state = LegacyChoiceField(WorkState, required=False, accepted=JOB_CHANGE_STATES)


class TaskUpdateSerializer(StrictSerializerMixin, serializers.Serializer):
    """The agent's task report: state, error, progress, agent, start time."""

    state = LegacyChoiceField(
        WorkState,
        required=False,
        allow_null=True,
        accepted=TASK_REPORT_STATES,
        error_messages={
            "not_accepted": "a task cannot be set to {value!r}; pause its job instead"
        },
    )
    last_error = StrictCharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    progress = ProgressField(required=False)
    agent_id = StrictUUIDField(required=False, allow_null=True)
    time_started = StrictCharField(
        required=False,
        validators=[RegexValidator(r"\Anow\Z", 'the only accepted value is "now"')],
    )
    priority = StrictIntegerField(
        required=False, bounds=("queue_min_priority", "queue_max_priority")
    )

    def validate_state(self, value: str | None) -> str:
        """A task is queued, running, done or failed (null means queued)."""
        return value or WorkState.QUEUED


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


class JobRefSerializer(serializers.Serializer):
    """``{"id", "title"}`` of a job (parents, children, a task's job)."""

    id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(read_only=True)


class TagRequirementSerializer(serializers.Serializer):
    """``{"tag", "negate"}``: a tag a job's agents must (or must not) have."""

    tag = serializers.CharField(read_only=True)
    negate = serializers.BooleanField(read_only=True)


class JobSoftwareRequirementSerializer(serializers.Serializer):
    """A software a job needs, with its version bounds by name and id."""

    software = serializers.CharField(read_only=True)
    software_id = serializers.IntegerField(read_only=True)
    min_version = serializers.CharField(read_only=True, allow_null=True)
    max_version = serializers.CharField(read_only=True, allow_null=True)
    min_version_id = serializers.IntegerField(read_only=True, allow_null=True)
    max_version_id = serializers.IntegerField(read_only=True, allow_null=True)


class _EmailOrNullField(serializers.CharField):
    """A user's email, null for a user without one (stored blank, not null)."""

    def to_representation(self, value: str) -> str | None:  # type: ignore[override]
        """The address, or None for a blank one."""
        return value or None


class NotifiedUserDetailSerializer(serializers.Serializer):
    """A user told about a job's end, and when: one `JobNotifiedUser` row.

    ``{"id", "username", "email", "on_success", "on_failure", "on_deletion"}``
    in ``/jobs/<job>/notified_users/`` and in a job's ``notified_users``.
    """

    id = serializers.IntegerField(source="user.id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    email = _EmailOrNullField(source="user.email", read_only=True, allow_null=True)
    on_success = serializers.BooleanField(read_only=True)
    on_failure = serializers.BooleanField(read_only=True)
    on_deletion = serializers.BooleanField(read_only=True)


class JobSerializer(serializers.Serializer):
    """A job with its relations, as the single-job endpoints return it.

    Every column of the job model, the ids of the job type version, queue and
    owner given as ``jobtype``/``jobtype_version``, ``jobqueue`` and ``user``
    (as the original did), the group as ``job_group_id`` and its title
    ``jobgroup``, the frame range, and the relations the original rendered.
    Needs `job_detail_queryset`'s joins and prefetches to run a fixed number
    of queries.
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
    job_group_id = serializers.IntegerField(
        source="group_id", read_only=True, allow_null=True
    )
    jobgroup = serializers.CharField(
        source="group.title", read_only=True, allow_null=True, default=None
    )
    user = serializers.SerializerMethodField()
    priority = serializers.IntegerField(read_only=True)
    weight = serializers.IntegerField(read_only=True)
    minimum_agents = serializers.IntegerField(read_only=True, allow_null=True)
    maximum_agents = serializers.IntegerField(read_only=True, allow_null=True)
    start = FrameNumberField(read_only=True)
    end = FrameNumberField(read_only=True)
    by = FrameNumberField(read_only=True)
    batch = serializers.IntegerField(read_only=True)
    num_tiles = serializers.IntegerField(read_only=True, allow_null=True)
    requeue = serializers.IntegerField(read_only=True)
    cpus = serializers.IntegerField(read_only=True)
    ram = serializers.IntegerField(read_only=True)
    ram_warning = serializers.IntegerField(read_only=True, allow_null=True)
    ram_max = serializers.IntegerField(read_only=True, allow_null=True)
    hidden = serializers.BooleanField(read_only=True)
    to_be_deleted = serializers.BooleanField(read_only=True)
    completion_notify_sent = serializers.BooleanField(read_only=True)
    autodelete_time = serializers.IntegerField(read_only=True, allow_null=True)
    output_link = serializers.CharField(read_only=True, allow_null=True)
    data = JSONObjectField(read_only=True, allow_null=True)  # type: ignore[assignment]
    environ = JSONObjectField(read_only=True, allow_null=True)
    notes = serializers.CharField(read_only=True)
    time_submitted = serializers.DateTimeField(read_only=True)
    time_started = serializers.DateTimeField(read_only=True, allow_null=True)
    time_finished = serializers.DateTimeField(read_only=True, allow_null=True)
    parents = serializers.SerializerMethodField()
    children = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    tag_requirements = serializers.SerializerMethodField()
    software_requirements = serializers.SerializerMethodField()
    notified_users = serializers.SerializerMethodField()

    def get_jobqueue(self, job: Job) -> str | None:
        """The queue's path ("root/child"), as the original gave it."""
        return job.queue.fullpath if job.queue is not None else None

    def get_user(self, job: Job) -> str | None:
        """The owner's username."""
        return job.user.username if job.user is not None else None

    @extend_schema_field(JobRefSerializer(many=True))
    def get_parents(self, job: Job) -> list[dict[str, Any]]:
        """The jobs this job waits for, as ``{"id", "title"}``."""
        return [_job_ref(parent) for parent in job.parents.all()]

    @extend_schema_field(JobRefSerializer(many=True))
    def get_children(self, job: Job) -> list[dict[str, Any]]:
        """The jobs waiting for this job, as ``{"id", "title"}``."""
        return [_job_ref(child) for child in job.children.all()]

    def get_tags(self, job: Job) -> list[str]:
        """The job's tag names."""
        return [tag.tag for tag in job.tags.all()]

    @extend_schema_field(TagRequirementSerializer(many=True))
    def get_tag_requirements(self, job: Job) -> list[dict[str, Any]]:
        """``[{"tag", "negate"}]``."""
        return [
            {"tag": requirement.tag.tag, "negate": requirement.negate}
            for requirement in job.tag_requirements.all()
        ]

    @extend_schema_field(JobSoftwareRequirementSerializer(many=True))
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

    @extend_schema_field(NotifiedUserDetailSerializer(many=True))
    def get_notified_users(self, job: Job) -> list[dict[str, Any]]:
        """The notified users, as `NotifiedUserDetailSerializer` renders them."""
        return [
            NotifiedUserDetailSerializer(notified).data
            for notified in job.notified_users.all()
        ]


class TaskListSerializer(serializers.Serializer):
    """One row of ``GET /jobs/<job>/tasks/``: every column of the task model.

    A job may have a million tasks: the list is streamed from plain rows
    (`farm.api.streaming`), with the keys and values of these fields.
    """

    id = serializers.IntegerField(read_only=True)
    job_id = serializers.IntegerField(read_only=True)
    agent_id = serializers.UUIDField(read_only=True, allow_null=True)
    frame = FrameNumberField(read_only=True)
    tile = serializers.IntegerField(read_only=True, allow_null=True)
    state = LegacyChoiceField(WorkState, read_only=True)
    priority = serializers.IntegerField(read_only=True)
    hidden = serializers.BooleanField(read_only=True)
    attempts = serializers.IntegerField(read_only=True)
    failures = serializers.IntegerField(read_only=True)
    progress = serializers.FloatField(read_only=True)
    sent_to_agent = serializers.BooleanField(read_only=True)
    last_error = serializers.CharField(read_only=True, allow_null=True)
    time_submitted = serializers.DateTimeField(read_only=True)
    time_started = serializers.DateTimeField(read_only=True, allow_null=True)
    time_finished = serializers.DateTimeField(read_only=True, allow_null=True)


class AgentBriefSerializer(serializers.Serializer):
    """``{"id", "hostname"}`` of an agent (failed_on_agents, a task's agent)."""

    id = serializers.UUIDField(read_only=True)
    hostname = serializers.CharField(read_only=True)


class TaskSerializer(TaskListSerializer):
    """A single task, with its job and agent (needs their joins).

    The original's ``parents``, ``children`` and ``project`` keys are gone
    with the columns they came from: tasks have no dependencies of their own.
    """

    job = serializers.SerializerMethodField()
    agent = serializers.SerializerMethodField()

    @extend_schema_field(JobRefSerializer)
    def get_job(self, task: Task) -> dict[str, Any]:
        """``{"id", "title"}`` of the task's job."""
        return _job_ref(task.job)

    @extend_schema_field(AgentBriefSerializer(allow_null=True))
    def get_agent(self, task: Task) -> dict[str, Any] | None:
        """``{"id", "hostname"}`` of the agent the task is assigned to."""
        return AgentBriefSerializer(task.agent).data if task.agent is not None else None


def _iso(value: datetime.datetime | None) -> str | None:
    """A time as ``serializers.DateTimeField`` writes it (ISO 8601, ``Z``)."""
    if value is None:
        return None
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def task_data(task: Task) -> dict[str, Any]:
    """`TaskSerializer`'s answer for ``task``, key for key, without building it.

    The answer to the agent's reports, its most frequent request; building a
    serializer's fields costs more than the rest of the answer. Needs the
    task's job and agent attached. The tests compare both for every kind of
    value.
    """
    agent = task.agent
    return {
        "id": task.pk,
        "job_id": task.job_id,
        "agent_id": None if task.agent_id is None else str(task.agent_id),
        "frame": float(task.frame),
        "tile": task.tile,
        "state": str(task.state),
        "priority": task.priority,
        "hidden": task.hidden,
        "attempts": task.attempts,
        "failures": task.failures,
        "progress": float(task.progress),
        "sent_to_agent": task.sent_to_agent,
        "last_error": task.last_error,
        "time_submitted": _iso(task.time_submitted),
        "time_started": _iso(task.time_started),
        "time_finished": _iso(task.time_finished),
        "job": _job_ref(task.job),
        "agent": None
        if agent is None
        else {"id": str(agent.pk), "hostname": agent.hostname},
    }


class NotifiedUserSerializer(serializers.Serializer):
    """``{"id", "username", "email"}`` of a user notified about a job.

    The answer to adding one, as the original documents it; lists carry the
    flags too (`NotifiedUserDetailSerializer`).
    """

    id = serializers.IntegerField(source="user.id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    email = _EmailOrNullField(source="user.email", read_only=True, allow_null=True)
