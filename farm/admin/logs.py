"""Admin of task logs and their links to the tasks' attempts."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from farm.admin.base import LargeTableAdmin, ReadOnlyTabularInline
from farm.models import TaskLog, TaskTaskLogAssociation


class TaskLogTaskInline(ReadOnlyTabularInline):
    """The task attempts that wrote to a log (the tasks of one batch)."""

    model = TaskTaskLogAssociation
    fields = ("task", "attempt", "state")
    verbose_name_plural = "tasks"

    def get_queryset(self, request: HttpRequest) -> QuerySet[TaskTaskLogAssociation]:
        """Attempts with their task, for a query-free table."""
        return super().get_queryset(request).select_related("task").order_by("pk")


@admin.register(TaskLog)
class TaskLogAdmin(LargeTableAdmin):
    """Log files the agents write, one per assignment of a batch of tasks.

    The agent names the log and the master records when; both are read-only.
    """

    list_display = ("identifier", "agent", "created_on")
    list_filter = ("created_on",)
    search_fields = ("identifier",)
    id_search_fields = ("pk",)
    list_select_related = ("agent",)
    readonly_fields = ("created_on",)
    autocomplete_fields = ("agent",)
    inlines = (TaskLogTaskInline,)


@admin.register(TaskTaskLogAssociation)
class TaskTaskLogAssociationAdmin(LargeTableAdmin):
    """Which log holds which attempt of which task, and the state it reached.

    A number in the search box finds the logs of that task id.
    """

    list_display = ("id", "task", "attempt", "state", "log")
    list_display_links = ("id",)
    list_filter = ("state",)
    search_fields = ("log__identifier",)
    id_search_fields = ("task_id",)
    list_select_related = ("task", "log")
    # By column: the default ordering would join tasks and jobs.
    ordering = ("-id",)
    autocomplete_fields = ("task", "log")
