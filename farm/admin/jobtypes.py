"""Admin of job types, their versions and the versions' software requirements."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Max, QuerySet
from django.http import HttpRequest

from farm.admin.base import FarmModelAdmin
from farm.models import JobType, JobTypeSoftwareRequirement, JobTypeVersion


class JobTypeVersionInline(admin.StackedInline):
    """The versions of a job type, newest first."""

    model = JobTypeVersion
    extra = 0
    show_change_link = True
    fields = (
        "version",
        "classname",
        "max_batch",
        "batch_contiguous",
        "no_automatic_start_time",
        "supports_tiling",
        "code",
    )


class JobTypeSoftwareRequirementInline(admin.TabularInline):
    """Software an agent must have to run a job type version.

    Edited in the version's page only: the rows are not on the admin's index.
    """

    model = JobTypeSoftwareRequirement
    extra = 0
    autocomplete_fields = ("software", "min_version", "max_version")


@admin.register(JobType)
class JobTypeAdmin(FarmModelAdmin):
    """Kinds of work with their notification texts; the code is in versions."""

    list_display = ("name", "latest_version", "description")
    # Job types differ only by name: there is nothing to filter by.
    list_filter = ()
    search_fields = ("name", "description")
    list_select_related = ()
    # Explicit: Meta.ordering does not apply to the annotated (grouped) query.
    ordering = ("name",)
    inlines = (JobTypeVersionInline,)
    fieldsets = (
        (None, {"fields": ("name", "description")}),
        (
            "Notifications",
            {
                "fields": (
                    "success_subject",
                    "success_body",
                    "fail_subject",
                    "fail_body",
                )
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[JobType]:
        """Job types with their latest version number."""
        return super().get_queryset(request).annotate(latest=Max("versions__version"))

    @admin.display(description="latest version", ordering="latest")
    def latest_version(self, jobtype: JobType) -> int | None:
        """The highest version number (annotated by `get_queryset`)."""
        return jobtype.latest  # type: ignore[attr-defined]


@admin.register(JobTypeVersion)
class JobTypeVersionAdmin(FarmModelAdmin):
    """Versions of job types' code; jobs keep the version they were submitted with."""

    list_display = (
        "__str__",
        "jobtype",
        "version",
        "classname",
        "max_batch",
        "batch_contiguous",
    )
    list_filter = (
        "jobtype",
        "batch_contiguous",
        "no_automatic_start_time",
        "supports_tiling",
    )
    search_fields = ("jobtype__name", "classname")
    list_select_related = ("jobtype",)
    autocomplete_fields = ("jobtype",)
    inlines = (JobTypeSoftwareRequirementInline,)
