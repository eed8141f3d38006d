"""Admin of software and its versions."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from farm.admin.base import FarmModelAdmin
from farm.models import Software, SoftwareVersion


class SoftwareVersionInline(admin.TabularInline):
    """The versions of a software, by rank."""

    model = SoftwareVersion
    extra = 0
    show_change_link = True
    fields = ("version", "rank", "default", "discovery_function_name")


@admin.register(Software)
class SoftwareAdmin(FarmModelAdmin):
    """Software that agents provide and jobs may require."""

    list_display = ("software", "version_count")
    # One column: there is nothing to filter by.
    list_filter = ()
    search_fields = ("software",)
    list_select_related = ()
    # Explicit: Meta.ordering does not apply to the annotated (grouped) query.
    ordering = ("software",)
    inlines = (SoftwareVersionInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Software]:
        """Software with its number of versions."""
        return super().get_queryset(request).annotate(versions_count=Count("versions"))

    @admin.display(description="versions", ordering="versions_count")
    def version_count(self, software: Software) -> int:
        """How many versions the software has (annotated by `get_queryset`)."""
        return software.versions_count  # type: ignore[attr-defined]


@admin.register(SoftwareVersion)
class SoftwareVersionAdmin(FarmModelAdmin):
    """Versions of software, ranked so that requirements can give bounds."""

    list_display = ("__str__", "software", "version", "rank", "default")
    list_filter = ("software", "default")
    search_fields = ("software__software", "version")
    list_select_related = ("software",)
    autocomplete_fields = ("software",)
