"""Template filters of the agents and job queues pages: times ago, ISO times."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils import timezone

from farm.templatetags.dashboard import duration

register = template.Library()


@register.filter
def ago(value: datetime | None) -> str:
    """``4m 09s ago``: how long ago a time was (cheap enough for every row)."""
    if value is None:
        return ""
    return f"{duration(timezone.now() - value)} ago"


@register.filter
def iso(value: datetime | None) -> str:
    """The time in ISO 8601 (UTC), for ``<time datetime>`` and tooltips."""
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat(timespec="seconds")
