"""Template tags of a job's page: elapsed times, a task's bar, JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django import template
from django.utils.html import format_html

from farm.choices import WorkState
from farm.templatetags.dashboard import duration

register = template.Library()


@register.simple_tag
def elapsed(started: datetime | None, finished: datetime | None, now: datetime) -> str:
    """How long something ran: start to finish, or to ``now`` while it runs."""
    if started is None:
        return ""
    return duration(((finished or now) - started).total_seconds())


@register.simple_tag
def task_bar(task: Any) -> str:
    """One task's progress as the shared bar: its state's colour up to its progress.

    Done and failed tasks fill the bar; a running task shows its progress;
    a queued or paused task is empty. The same markup as ``{% progress %}``
    (web/includes/progress.html), built without a template: it is drawn on
    every row of the task table.
    """
    state = task.state
    if state in (WorkState.DONE, WorkState.FAILED):
        percent = 100.0
    elif state == WorkState.RUNNING:
        percent = round(max(min(task.progress or 0.0, 1.0), 0.0) * 100, 1)
    else:
        percent = 0.0
    title = f"{state}, {percent:g}%"
    segment = (
        format_html(
            '<span class="{}" data-count="1" style="width: {}%"></span>',
            state,
            f"{percent:.3f}",
        )
        if percent
        else ""
    )
    return format_html(
        '<div class="progress" role="img" aria-label="{}" title="{}">{}</div>',
        title,
        title,
        segment,
    )


@register.filter
def pretty_json(value: Any) -> str:
    """JSON indented for reading (empty for none)."""
    if value is None or value == "":
        return ""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
