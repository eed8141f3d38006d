"""Query-string filters of the API's list endpoints, one FilterSet per model.

Every filter is declared explicitly and named after the original's query
parameter, so that ``GET /agents/?min_ram=4096&min_cpus=4`` keeps working.
A value that does not parse (``min_ram=lots``) makes the list answer 400.
"""

from __future__ import annotations

import django_filters
from django import forms

from farm.models import Agent

__all__ = ["AgentFilterSet"]


class IntegerFilter(django_filters.NumberFilter):
    """A whole number (the original refused ``min_ram=1.5`` and ``port=x``)."""

    field_class = forms.IntegerField


class IPAddressFilter(django_filters.CharFilter):
    """An IPv4 or IPv6 address, compared in its normalised form."""

    field_class = forms.GenericIPAddressField


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
    hostname = django_filters.CharFilter(
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
