"""Task events per job queue: counted in memory, flushed, consolidated.

The original master counted six kinds of task events per queue
(`TaskEventCount`): tasks created (``new``), deleted, run again from scratch
(``restarted``), started by an agent, failed and done.

Counting must not cost a query on the hot path (the agent's task updates),
so each process counts in memory (`record`) once the transaction that caused
the events has committed, and writes what it counted as *new* rows in one
INSERT (`flush`) at most every `FLUSH_SECONDS` (at the next event after that,
when the consolidation task runs in the process, and when the process exits).
Rows are only ever inserted by the counting processes, never updated, so
several web and Celery workers never lose each other's counts.

Events of an agent's report are counted against the task's job and resolved
to the job's queue at the flush (one query per flush, not per event); bulk
operations count against the queue directly.

`consolidate_task_events` (every ``task_event_count_consolidate_interval``)
merges the rows of each queue into one row per whole interval (aligned to
multiples of the interval since 1970) once that interval has passed, as the
original did: the table grows by one row per queue per interval, whatever
the number of events.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, F, QuerySet
from django.utils import timezone

from farm.models import Job, Task, TaskEventCount
from pyfarm_site.conf import farm_config
from pyfarm_site.config import as_timedelta

__all__ = [
    "EVENT_KINDS",
    "FLUSH_SECONDS",
    "consolidate_interval",
    "consolidate_task_events",
    "count_per_queue",
    "discard",
    "flush",
    "pending",
    "record",
    "record_for_jobs",
    "record_per_queue",
]

logger = logging.getLogger(__name__)

EVENT_KINDS = ("new", "deleted", "restarted", "started", "failed", "done")

#: A process writes its counts at most this often (and at exit).
FLUSH_SECONDS = 10.0

# Keys of the buffer: ("queue", queue id or None) or ("job", job id).
_Key = tuple[str, int | None]


@dataclass
class _Buffer:
    """What one process counted since its last flush."""

    counts: dict[_Key, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    first: datetime.datetime | None = None
    last: datetime.datetime | None = None
    since: float = 0.0


_lock = threading.Lock()
_buffer = _Buffer()


def _add(key: _Key, kind: str, count: int) -> None:
    """Add to the buffer now; flush when it is older than `FLUSH_SECONDS`."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown task event {kind!r}")
    if count <= 0 or not farm_config("enable_statistics"):
        return
    if time.monotonic() - _buffer.since >= FLUSH_SECONDS and _buffer.first:
        # Write what came before first, so that a row spans a few seconds
        # at most even in a process that was idle for a while.
        flush()
    now = timezone.now()
    with _lock:
        if _buffer.first is None:
            _buffer.first = now
            _buffer.since = time.monotonic()
        _buffer.last = now
        _buffer.counts[key][kind] += count


def record(
    kind: str,
    count: int = 1,
    *,
    job_id: int | None = None,
    queue_id: int | None = None,
) -> None:
    """Count ``count`` events of ``kind`` once the current transaction commits.

    Name the job (its queue is looked up at the flush) or, with no job, the
    queue (None: the jobs without a queue). Costs no query.
    """
    key: _Key = ("job", job_id) if job_id is not None else ("queue", queue_id)
    transaction.on_commit(lambda: _add(key, kind, count))


def record_for_jobs(kind: str, counts: Mapping[int, int]) -> None:
    """Count events per job (``{job id: count}``) once the transaction commits."""
    for job_id, count in counts.items():
        record(kind, count, job_id=job_id)


def count_per_queue(tasks: QuerySet[Task]) -> dict[int | None, int]:
    """How many of ``tasks`` each queue holds (one grouped query)."""
    return {
        row["job__queue"]: row["n"]
        for row in tasks.values("job__queue").annotate(n=Count("pk")).order_by()
    }


def record_per_queue(kind: str, counts: Mapping[int | None, int]) -> None:
    """Count events per queue (``{queue id: count}``) once the transaction commits."""
    for queue_id, count in counts.items():
        record(kind, count, queue_id=queue_id)


def pending() -> dict[_Key, dict[str, int]]:
    """What this process counted and has not written yet (for tests)."""
    with _lock:
        return {key: dict(kinds) for key, kinds in _buffer.counts.items()}


def discard() -> None:
    """Forget what this process counted without writing it (for tests)."""
    global _buffer
    with _lock:
        _buffer = _Buffer()


def flush() -> int:
    """Write this process's counts as new rows (one per queue); returns how many.

    One query to find the queues of the jobs counted, one INSERT. Should the
    database fail, the counts are kept for the next flush.
    """
    global _buffer
    with _lock:
        taken, _buffer = _buffer, _Buffer()
    if taken.first is None or taken.last is None:
        return 0
    try:
        return _write(taken)
    except Exception:
        logger.exception("could not write task event counts; keeping them")
        with _lock:
            for key, kinds in taken.counts.items():
                _buffer.counts[key].update(kinds)
            _buffer.first = min(filter(None, (_buffer.first, taken.first)))
            _buffer.last = max(filter(None, (_buffer.last, taken.last)))
            _buffer.since = _buffer.since or taken.since
        return 0


def _write(taken: _Buffer) -> int:
    """Insert the rows of ``taken``: its queues resolved, one row per queue."""
    if taken.first is None or taken.last is None:
        return 0
    job_ids = [key[1] for key in taken.counts if key[0] == "job"]
    queues = dict(
        Job.objects.filter(pk__in=job_ids).values_list("pk", "queue_id")
        if job_ids
        else []
    )
    per_queue: dict[int | None, Counter[str]] = defaultdict(Counter)
    for (scope, ident), kinds in taken.counts.items():
        # A job deleted meanwhile took its queue with it: no queue.
        queue_id = queues.get(ident or 0) if scope == "job" else ident
        per_queue[queue_id].update(kinds)
    rows = TaskEventCount.objects.bulk_create(
        TaskEventCount(
            time_start=taken.first,
            time_end=taken.last,
            job_queue_id=queue_id,
            **{f"num_{kind}": kinds[kind] for kind in EVENT_KINDS},
        )
        for queue_id, kinds in per_queue.items()
    )
    return len(rows)


def _flush_at_exit() -> None:
    """Write what is left when the process exits; quietly give up on failure.

    At exit the log streams may be closed already, and a test run's database
    is gone: nothing useful can be done about an error then.
    """
    global _buffer
    with _lock:
        taken, _buffer = _buffer, _Buffer()
    if taken.first is None:
        return
    with contextlib.suppress(Exception):
        _write(taken)


atexit.register(_flush_at_exit)


def consolidate_interval() -> datetime.timedelta:
    """``task_event_count_consolidate_interval`` (at least one second)."""
    key = "task_event_count_consolidate_interval"
    return max(as_timedelta(key, farm_config(key)), datetime.timedelta(seconds=1))


def _period_start(at: datetime.datetime, width: int) -> datetime.datetime:
    seconds = int(at.timestamp()) // width * width
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


def consolidate_task_events(
    *, now: datetime.datetime | None = None, interval: datetime.timedelta | None = None
) -> int:
    """Merge each queue's rows into one row per past interval; returns rows removed.

    Rows shorter than the interval whose interval (aligned to multiples of
    it since 1970, by their start) has ended are merged, with the merged row
    already there for that interval if a late flush landed in it. Rows are
    locked while merged, so two runs never count a row twice. Writes this
    process's own counts first.
    """
    flush()
    now = now or timezone.now()
    interval = interval or consolidate_interval()
    width = max(1, int(interval.total_seconds()))
    cutoff = _period_start(now, width)
    with transaction.atomic():
        fine = list(
            TaskEventCount.objects.select_for_update()
            .filter(time_start__lt=cutoff, time_end__lt=F("time_start") + interval)
            .order_by("pk")
        )
        if not fine:
            return 0
        groups: dict[tuple[int | None, datetime.datetime], list[TaskEventCount]] = (
            defaultdict(list)
        )
        for row in fine:
            groups[row.job_queue_id, _period_start(row.time_start, width)].append(row)
        starts = {start for _, start in groups}
        merged = TaskEventCount.objects.select_for_update().filter(
            time_start__in=starts, time_end=F("time_start") + interval
        )
        for row in merged:
            groups[row.job_queue_id, row.time_start].append(row)
        removed = [row.pk for rows in groups.values() for row in rows]
        TaskEventCount.objects.filter(pk__in=removed).delete()
        TaskEventCount.objects.bulk_create(
            _merge(queue_id, start, start + datetime.timedelta(seconds=width), rows)
            for (queue_id, start), rows in groups.items()
        )
    return len(removed) - len(groups)


def _merge(
    queue_id: int | None,
    start: datetime.datetime,
    end: datetime.datetime,
    rows: Iterable[TaskEventCount],
) -> TaskEventCount:
    """One row summing ``rows`` over ``start``..``end``."""
    merged = TaskEventCount(time_start=start, time_end=end, job_queue_id=queue_id)
    for row in rows:
        for kind in EVENT_KINDS:
            name = f"num_{kind}"
            setattr(merged, name, getattr(merged, name) + getattr(row, name))
    return merged
