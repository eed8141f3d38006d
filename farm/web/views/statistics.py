"""The statistics page: the farm's agents and tasks over time, as charts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from farm.models import JobQueue
from farm.web.forms_statistics import DEFAULT_RANGE, RANGES, StatisticsForm
from farm.web.queries_statistics import (
    AGENT_STATES,
    EVENT_KINDS,
    TASK_STATES,
    Series,
    Window,
    agent_series,
    choose_window,
    current_totals,
    task_count_series,
    task_event_series,
)

__all__ = ["statistics"]


def _chart(window: Window, series: Series, keys: tuple[str, ...]) -> dict[str, Any]:
    """What a chart's script needs: the range, the bucket width, the points."""
    return {
        "from": int(window.start.timestamp() * 1000),
        "to": int(window.end.timestamp() * 1000),
        "bucket_seconds": window.width,
        "timezone": settings.TIME_ZONE,
        "series": [
            {"key": key, "label": key.capitalize(), "points": series[key]}
            for key in keys
        ],
        "empty": not any(series[key] for key in keys),
    }


def _width_label(seconds: int) -> str:
    """``5 minutes``, ``1 hour``, ``2 days``: how long one point of a chart is."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


@login_required
@require_GET
def statistics(request: HttpRequest) -> HttpResponse:
    """``/statistics/``: agents per state, task events and task counts over time.

    ``?range=1h|6h|1d|1w|1m`` or ``?range=custom&start=…&end=…``, and
    ``?queue=`` (all), ``none`` or a queue's id for the task charts. The
    data is aggregated in SQL into at most a few hundred points per chart;
    the totals come from the latest samples. Bad filters show a message and
    the last day.
    """
    queues = list(JobQueue.objects.order_by("fullpath").values_list("pk", "fullpath"))
    form = StatisticsForm.from_query(request.GET, queues=queues)
    if not form.is_valid():
        messages.error(
            request, "These filters are not valid; showing the last day instead."
        )
    start, end = form.period(timezone.now())
    window = choose_window(start, end)
    queue = form.queue_filter()
    charts = {
        "agents": _chart(window, agent_series(window), AGENT_STATES),
        "events": _chart(window, task_event_series(window, queue), EVENT_KINDS),
        "tasks": _chart(window, task_count_series(window, queue), TASK_STATES),
    }
    context = {
        "form": form,
        "ranges": RANGES,
        "start": start,
        "end": end,
        "window": window,
        "bucket_label": _width_label(window.width),
        "charts": charts,
        "totals": current_totals(),
        "current_range": (
            form.cleaned_data["range"] if form.is_valid() else DEFAULT_RANGE
        ),
        "queue_label": form.queue_label(),
        "timezone_name": timezone.get_current_timezone_name(),
    }
    return render(request, "web/statistics/statistics.html", context)
