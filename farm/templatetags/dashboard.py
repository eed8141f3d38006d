"""Template tags shared by the dashboard's pages: states, progress, durations."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django import template
from django.conf import settings
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.timezone import localtime

register = template.Library()

SEGMENTS = ("done", "failed", "running", "queued")


@register.simple_tag
def state_badge(state: str | None) -> str:
    """A coloured badge for a job, task or agent state (``.state-<state>``)."""
    if not state:
        return format_html('<span class="badge">{}</span>', "none")
    return format_html('<span class="badge state-{}">{}</span>', state, state)


@register.inclusion_tag("web/includes/progress.html")
def progress(
    done: int = 0,
    failed: int = 0,
    running: int = 0,
    queued: int = 0,
    size: str = "",
) -> dict[str, Any]:
    """A segmented bar: done / failed / running / queued, in that order.

    ``queued`` is everything not yet done, failed or running (paused tasks
    included). The percentages add up to 100 for a job with tasks.
    """
    counts = {"done": done, "failed": failed, "running": running, "queued": queued}
    total = sum(max(int(value or 0), 0) for value in counts.values())
    segments = [
        {
            "name": name,
            "count": counts[name],
            "percent": round(100 * counts[name] / total, 3) if total else 0,
        }
        for name in SEGMENTS
        if counts[name]
    ]
    title = ", ".join(f"{counts[name]} {name}" for name in SEGMENTS)
    return {"segments": segments, "title": title, "total": total, "size": size}


@register.filter
def timestamp(value: datetime | None) -> str:
    """A date and time in ``timestamp_format`` (the current time zone); "" for none."""
    if value is None or value == "":
        return ""
    return date_format(localtime(value), settings.TIMESTAMP_FORMAT)


@register.filter
def duration(value: timedelta | float | int | None) -> str:
    """``3d 4h``, ``2h 05m``, ``4m 09s`` or ``12s``; empty for no value."""
    if value is None or value == "":
        return ""
    seconds = int(
        value.total_seconds() if isinstance(value, timedelta) else float(value)
    )
    if seconds < 0:
        seconds = 0
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


@register.filter
def frame(value: Decimal | float | int | None) -> str:
    """A frame number as people write it: ``10``, ``2.5`` (never ``1E+1``)."""
    if value is None:
        return ""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    return f"{number.normalize():f}"
