"""Template tags of a job's page: frames, elapsed times, a task's bar, JSON."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template

from farm.choices import WorkState
from farm.templatetags.dashboard import duration

register = template.Library()


@register.filter
def frame(value: Decimal | None) -> str:
    """A frame number as people write it: ``10``, ``2.5`` (never ``1E+1``)."""
    if value is None:
        return ""
    return f"{value.normalize():f}"


@register.simple_tag
def elapsed(started: datetime | None, finished: datetime | None, now: datetime) -> str:
    """How long something ran: start to finish, or to ``now`` while it runs."""
    if started is None:
        return ""
    return duration(((finished or now) - started).total_seconds())


@register.inclusion_tag("web/includes/progress.html")
def task_bar(task: Any) -> dict[str, Any]:
    """One task's progress as the shared bar: its state's colour up to its progress.

    Done and failed tasks fill the bar; a running task shows its progress;
    a queued or paused task is empty.
    """
    state = task.state
    if state in (WorkState.DONE, WorkState.FAILED):
        percent = 100.0
    elif state == WorkState.RUNNING:
        percent = round(max(min(task.progress or 0.0, 1.0), 0.0) * 100, 1)
    else:
        percent = 0.0
    title = f"{state}, {percent:g}%"
    segments = [{"name": state, "count": 1, "percent": percent}] if percent else []
    return {"segments": segments, "title": title, "total": 1, "size": ""}


@register.filter
def pretty_json(value: Any) -> str:
    """JSON indented for reading (empty for none)."""
    if value is None or value == "":
        return ""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
