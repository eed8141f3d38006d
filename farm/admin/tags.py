"""Admin of tags and path maps."""

from __future__ import annotations

from django.contrib import admin

from farm.admin.base import FarmModelAdmin
from farm.models import PathMap, Tag


@admin.register(Tag)
class TagAdmin(FarmModelAdmin):
    """Labels of agents and jobs; jobs may require or exclude agents by tag."""

    list_display = ("tag",)
    # One column: there is nothing to filter by.
    list_filter = ()
    search_fields = ("tag",)
    list_select_related = ()


@admin.register(PathMap)
class PathMapAdmin(FarmModelAdmin):
    """Path prefixes mapped across operating systems, for all or tagged agents."""

    list_display = ("path_linux", "path_windows", "path_osx", "tag")
    list_filter = ("tag",)
    search_fields = ("path_linux", "path_windows", "path_osx", "tag__tag")
    list_select_related = ("tag",)
    autocomplete_fields = ("tag",)
