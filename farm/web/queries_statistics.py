"""The statistics page's reads: time series aggregated in SQL into buckets.

Each chart is one query that groups its rows into at most `MAX_BUCKETS`
buckets of a round width (a minute, five minutes, an hour, …), so a month
of samples draws no more points than an hour. The rows and their meaning
(`scheduling.maintenance`):

- `AgentCount`: how many agents were in each state at one moment; a bucket
  shows the average of its samples.
- `TaskEventCount`: how many task events of each kind happened in one queue
  over a period; a bucket shows their sum (periods by their start).
- `TaskCount`: one row per queue per sample (all of a sample share its
  ``counted_time``; a queue without a row had no tasks, and the row of the
  jobs without a queue is always written); a bucket shows the average over
  its samples of the sums over the chosen queues.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import (
    Avg,
    Count,
    F,
    FloatField,
    Func,
    Max,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Floor

from farm.models import AgentCount, TaskCount, TaskEventCount
from farm.web.forms_statistics import NO_QUEUE

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import Expression
    from django.db.models.sql.compiler import SQLCompiler

__all__ = [
    "AGENT_STATES",
    "EVENT_KINDS",
    "MAX_BUCKETS",
    "TASK_STATES",
    "Window",
    "agent_series",
    "choose_window",
    "current_totals",
    "task_count_series",
    "task_event_series",
]

# A chart never gets more points than this.
MAX_BUCKETS = 300
# Bucket widths in seconds, finest first; wider ranges use whole days.
WIDTHS = [
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
]
AGENT_STATES = ("online", "running", "offline", "disabled")
EVENT_KINDS = ("new", "started", "done", "failed", "restarted", "deleted")
TASK_STATES = ("queued", "running", "done", "failed")

Series = dict[str, list[tuple[int, float]]]


class EpochSeconds(Func):
    """Seconds since 1970 of a datetime column, on PostgreSQL and SQLite."""

    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()

    def as_sqlite(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        **extra_context: Any,
    ) -> tuple[str, Any]:
        # SQLite keeps datetimes as UTC text; julianday() reads them.
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)",
            **extra_context,
        )


@dataclass(frozen=True)
class Window:
    """A time range cut into buckets of ``width`` seconds from ``origin``.

    ``origin`` is ``start`` rounded down to a multiple of ``width`` (in
    seconds since 1970), so that buckets fall on round times.
    """

    start: datetime
    end: datetime
    width: int

    @property
    def origin(self) -> int:
        return int(self.start.timestamp()) // self.width * self.width

    def bucket(self, column: str) -> Expression:
        """The bucket number of ``column``'s time, as an SQL expression."""
        return Floor(
            (EpochSeconds(F(column)) - Value(float(self.origin)))
            / Value(float(self.width))
        )

    def time_ms(self, bucket: float) -> int:
        """Where bucket number ``bucket`` starts, in milliseconds since 1970."""
        return (self.origin + int(bucket) * self.width) * 1000


def choose_window(start: datetime, end: datetime) -> Window:
    """The finest round bucket width that keeps the range within `MAX_BUCKETS`."""
    span = max((end - start).total_seconds(), 1.0)
    for width in WIDTHS:
        # One more bucket for the rounding of the origin.
        if span / width + 1 <= MAX_BUCKETS:
            return Window(start, end, width)
    days = math.ceil(span / (MAX_BUCKETS - 1) / 86400)
    return Window(start, end, days * 86400)


def _series(
    rows: Iterable[Mapping[str, Any]], window: Window, keys: tuple[str, ...]
) -> Series:
    """Turn ``{"bucket": n, key: value, …}`` rows into points per key."""
    series: Series = {key: [] for key in keys}
    for row in rows:
        at = window.time_ms(row["bucket"])
        for key in keys:
            value = row[key]
            if value is not None:
                series[key].append((at, round(float(value), 2)))
    return series


def agent_series(window: Window) -> Series:
    """Agents per state, the average of each bucket's samples (one query)."""
    rows = (
        AgentCount.objects.filter(
            counted_time__gte=window.start, counted_time__lt=window.end
        )
        .annotate(bucket=window.bucket("counted_time"))
        .values("bucket")
        .annotate(**{state: Avg(f"num_{state}") for state in AGENT_STATES})
        .order_by("bucket")
    )
    return _series(rows, window, AGENT_STATES)


def _queue_q(queue: int | str | None, field: str = "job_queue") -> Q:
    if queue is None:
        return Q()
    if queue == NO_QUEUE:
        return Q(**{f"{field}__isnull": True})
    return Q(**{f"{field}_id": queue})


def task_event_series(window: Window, queue: int | str | None) -> Series:
    """Task events per kind in the queue(s), summed per bucket (one query)."""
    rows = (
        TaskEventCount.objects.filter(
            _queue_q(queue), time_start__gte=window.start, time_start__lt=window.end
        )
        .annotate(bucket=window.bucket("time_start"))
        .values("bucket")
        .annotate(**{kind: Sum(f"num_{kind}") for kind in EVENT_KINDS})
        .order_by("bucket")
    )
    return _series(rows, window, EVENT_KINDS)


def task_count_series(window: Window, queue: int | str | None) -> Series:
    """Tasks per state in the queue(s), averaged over each bucket's samples.

    One query: the sums over the chosen queues' rows, divided by the number
    of samples in the bucket. A queue that had no tasks at a sample has no
    row, but every sample writes the row of the jobs without a queue: those
    rows count the samples (cheaper than counting distinct times).
    """
    chosen = _queue_q(queue)
    rows = (
        TaskCount.objects.filter(
            counted_time__gte=window.start, counted_time__lt=window.end
        )
        .annotate(bucket=window.bucket("counted_time"))
        .values("bucket")
        .annotate(
            samples=Count("pk", filter=Q(job_queue__isnull=True)),
            **{
                state: Sum(f"total_{state}", filter=chosen, default=0)
                for state in TASK_STATES
            },
        )
        .order_by("bucket")
    )
    averaged = [
        {
            "bucket": row["bucket"],
            **{state: row[state] / row["samples"] for state in TASK_STATES},
        }
        for row in rows
        if row["samples"]
    ]
    return _series(averaged, window, TASK_STATES)


@dataclass(frozen=True)
class Totals:
    """The latest sample of agents and of tasks (all queues), and when."""

    agents: dict[str, int] | None
    agents_at: datetime | None
    tasks: dict[str, int] | None
    tasks_at: datetime | None


def current_totals() -> Totals:
    """Agents and tasks per state from the latest rows (two queries)."""
    latest_agents = AgentCount.objects.order_by("-counted_time").first()
    latest_time = TaskCount.objects.order_by("-counted_time").values("counted_time")[:1]
    tasks = TaskCount.objects.filter(counted_time=Subquery(latest_time)).aggregate(
        at=Max("counted_time"),
        **{state: Sum(f"total_{state}") for state in TASK_STATES},
    )
    return Totals(
        agents=(
            {state: getattr(latest_agents, f"num_{state}") for state in AGENT_STATES}
            if latest_agents is not None
            else None
        ),
        agents_at=latest_agents.counted_time if latest_agents is not None else None,
        tasks=(
            {state: tasks[state] or 0 for state in TASK_STATES}
            if tasks["at"] is not None
            else None
        ),
        tasks_at=tasks["at"],
    )
