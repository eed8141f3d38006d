"""Admin of tasks, the largest table of the farm, and the tasks under a job."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse

from farm.admin.base import LargeTableAdmin, ReadOnlyTabularInline
from farm.models import Job, Task, TaskTaskLogAssociation
from farm.models.tasks import TaskQuerySet
from farm.services import rerun_tasks, task_events

# Tasks listed on a job's page; the rest are one link away, in the task list.
TASK_INLINE_LIMIT = 50


def task_changelist_url(job: Job) -> str:
    """The task list filtered to the tasks of ``job``."""
    query = urlencode({"job__id__exact": job.pk})
    return f"{reverse('admin:farm_task_changelist')}?{query}"


class BoundedTaskFormSet(BaseInlineFormSet):
    """The first `TASK_INLINE_LIMIT` tasks of a job, not all 100,000 of them.

    Inlines have no pagination, so the queryset is sliced once and cached: the
    forms and the rows of the table are built from the same bounded list.
    """

    def get_queryset(self) -> QuerySet[Task]:
        """The job's tasks in frame order, at most `TASK_INLINE_LIMIT`."""
        if not hasattr(self, "_bounded_queryset"):
            self._bounded_queryset = super().get_queryset()[:TASK_INLINE_LIMIT]
        return self._bounded_queryset


class TaskInline(ReadOnlyTabularInline):
    """The first tasks of a job by frame, with a link to each."""

    model = Task
    formset = BoundedTaskFormSet
    fields = (
        "frame",
        "tile",
        "state",
        "agent",
        "attempts",
        "failures",
        "progress",
        "time_started",
        "time_finished",
    )
    verbose_name_plural = f"tasks (the first {TASK_INLINE_LIMIT} by frame)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Task]:
        """Tasks in frame order with their agent, for a query-free table."""
        return (
            super()
            .get_queryset(request)
            .select_related("agent")
            .order_by("frame", "tile", "pk")
        )


class TaskLogAssociationInline(ReadOnlyTabularInline):
    """The logs of a task's attempts."""

    model = TaskTaskLogAssociation
    fields = ("attempt", "state", "log")
    verbose_name_plural = "logs"

    def get_queryset(self, request: HttpRequest) -> QuerySet[TaskTaskLogAssociation]:
        """Attempts in order with their log, for a query-free table."""
        return super().get_queryset(request).select_related("log").order_by("attempt")


@admin.register(Task)
class TaskAdmin(LargeTableAdmin):
    """Tasks: one frame (and tile) of a job each.

    Everything the scheduler and the agents maintain (state, agent, attempts,
    progress, times) is read-only; the "rerun" action queues tasks again. A
    number in the search box finds a task by id and the tasks of a job by its
    id; text searches job titles.
    """

    list_display = (
        "id",
        "job",
        "frame",
        "tile",
        "state",
        "agent",
        "attempts",
        "failures",
        "progress_percent",
        "time_started",
        "time_finished",
    )
    list_display_links = ("id",)
    # Cheap filters only: FK filters would list every job or agent.
    list_filter = ("state", "hidden", "sent_to_agent")
    search_fields = ("job__title",)
    id_search_fields = ("pk", "job_id")
    list_select_related = ("job", "agent")
    # By column, not by the job's own ordering (which would join the jobs).
    ordering = ("job_id", "frame", "tile")
    readonly_fields = (
        "state",
        "agent",
        "attempts",
        "failures",
        "progress",
        "sent_to_agent",
        "last_error",
        "time_submitted",
        "time_started",
        "time_finished",
    )
    autocomplete_fields = ("job", "failed_in_agents")
    inlines = (TaskLogAssociationInline,)
    actions = ("rerun",)
    save_changed_fields_only = True
    fieldsets = (
        (None, {"fields": ("job", "frame", "tile", "priority", "hidden")}),
        (
            "Progress",
            {
                "fields": (
                    "state",
                    "agent",
                    "sent_to_agent",
                    "progress",
                    "attempts",
                    "failures",
                    "last_error",
                    "failed_in_agents",
                )
            },
        ),
        ("Times", {"fields": ("time_submitted", "time_started", "time_finished")}),
    )

    def save_model(
        self, request: HttpRequest, obj: Task, form: Any, change: bool
    ) -> None:
        """Save; a task added here counts as a ``new`` task event."""
        super().save_model(request, obj, form, change)
        if not change:
            task_events.record("new", job_id=obj.job_id)

    def delete_model(self, request: HttpRequest, obj: Task) -> None:
        """Delete; counts a ``deleted`` task event for the job's queue."""
        task_events.record("deleted", queue_id=obj.job.queue_id)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        """Delete; counts ``deleted`` task events per queue (one grouped query)."""
        task_events.record_per_queue("deleted", task_events.count_per_queue(queryset))
        super().delete_queryset(request, queryset)

    @admin.display(description="progress", ordering="progress")
    def progress_percent(self, task: Task) -> str:
        """Progress as a percentage."""
        return f"{task.progress:.0%}"

    @admin.action(description="Rerun selected tasks", permissions=["change"])
    def rerun(self, request: HttpRequest, queryset: TaskQuerySet) -> None:
        """Queue tasks again from scratch, except the running ones."""
        count = rerun_tasks(tasks=queryset)
        self.report(
            request,
            count,
            "Queued %(count)d task again.",
            "Queued %(count)d tasks again.",
            nothing="No task was queued again: running tasks are left alone.",
        )
