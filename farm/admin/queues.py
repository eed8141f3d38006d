"""Admin of the job queue tree."""

from __future__ import annotations

from django.contrib import admin

from farm.admin.base import FarmModelAdmin
from farm.models import JobQueue


@admin.register(JobQueue)
class JobQueueAdmin(FarmModelAdmin):
    """The queue tree dividing agents between groups of jobs.

    ``fullpath`` is derived from the parents on save, so it is read-only; the
    list is ordered by it, which shows the tree depth first.
    """

    list_display = (
        "fullpath",
        "priority",
        "weight",
        "minimum_agents",
        "maximum_agents",
    )
    # Queues are few: listing them as parents is cheap.
    list_filter = ("parent",)
    search_fields = ("fullpath",)
    # The stored full path replaces a join to the parent.
    list_select_related = ()
    readonly_fields = ("fullpath",)
    autocomplete_fields = ("parent",)
    fields = (
        "parent",
        "name",
        "fullpath",
        "priority",
        "weight",
        "minimum_agents",
        "maximum_agents",
    )
