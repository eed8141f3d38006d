"""Admin of the statistics the scheduler samples."""

from __future__ import annotations

from django.contrib import admin

from farm.admin.base import LargeTableAdmin
from farm.models import AgentCount, TaskCount, TaskEventCount


@admin.register(AgentCount)
class AgentCountAdmin(LargeTableAdmin):
    """Agents per state at each sample, newest first."""

    list_display = (
        "counted_time",
        "num_online",
        "num_running",
        "num_offline",
        "num_disabled",
    )
    list_filter = ("counted_time",)
    # Only numbers and times: nothing to search, the date filter narrows instead.
    search_fields = ()
    list_select_related = ()


@admin.register(TaskEventCount)
class TaskEventCountAdmin(LargeTableAdmin):
    """Task events per queue and period, newest first."""

    list_display = (
        "time_start",
        "time_end",
        "job_queue",
        "num_new",
        "num_deleted",
        "num_restarted",
        "num_started",
        "num_failed",
        "num_done",
    )
    list_filter = ("time_start",)
    search_fields = ("job_queue__fullpath",)
    list_select_related = ("job_queue",)
    autocomplete_fields = ("job_queue",)


@admin.register(TaskCount)
class TaskCountAdmin(LargeTableAdmin):
    """Tasks per queue and state at each sample, newest first."""

    list_display = (
        "counted_time",
        "job_queue",
        "total_queued",
        "total_running",
        "total_done",
        "total_failed",
    )
    list_filter = ("counted_time",)
    search_fields = ("job_queue__fullpath",)
    list_select_related = ("job_queue",)
    autocomplete_fields = ("job_queue",)
