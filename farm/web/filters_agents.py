"""The agents list's filters and sorting, all in the query string."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet

from farm.choices import AgentState
from farm.models import Agent, Software, Tag
from farm.web.widgets import QuickSelect

__all__ = ["AgentListFilterSet"]

#: Sortable columns: query-string name -> model field(s).
SORTS = {
    "hostname": "hostname",
    "state": "state",
    "address": "remote_ip",
    "cpus": "cpus",
    "ram": "ram",
    "free_ram": "free_ram",
    "last_heard_from": "last_heard_from",
    "version": "version",
}


class AgentListFilterSet(django_filters.FilterSet):
    """``/agents/?state=online&tag=gpu&software=blender&q=render&sort=-ram``.

    A value that does not fit (an unknown state or tag) is dropped with an
    error the page shows; the other filters still apply.
    """

    q = django_filters.CharFilter(method="search", label="Search")
    state = django_filters.ChoiceFilter(
        choices=AgentState.choices, label="State", empty_label="any"
    )
    tag = django_filters.ModelChoiceFilter(
        widget=QuickSelect,
        field_name="tags",
        to_field_name="tag",
        queryset=Tag.objects.order_by("tag"),
        label="Tag",
        empty_label="any",
    )
    software = django_filters.ModelChoiceFilter(
        widget=QuickSelect,
        method="with_software",
        to_field_name="software",
        queryset=Software.objects.order_by("software"),
        label="Software",
        empty_label="any",
    )
    sort = django_filters.OrderingFilter(fields=tuple(SORTS.items()), label="Sort by")

    class Meta:
        model = Agent
        fields = ["q", "state", "tag", "software"]

    def search(
        self, queryset: QuerySet[Agent], name: str, value: str
    ) -> QuerySet[Agent]:
        """Host name or address containing the text (any case)."""
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(hostname__icontains=value) | Q(remote_ip__icontains=value)
        )

    def with_software(
        self, queryset: QuerySet[Agent], name: str, value: Software
    ) -> QuerySet[Agent]:
        """Agents with any version of the software (no duplicate rows)."""
        through = Agent.software_versions.through
        return queryset.filter(
            Exists(
                through.objects.filter(
                    agent_id=OuterRef("pk"), softwareversion__software=value
                )
            )
        )
