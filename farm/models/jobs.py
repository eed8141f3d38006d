"""Jobs: the work users submit, split into tasks, plus groups and requirements."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from farm.choices import ACTIVE_WORK_STATES, TERMINAL_WORK_STATES, WorkState
from farm.models.jobtypes import SoftwareRequirementBase
from farm.validators import job_size_error, length_error, parse_id, priority_error
from pyfarm_site.conf import (
    default_job_batch,
    default_job_cpus,
    default_job_ram,
    default_job_requeue,
    default_job_weight,
    farm_config,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "Job",
    "JobGroup",
    "JobNotifiedUser",
    "JobSoftwareRequirement",
    "JobTagRequirement",
]


class JobGroup(models.Model):
    """Groups related jobs (e.g. the passes of one shot) for display."""

    title = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobgroups",
    )
    main_jobtype = models.ForeignKey(
        "farm.JobType",
        on_delete=models.PROTECT,
        related_name="jobgroups",
        help_text="Job type of the group's main job, for display and filtering.",
    )

    class Meta:
        db_table = "job_groups"
        ordering = ["title", "id"]
        verbose_name = "job group"

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        """Enforce ``max_jobgroup_name_length``."""
        if error := length_error("max_jobgroup_name_length", self.title):
            raise ValidationError({"title": error})


class JobQuerySet(models.QuerySet["Job"]):
    """Filters and bulk state changes over jobs.

    The state changes are conditional single UPDATEs, so that they are safe
    to run from several processes at once and cost the same for one job or
    thousands.
    """

    def by_id_or_title(self, value: str) -> Job:
        """The job whose id (when ``value`` is a number) or else title is ``value``.

        The API's URLs take either (``/jobs/12``, ``/jobs/shot%20010``): a
        number is tried as an id first, then as a title. Raises
        ``Job.DoesNotExist`` when neither is found.
        """
        job = None
        pk = parse_id(value)
        if pk is not None:
            job = self.filter(pk=pk).first()
        if job is None:
            job = self.filter(title=value).first()
        if job is None:
            raise self.model.DoesNotExist(f"job {value!r} not found")
        return job

    def visible(self) -> JobQuerySet:
        """Jobs shown in lists: not hidden and not being deleted."""
        return self.filter(hidden=False, to_be_deleted=False)

    def pause(self) -> int:
        """Pause the jobs that are queued or running; returns how many changed."""
        return self.filter(state__in=ACTIVE_WORK_STATES).update(state=WorkState.PAUSED)

    def unpause(self) -> list[int]:
        """Set paused jobs back to queued; returns their ids.

        Callers refresh the jobs' states from their tasks afterwards
        (`farm.services.refresh_job_states`).
        """
        ids = list(self.filter(state=WorkState.PAUSED).values_list("pk", flat=True))
        self.filter(pk__in=ids, state=WorkState.PAUSED).update(state=WorkState.QUEUED)
        return ids

    def mark_for_deletion(self) -> int:
        """Flag the jobs for the deletion task; returns how many changed."""
        return self.filter(to_be_deleted=False).update(to_be_deleted=True)


class Job(models.Model):
    """A unit of submitted work: a frame range of one job type version.

    Its tasks are one per frame (and per tile with ``num_tiles``). The state
    is derived from the tasks (`farm.services.refresh_job_states`), except
    ``paused``, which only `pause` and `farm.services.unpause_jobs` set and
    leave:

    - queued -> running (a task started), running -> done/failed (every task
      ended; failed when one of them failed for good);
    - done/failed -> queued/running again after `farm.services.rerun_jobs` or
      a change of the frame range (`farm.services.alter_frame_range`);
    - queued/running <-> paused.

    The model holds the state and its guarded transitions; the workflows that
    span its tasks live in `farm.services` (no model imports a service).
    """

    jobtype_version = models.ForeignKey(
        "farm.JobTypeVersion", on_delete=models.PROTECT, related_name="jobs"
    )
    queue = models.ForeignKey(
        "farm.JobQueue",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="jobs",
        db_column="job_queue_id",
    )
    group = models.ForeignKey(
        JobGroup,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="jobs",
        db_column="job_group_id",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
    )
    title = models.CharField(max_length=255)
    state = models.CharField(
        max_length=16, choices=WorkState.choices, default=WorkState.QUEUED
    )
    priority = models.IntegerField(default=0)
    weight = models.PositiveIntegerField(default=default_job_weight)
    minimum_agents = models.PositiveIntegerField(null=True, blank=True)
    maximum_agents = models.PositiveIntegerField(null=True, blank=True)
    start = models.DecimalField(max_digits=10, decimal_places=4)
    end = models.DecimalField(max_digits=10, decimal_places=4)
    by = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal(1))
    batch = models.PositiveIntegerField(default=default_job_batch)
    requeue = models.IntegerField(
        default=default_job_requeue,
        help_text="How often a failed task is requeued: 0 never, -1 forever.",
    )
    cpus = models.IntegerField(
        default=default_job_cpus, help_text="0: none required, -1: the whole agent."
    )
    ram = models.IntegerField(
        default=default_job_ram, help_text="MB; 0: none required, -1: the whole agent."
    )
    ram_warning = models.PositiveIntegerField(null=True, blank=True)
    ram_max = models.PositiveIntegerField(null=True, blank=True)
    hidden = models.BooleanField(default=False)
    to_be_deleted = models.BooleanField(default=False)
    autodelete_time = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Delete the job this many seconds after it finished.",
    )
    num_tiles = models.PositiveIntegerField(null=True, blank=True)
    output_link = models.URLField(max_length=2048, null=True, blank=True)
    data = models.JSONField(null=True, blank=True)
    environ = models.JSONField(null=True, blank=True)
    notes = models.TextField(blank=True, default="")
    time_submitted = models.DateTimeField(auto_now_add=True)
    time_started = models.DateTimeField(null=True, blank=True)
    time_finished = models.DateTimeField(null=True, blank=True)
    completion_notify_sent = models.BooleanField(default=False)
    parents = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="children",
        db_table="job_dependencies",
    )
    tags = models.ManyToManyField(
        "farm.Tag", blank=True, related_name="jobs", db_table="job_tag_associations"
    )

    objects = JobQuerySet.as_manager()

    class Meta:
        db_table = "jobs"
        ordering = ["-priority", "time_submitted", "id"]
        verbose_name = "job"
        indexes = [
            # The planner's runnable jobs: by state within a queue, by priority.
            models.Index(fields=["state", "queue", "priority"], name="job_sched_idx"),
            # The dashboard's "my jobs" list, newest first, filtered by state.
            models.Index(
                fields=["user", "state", "-time_submitted"], name="job_user_state_idx"
            ),
            # The deletion task's scan for jobs flagged for deletion.
            models.Index(
                fields=["to_be_deleted"],
                condition=models.Q(to_be_deleted=True),
                name="job_to_be_deleted_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def jobtype(self) -> str:
        """Name of the job's job type."""
        return self.jobtype_version.jobtype.name

    def clean(self) -> None:
        """Validate the frame range and resources as models.yml describes."""
        errors: dict[str, str] = {}
        if error := length_error("jobtitle_max_length", self.title):
            errors["title"] = error
        elif not (self.title or "").strip():
            errors["title"] = "must not be blank"
        if error := priority_error(self.priority):
            errors["priority"] = error
        if self.by is not None and self.by <= 0:
            errors["by"] = "must be greater than 0"
        if self.start is not None and self.end is not None and self.end < self.start:
            errors["end"] = "must not be lower than start"
        if self.batch is not None and self.batch < 1:
            errors["batch"] = "must be at least 1"
        if self.requeue is not None and self.requeue < -1:
            errors["requeue"] = "must be -1 (forever), 0 (never) or more"
        if self.num_tiles is not None and self.num_tiles < 1:
            errors["num_tiles"] = "must be at least 1"
        if size := job_size_error(self.start, self.end, self.by, self.num_tiles):
            errors.setdefault(*size)
        for field, key in (("cpus", "cpus"), ("ram", "ram")):
            value = getattr(self, field)
            if value in (None, 0, -1):
                continue
            low = farm_config(f"agent_min_{key}")
            high = farm_config(f"agent_max_{key}")
            if not low <= value <= high:
                errors[field] = f"must be 0, -1 or between {low} and {high}"
        if (
            self.ram_warning is not None
            and self.ram_max is not None
            and self.ram_warning > self.ram_max
        ):
            errors["ram_warning"] = "must not be higher than ram_max"
        if (
            self.minimum_agents is not None
            and self.maximum_agents is not None
            and self.minimum_agents > self.maximum_agents
        ):
            errors["maximum_agents"] = "must not be lower than minimum_agents"
        if errors:
            raise ValidationError(errors)

    @property
    def is_finished(self) -> bool:
        """Whether every task ended (done or failed for good)."""
        return self.state in TERMINAL_WORK_STATES

    def pause(self) -> bool:
        """Pause the job: the scheduler gives it no new work."""
        changed = Job.objects.filter(pk=self.pk).pause()
        self.refresh_from_db(fields=["state"])
        return bool(changed)

    pause.alters_data = True  # type: ignore[attr-defined]

    def parent_ids(self) -> Iterable[int]:
        """Ids of the jobs this job waits for."""
        return self.parents.values_list("pk", flat=True)


class JobTagRequirement(models.Model):
    """A tag an agent must have (or, with ``negate``, must not have) for a job."""

    job = models.ForeignKey(
        Job, on_delete=models.CASCADE, related_name="tag_requirements"
    )
    tag = models.ForeignKey("farm.Tag", on_delete=models.CASCADE, related_name="+")
    negate = models.BooleanField(default=False)

    class Meta:
        db_table = "job_tag_requirements"
        ordering = ["job_id", "tag_id"]
        verbose_name = "job tag requirement"
        constraints = [
            models.UniqueConstraint(
                fields=["job", "tag"], name="unique_job_tag_requirement"
            )
        ]

    def __str__(self) -> str:
        return f"{'not ' if self.negate else ''}{self.tag}"


class JobSoftwareRequirement(SoftwareRequirementBase):
    """A software every agent running this job must have."""

    job = models.ForeignKey(
        Job, on_delete=models.CASCADE, related_name="software_requirements"
    )

    class Meta:
        db_table = "job_software_requirements"
        ordering = ["job_id", "software_id"]
        verbose_name = "job software requirement"
        constraints = [
            models.UniqueConstraint(
                fields=["job", "software"], name="unique_job_software_requirement"
            )
        ]


class JobNotifiedUser(models.Model):
    """A user told by email when a job succeeds, fails or is deleted."""

    job = models.ForeignKey(
        Job, on_delete=models.CASCADE, related_name="notified_users"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="subscribed_jobs",
    )
    on_success = models.BooleanField(default=True)
    on_failure = models.BooleanField(default=True)
    on_deletion = models.BooleanField(default=False)

    class Meta:
        db_table = "notified_users"
        ordering = ["job_id", "user_id"]
        verbose_name = "notified user"
        constraints = [
            models.UniqueConstraint(
                fields=["job", "user"], name="unique_job_notified_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.job}"
