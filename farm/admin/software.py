"""Admin of software and its versions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from farm.admin.base import FarmModelAdmin
from farm.models import Software, SoftwareVersion
from farm.services.software import set_default_software_version


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
    actions = ("make_default",)

    @admin.action(
        description="Make the selected versions their software's default",
        permissions=["change"],
    )
    def make_default(
        self, request: HttpRequest, queryset: QuerySet[SoftwareVersion]
    ) -> None:
        """Each selected version becomes the only default of its software."""
        versions = list(queryset.select_related("software"))
        names = [version.software.software for version in versions]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            self.message_user(
                request,
                f"A software has one default: pick one version of {', '.join(twice)}.",
                messages.ERROR,
            )
            return
        for version in versions:
            set_default_software_version(version=version)
        self.report(
            request,
            len(versions),
            "Made %(count)d version the default.",
            "Made %(count)d versions the default.",
            nothing="No version was selected.",
        )
