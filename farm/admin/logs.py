"""Admin of task logs and their links to the tasks' attempts."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from farm.admin.base import LargeTableAdmin
from farm.models import TaskLog, TaskTaskLogAssociation


class TaskLogTaskInline(admin.TabularInline):
    """The task attempts that wrote to a log (the tasks of one batch).

    The links between tasks and logs are edited here only: they are not on
    the admin's index. Tasks are picked by id (a raw-id field: a select
    would list every task of the farm).
    """

    model = TaskTaskLogAssociation
    fields = ("task", "attempt", "state")
    raw_id_fields = ("task",)
    extra = 0
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
