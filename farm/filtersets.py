"""Query-string filters of the API's list endpoints, one FilterSet per model.

Every filter is declared explicitly and named after the original's query
parameter, so that ``GET /agents/?min_ram=4096&min_cpus=4`` keeps working.
A value that does not parse (``min_ram=lots``), or that the filtered column
could not hold (``hostname=!``), makes the list answer 400.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.drainage import set_override

from farm.api.fields import POSITIVE_INTEGER_RANGE
from farm.choices import WorkState, parse_choice
from farm.models import Agent, Task
from farm.validators import hostname_error

__all__ = ["AgentFilterSet", "TaskFilterSet"]


class IntegerFilter(django_filters.NumberFilter):
    """A whole number (the original refused ``min_ram=1.5`` and ``port=x``).

    Within the column's range: a larger number is a 400, whatever the
    database, and the OpenAPI schema shows the range.
    """

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        low, high = POSITIVE_INTEGER_RANGE
        super().__init__(*args, min_value=low, max_value=high, **kwargs)
        schema = {"type": "integer", "minimum": low, "maximum": high}
        set_override(self, "field", {**schema, "description": self.label})


class IPAddressFilter(django_filters.CharFilter):
    """An IPv4 or IPv6 address, compared in its normalised form."""

    field_class = forms.GenericIPAddressField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
        set_override(self, "field", {**schema, "description": self.label})


def _validate_hostname(value: str) -> None:
    error = hostname_error(value)
    if error:
        raise ValidationError(error)


class HostnameField(forms.CharField):
    """A host name as an agent's column takes it (`hostname_error`)."""

    default_validators = [_validate_hostname]


class HostnameFilter(django_filters.CharFilter):
    """A host name, refused (400) unless an agent could have it."""

    field_class = HostnameField


class AgentFilterSet(django_filters.FilterSet):
    """Filters of ``GET /agents/``: resources, host name, address and port."""

    min_ram = IntegerFilter(
        field_name="ram", lookup_expr="gte", label="At least this much RAM (MB)."
    )
    max_ram = IntegerFilter(
        field_name="ram", lookup_expr="lte", label="At most this much RAM (MB)."
    )
    min_cpus = IntegerFilter(
        field_name="cpus", lookup_expr="gte", label="At least this many CPUs."
    )
    max_cpus = IntegerFilter(
        field_name="cpus", lookup_expr="lte", label="At most this many CPUs."
    )
    # Host names are case-insensitive (RFC 4343).
    hostname = HostnameFilter(
        field_name="hostname", lookup_expr="iexact", label="This host name."
    )
    remote_ip = IPAddressFilter(
        field_name="remote_ip", lookup_expr="exact", label="This address."
    )
    port = IntegerFilter(field_name="port", lookup_expr="exact", label="This port.")

    class Meta:
        model = Agent
        fields = [
            "min_ram",
            "max_ram",
            "min_cpus",
            "max_cpus",
            "hostname",
            "remote_ip",
            "port",
        ]


class WorkStateField(forms.CharField):
    """A work state by name (any case) or original code (``105``)."""

    def to_python(self, value: Any) -> str | None:
        """The state's stored value; a validation error naming the states."""
        text = super().to_python(value)
        if text in self.empty_values:
            return text
        try:
            return parse_choice(WorkState, text)
        except ValueError as error:
            raise ValidationError(str(error)) from None


class WorkStateFilter(django_filters.CharFilter):
    """A work state; the OpenAPI schema lists the states' names."""

    field_class = WorkStateField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = {"type": "string", "enum": list(WorkState.values)}
        set_override(self, "field", {**schema, "description": self.label})


class TaskFilterSet(django_filters.FilterSet):
    """Filters of ``GET /jobs/<job>/tasks/``: the tasks in one state."""

    state = WorkStateFilter(
        field_name="state", lookup_expr="exact", label="Only the tasks in this state."
    )

    class Meta:
        model = Task
        fields = ["state"]
