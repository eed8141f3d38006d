"""Admin of jobs, their groups, requirements and notified users."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from farm.admin.base import FarmModelAdmin, count_of
from farm.admin.job_actions import JOB_SETTINGS_ACTIONS
from farm.admin.tasks import TaskInline, task_changelist_url
from farm.choices import WorkState
from farm.models import (
    Job,
    JobGroup,
    JobNotifiedUser,
    JobSoftwareRequirement,
    JobTagRequirement,
    Task,
)
from farm.models.jobs import JobQuerySet
from farm.services import (
    alter_frame_range,
    mark_jobs_for_deletion,
    pause_jobs,
    rerun_jobs,
    unpause_jobs,
)
from farm.services.job_upgrades import upgrade_jobs_to_latest_jobtype_version
from farm.validators import job_size_error

# Changing these fields changes which tasks the job has.
_RANGE_FIELDS = frozenset({"start", "end", "by", "num_tiles"})


# The requirement and notified-user rows are edited in the job's page only (as
# inlines): they are not on the admin's index.


class JobTagRequirementInline(admin.TabularInline):
    """Tags an agent must have (or must not have) to run the job."""

    model = JobTagRequirement
    extra = 0
    autocomplete_fields = ("tag",)


class JobSoftwareRequirementInline(admin.TabularInline):
    """Software an agent must have to run the job."""

    model = JobSoftwareRequirement
    extra = 0
    autocomplete_fields = ("software", "min_version", "max_version")


class JobNotifiedUserInline(admin.TabularInline):
    """Users told by email when the job ends or is deleted."""

    model = JobNotifiedUser
    extra = 0
    autocomplete_fields = ("user",)


class OptionalJSONField(forms.JSONField):
    """A JSON column that may be null: empty in the form, not the text ``null``."""

    def prepare_value(self, value: Any) -> Any:
        """Nothing to show for a null value (an empty field saves null again)."""
        if value is None:
            return ""
        return super().prepare_value(value)


class JobAdminForm(forms.ModelForm):
    """Refuses frame ranges of more tasks than a job may have (`create_job` would).

    No ``Meta``: the admin builds the form for `Job` from its fieldsets.
    """

    def clean(self) -> dict[str, Any]:
        """Check the job's size (frames x tiles) when its range is new or changed."""
        super().clean()
        cleaned = self.cleaned_data
        if self.instance.pk and not _RANGE_FIELDS & set(self.changed_data):
            return cleaned
        start, end, by = (cleaned.get(name) for name in ("start", "end", "by"))
        num_tiles = cleaned.get("num_tiles", self.instance.num_tiles)
        if size := job_size_error(start, end, by, num_tiles):
            raise ValidationError(f"The job is too large: {size[1]}.")
        return cleaned


@admin.register(Job)
class JobAdmin(FarmModelAdmin):
    """Submitted jobs with their task progress and the bulk state changes.

    The state is derived from the tasks, so it is read-only here; the pause,
    rerun and deletion actions call the farm's services. A job added here gets
    its tasks, and changing its frame range adds or removes tasks. Jobs are not
    deleted from the admin: deleting one would load and list each of its tasks.
    "Mark for deletion" hands them to the deletion task instead. The queue,
    priority and weight, tag and tag requirement actions ask for their value
    on a page of their own first (`farm.admin.job_actions`).
    """

    form = JobAdminForm
    # Django 6's default; explicit so that Django 5 does not warn.
    formfield_overrides = {
        models.URLField: {"assume_scheme": "https"},
        models.JSONField: {"form_class": OptionalJSONField},
    }
    list_display = (
        "title",
        "state",
        "progress",
        "priority",
        "jobtype_version",
        "queue",
        "user",
        "time_submitted",
        "time_finished",
        "to_be_deleted",
    )
    list_filter = (
        "state",
        "hidden",
        "to_be_deleted",
        "queue",
        "jobtype_version__jobtype",
    )
    search_fields = ("title", "user__username", "jobtype_version__jobtype__name")
    id_search_fields = ("pk",)
    list_select_related = ("jobtype_version__jobtype", "queue", "user")
    readonly_fields = (
        "state",
        "task_summary",
        "time_submitted",
        "time_started",
        "time_finished",
        "completion_notify_sent",
    )
    autocomplete_fields = (
        "jobtype_version",
        "queue",
        "group",
        "user",
        "parents",
        "tags",
    )
    inlines = (
        JobTagRequirementInline,
        JobSoftwareRequirementInline,
        JobNotifiedUserInline,
        TaskInline,
    )
    actions = (
        "pause",
        "unpause",
        "rerun",
        "rerun_failed",
        "mark_for_deletion",
        "upgrade_to_latest_jobtype_version",
        *JOB_SETTINGS_ACTIONS,
    )
    save_changed_fields_only = True
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "title",
                    "jobtype_version",
                    "state",
                    "task_summary",
                    "queue",
                    "group",
                    "user",
                    "notes",
                )
            },
        ),
        ("Frames", {"fields": ("start", "end", "by", "batch", "num_tiles")}),
        (
            "Scheduling",
            {
                "fields": (
                    "priority",
                    "weight",
                    "minimum_agents",
                    "maximum_agents",
                    "requeue",
                    "cpus",
                    "ram",
                    "ram_warning",
                    "ram_max",
                    "parents",
                    "tags",
                )
            },
        ),
        (
            "Life cycle",
            {
                "fields": (
                    "hidden",
                    "to_be_deleted",
                    "autodelete_time",
                    "completion_notify_sent",
                    "time_submitted",
                    "time_started",
                    "time_finished",
                )
            },
        ),
        ("Data", {"fields": ("output_link", "data", "environ")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        """Jobs with their task counts per state, in the same query (`count_of`)."""
        tasks = Task.objects.all()
        return (
            super()
            .get_queryset(request)
            .annotate(
                tasks_total=count_of(tasks, pointing_at="job"),
                tasks_done=count_of(
                    tasks.filter(state=WorkState.DONE), pointing_at="job"
                ),
                tasks_failed=count_of(
                    tasks.filter(state=WorkState.FAILED), pointing_at="job"
                ),
                tasks_running=count_of(
                    tasks.filter(state=WorkState.RUNNING), pointing_at="job"
                ),
            )
        )

    def get_inlines(self, request: HttpRequest, obj: Job | None) -> list[type[Any]]:
        """No task table on the add page: the tasks come with the saved job."""
        if obj is None:
            return [inline for inline in self.inlines if inline is not TaskInline]
        return list(self.inlines)

    def has_delete_permission(
        self, request: HttpRequest, obj: Job | None = None
    ) -> bool:
        """Jobs are marked for deletion instead (see the class docstring)."""
        return False

    def has_mark_for_deletion_permission(self, request: HttpRequest) -> bool:
        """Marking for deletion is this admin's delete: Django's delete right."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.delete_{opts.model_name}")

    def save_model(
        self, request: HttpRequest, obj: Job, form: forms.ModelForm, change: bool
    ) -> None:
        """Save the job, then create or delete tasks to match its frame range."""
        super().save_model(request, obj, form, change)
        if not change or _RANGE_FIELDS & set(form.changed_data):
            alter_frame_range(job=obj, start=obj.start, end=obj.end, by=obj.by)

    @admin.display(description="tasks done", ordering="tasks_done")
    def progress(self, job: Job) -> str:
        """Done tasks of all tasks, with running and failed in the tooltip."""
        return format_html(
            '<span title="{} running, {} failed">{}/{}</span>',
            job.tasks_running,  # type: ignore[attr-defined]
            job.tasks_failed,  # type: ignore[attr-defined]
            job.tasks_done,  # type: ignore[attr-defined]
            job.tasks_total,  # type: ignore[attr-defined]
        )

    @admin.display(description="tasks")
    def task_summary(self, job: Job) -> str:
        """Task counts and a link to the list of all the job's tasks."""
        total = getattr(job, "tasks_total", None)
        if job.pk is None or total is None:
            return "-"
        return format_html(
            '{} done, {} running, {} failed. <a href="{}">View all {} tasks</a>.',
            job.tasks_done,  # type: ignore[attr-defined]
            job.tasks_running,  # type: ignore[attr-defined]
            job.tasks_failed,  # type: ignore[attr-defined]
            task_changelist_url(job),
            total,
        )

    @admin.action(description="Pause selected jobs", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: JobQuerySet) -> None:
        """Pause queued and running jobs."""
        count = pause_jobs(jobs=queryset)
        self.report(
            request,
            count,
            "Paused %(count)d job.",
            "Paused %(count)d jobs.",
            nothing="No job was paused: only queued or running jobs can be.",
        )

    @admin.action(description="Unpause selected jobs", permissions=["change"])
    def unpause(self, request: HttpRequest, queryset: JobQuerySet) -> None:
        """Resume paused jobs."""
        count = unpause_jobs(jobs=queryset)
        self.report(
            request,
            count,
            "Unpaused %(count)d job.",
            "Unpaused %(count)d jobs.",
            nothing="No job was unpaused: none of them was paused.",
        )

    @admin.action(
        description="Rerun all tasks of selected jobs", permissions=["change"]
    )
    def rerun(self, request: HttpRequest, queryset: JobQuerySet) -> None:
        """Queue every task of the jobs again, except the running ones."""
        count = rerun_jobs(jobs=queryset)
        self.report(
            request,
            count,
            "Queued %(count)d task again (tasks of dependent jobs included).",
            "Queued %(count)d tasks again (tasks of dependent jobs included).",
            nothing="No task was queued again: they are all running.",
        )

    @admin.action(
        description="Rerun failed tasks of selected jobs", permissions=["change"]
    )
    def rerun_failed(self, request: HttpRequest, queryset: JobQuerySet) -> None:
        """Queue the failed tasks of the jobs again."""
        count = rerun_jobs(jobs=queryset, failed_only=True)
        self.report(
            request,
            count,
            "Queued %(count)d failed task again (tasks of dependent jobs included).",
            "Queued %(count)d failed tasks again (tasks of dependent jobs included).",
            nothing="No task was queued again: none of them had failed.",
        )

    @admin.action(
        description="Mark selected jobs for deletion",
        permissions=["mark_for_deletion"],
    )
    def mark_for_deletion(self, request: HttpRequest, queryset: JobQuerySet) -> None:
        """Hand the jobs to the deletion task."""
        count = mark_jobs_for_deletion(jobs=queryset)
        self.report(
            request,
            count,
            "Marked %(count)d job for deletion.",
            "Marked %(count)d jobs for deletion.",
            nothing="No job was marked: they all were already.",
        )

    @admin.action(
        description="Upgrade to the latest job type version", permissions=["change"]
    )
    def upgrade_to_latest_jobtype_version(
        self, request: HttpRequest, queryset: JobQuerySet
    ) -> None:
        """Move the jobs to the latest version of their job types."""
        count = upgrade_jobs_to_latest_jobtype_version(jobs=queryset)
        self.report(
            request,
            count,
            "Upgraded %(count)d job to its job type's latest version.",
            "Upgraded %(count)d jobs to their job types' latest versions.",
            nothing="No job was upgraded: they all run the latest version.",
        )


@admin.register(JobGroup)
class JobGroupAdmin(FarmModelAdmin):
    """Groups of related jobs, such as the passes of one shot."""

    list_display = ("title", "main_jobtype", "user")
    list_filter = ("main_jobtype",)
    search_fields = ("title", "user__username")
    id_search_fields = ("pk",)
    list_select_related = ("main_jobtype", "user")
    autocomplete_fields = ("main_jobtype", "user")
