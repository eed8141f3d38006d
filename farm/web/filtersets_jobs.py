"""The jobs list's filters (query string), apart from the API's `farm.filtersets`.

``?state=running&state=queued&mine=1&queue=3&group=7&jobtype=2&tag=lighting
&q=shot`` — every parameter optional, all combined. A value that does not
parse (an unknown state or queue) is shown as an error and that filter is
left out; the list never fails for it.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet

from farm.choices import WorkState
from farm.models import Job, JobGroup, JobQueue, JobType, Tag
from farm.web.widgets import QuickSelect

__all__ = ["JobListFilterSet"]


class JobListFilterSet(django_filters.FilterSet):
    """Filters of the dashboard's jobs list.

    Needs the ``request`` (``mine`` means the requesting user's jobs).
    `without_state` is the list with every filter but the state's, which the
    counts per state at the top of the page are taken from.
    """

    state = django_filters.MultipleChoiceFilter(
        choices=WorkState.choices,
        widget=forms.CheckboxSelectMultiple,
        label="State",
    )
    mine = django_filters.BooleanFilter(
        method="filter_mine",
        widget=forms.CheckboxInput,
        label="Only my jobs",
    )
    queue = django_filters.ModelChoiceFilter(
        widget=QuickSelect,
        queryset=JobQueue.objects.only("pk", "name", "fullpath"),
        empty_label="All queues",
        label="Queue",
    )
    group = django_filters.ModelChoiceFilter(
        widget=QuickSelect,
        queryset=JobGroup.objects.only("pk", "title"),
        empty_label="All groups",
        label="Group",
    )
    jobtype = django_filters.ModelChoiceFilter(
        widget=QuickSelect,
        field_name="jobtype_version__jobtype",
        queryset=JobType.objects.only("pk", "name"),
        empty_label="All job types",
        label="Job type",
    )
    tag = django_filters.ModelChoiceFilter(
        widget=QuickSelect,
        field_name="tags",
        queryset=Tag.objects.only("pk", "tag"),
        to_field_name="tag",
        empty_label="All tags",
        label="Tag",
    )
    q = django_filters.CharFilter(
        field_name="title", lookup_expr="icontains", label="Title"
    )

    class Meta:
        model = Job
        fields = ["state", "mine", "queue", "group", "jobtype", "tag", "q"]

    def filter_mine(self, queryset: QuerySet[Job], name: str, value: Any) -> Any:
        """Only the requesting user's jobs when checked; everyone's otherwise."""
        user = getattr(self.request, "user", None)
        if not value or user is None:
            return queryset
        return queryset.filter(user_id=user.pk)

    def _cleaned(self) -> dict[str, Any]:
        """The valid filters' values (none for an unbound filterset)."""
        if not self.is_bound:
            return {}
        self.is_valid()  # fills cleaned_data with the fields that are valid
        return dict(self.form.cleaned_data)

    def without_state(self) -> QuerySet[Job]:
        """The jobs matching every filter except the state."""
        queryset: QuerySet[Job] = self.queryset.all()
        for name, value in self._cleaned().items():
            if name != "state":
                queryset = self.filters[name].filter(queryset, value)
        return queryset

    @property
    def states(self) -> list[str]:
        """The states asked for (none: every state)."""
        return list(self._cleaned().get("state") or [])

    @property
    def only_mine(self) -> bool:
        """Whether only the requesting user's jobs are asked for."""
        return bool(self._cleaned().get("mine"))
