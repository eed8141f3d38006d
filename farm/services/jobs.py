"""Job workflows: frame ranges and their tasks, derived states, reruns.

Jobs are submitted and changed by name in `farm.services.submission`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from farm.choices import WorkState
from farm.models import Job, Task, TaskTaskLogAssociation
from farm.models.jobs import JobQuerySet
from farm.signals import notify_work_changed
from farm.validators import job_size_error, max_tasks_per_job

# Rows per INSERT/DELETE statement: large enough to be fast, small enough to
# stay under every driver's parameter limit.
BULK_BATCH_SIZE = 2_000
_FRAME_QUANTUM = Decimal("0.0001")


def frame_range(
    start: Decimal | float, end: Decimal | float, by: Decimal | float
) -> list[Decimal]:
    """The frames from ``start`` to ``end`` (inclusive) in steps of ``by``.

    Frames are exact decimals with four places, as the columns store them, so
    that steps such as 0.1 do not drift. Raises ValidationError for an empty
    or absurd range.
    """
    try:
        start_d = Decimal(str(start)).quantize(_FRAME_QUANTUM)
        end_d = Decimal(str(end)).quantize(_FRAME_QUANTUM)
        by_d = Decimal(str(by)).quantize(_FRAME_QUANTUM)
    except InvalidOperation:
        raise ValidationError("start, end and by must be numbers") from None
    if by_d <= 0:
        raise ValidationError({"by": "must be greater than 0"})
    if end_d < start_d:
        raise ValidationError({"end": "must not be lower than start"})
    count = int(((end_d - start_d) / by_d).to_integral_value(ROUND_FLOOR)) + 1
    if count > (limit := max_tasks_per_job()):
        raise ValidationError(
            {"by": f"the range has {count} frames, more than {limit}"}
        )
    return [start_d + by_d * index for index in range(count)]


def task_keys(frames: Iterable[Decimal], num_tiles: int | None) -> list[tuple]:
    """The ``(frame, tile)`` of every task of a job; ValidationError if too many."""
    tiles: Sequence[int | None] = range(num_tiles) if num_tiles else (None,)
    keys = [(frame, tile) for frame in frames for tile in tiles]
    if len(keys) > (limit := max_tasks_per_job()):
        raise ValidationError({"num_tiles": f"{len(keys)} tasks, more than {limit}"})
    return keys


_TASK_INSERT_COLUMNS = (
    "job",
    "frame",
    "tile",
    "state",
    "priority",
    "attempts",
    "failures",
    "progress",
    "hidden",
    "sent_to_agent",
    "time_submitted",
)


def _insert_batch_size(columns: int) -> int:
    """Rows per SQLite INSERT within its limit of bound parameters."""
    raw = connection.connection
    limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if raw else 999
    return max(1, min(BULK_BATCH_SIZE, limit // columns))


def create_tasks(job: Job, keys: Iterable[tuple]) -> int:
    """Insert a job's new tasks with multi-row INSERTs.

    Tasks are the one table that grows by 100,000 rows in a request, and
    building that many model instances costs several times the INSERTs
    themselves, so the rows are written as plain tuples (adapted by Django's
    own database operations) instead of through ``bulk_create``.
    """
    ops = connection.ops
    submitted = ops.adapt_datetimefield_value(timezone.now())
    rows = [
        (
            job.pk,
            ops.adapt_decimalfield_value(frame, 10, 4),
            tile,
            WorkState.QUEUED.value,
            job.priority,
            0,
            0,
            0.0,
            False,
            False,
            submitted,
        )
        for frame, tile in keys
    ]
    fields = [Task._meta.get_field(name) for name in _TASK_INSERT_COLUMNS]
    columns = ", ".join(
        ops.quote_name(field.column)  # type: ignore[union-attr, arg-type]
        for field in fields
    )
    table = ops.quote_name(Task._meta.db_table)
    connection.ensure_connection()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY streams the rows; psycopg's client-side parameter binding
            # of a 20,000-parameter INSERT costs more than the insert itself.
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
            size = _insert_batch_size(len(fields))
            for index in range(0, len(rows), size):
                batch = rows[index : index + size]
                values = ", ".join([row_sql] * len(batch))
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) VALUES {values}",
                    [value for row in batch for value in row],
                )
    return len(rows)


def delete_tasks(tasks: QuerySet[Task]) -> None:
    """Delete tasks and the rows that point at them, in three statements.

    The ORM's cascading delete loads every task and deletes 100 at a time;
    deleting the dependent rows (log associations, failed-on agents) first
    lets the tasks go in one plain DELETE.
    """
    TaskTaskLogAssociation.objects.filter(task__in=tasks).delete()
    Task.failed_in_agents.through.objects.filter(task__in=tasks).delete()
    tasks._raw_delete(tasks.db)


def _delete_tasks(task_ids: Sequence[int]) -> None:
    """Delete tasks by id, in batches that stay under parameter limits."""
    for index in range(0, len(task_ids), BULK_BATCH_SIZE):
        delete_tasks(
            Task.objects.filter(pk__in=task_ids[index : index + BULK_BATCH_SIZE])
        )


def alter_frame_range(
    *, job: Job, start: Decimal | float, end: Decimal | float, by: Decimal | float
) -> None:
    """Change a job's frame range: create the new frames' tasks, delete the gone.

    Tasks of frames that stay are kept as they are (with their progress and
    history). Costs a constant number of statements per 2,000 tasks. A range
    of more than ``max_tasks_per_job`` tasks is refused before anything is
    built.
    """
    if size := job_size_error(start, end, by, job.num_tiles):
        raise ValidationError(dict([size]))
    frames = frame_range(start, end, by)
    wanted = set(task_keys(frames, job.num_tiles))
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        existing = {
            (frame, tile): pk
            for pk, frame, tile in Task.objects.for_job(job.pk).values_list(
                "pk", "frame", "tile"
            )
        }
        _delete_tasks([pk for key, pk in existing.items() if key not in wanted])
        create_tasks(
            job,
            (key for key in task_keys(frames, job.num_tiles) if key not in existing),
        )
        Job.objects.filter(pk=job.pk).update(
            start=frames[0],
            end=Decimal(str(end)).quantize(_FRAME_QUANTUM),
            by=Decimal(str(by)).quantize(_FRAME_QUANTUM),
        )
        refresh_job_states(job_ids=[job.pk])
        notify_work_changed("frame range changed")


def _derived_state(counts: dict[str, int], current: str) -> str:
    """A job's state from its task counts (paused jobs are never derived)."""
    open_tasks = (
        counts[WorkState.QUEUED] + counts[WorkState.RUNNING] + counts[WorkState.PAUSED]
    )
    if sum(counts.values()) == 0:
        return current
    if open_tasks == 0:
        return WorkState.FAILED if counts[WorkState.FAILED] else WorkState.DONE
    if counts[WorkState.RUNNING] or counts[WorkState.DONE] or counts[WorkState.FAILED]:
        return WorkState.RUNNING
    return WorkState.QUEUED


def refresh_job_states(*, job_ids: Iterable[int]) -> dict[int, str]:
    """Derive the state and times of jobs from their tasks.

    One aggregate query and at most one UPDATE, whatever the number of jobs
    and tasks. Paused jobs keep their state; the UPDATE is conditional on it,
    so a job paused meanwhile is not overwritten. Returns ``{job_id: state}``
    for the jobs whose state changed.
    """
    ids = list(job_ids)
    if not ids:
        return {}
    per_state = {
        state: Count("tasks", filter=Q(tasks__state=state))
        for state in WorkState.values
    }
    jobs = (
        Job.objects.filter(pk__in=ids)
        .exclude(state=WorkState.PAUSED)
        .annotate(
            first_started=Min("tasks__time_started"),
            last_finished=Max("tasks__time_finished"),
            **{f"n_{state}": count for state, count in per_state.items()},
        )
        .only("pk", "state", "time_started", "time_finished")
    )
    now = timezone.now()
    changed: list[Job] = []
    new_states: dict[int, str] = {}
    for job in jobs:
        counts = {state: getattr(job, f"n_{state}") for state in WorkState.values}
        first_started = job.first_started  # type: ignore[attr-defined]
        last_finished = job.last_finished  # type: ignore[attr-defined]
        state = _derived_state(counts, job.state)
        time_started = job.time_started
        time_finished = job.time_finished
        if state == WorkState.QUEUED:
            time_started = time_finished = None
        else:
            time_started = first_started or time_started or now
            if state in (WorkState.DONE, WorkState.FAILED):
                time_finished = last_finished or now
            else:
                time_finished = None
        if (state, time_started, time_finished) != (
            job.state,
            job.time_started,
            job.time_finished,
        ):
            if state != job.state:
                new_states[job.pk] = state
            job.state, job.time_started, job.time_finished = (
                state,
                time_started,
                time_finished,
            )
            changed.append(job)
    if changed:
        Job.objects.exclude(state=WorkState.PAUSED).bulk_update(
            changed,
            ["state", "time_started", "time_finished"],
            batch_size=BULK_BATCH_SIZE,
        )
    return new_states


def _job_ids(jobs: JobQuerySet) -> list[int]:
    return list(jobs.values_list("pk", flat=True))


def pause_jobs(*, jobs: JobQuerySet) -> int:
    """Pause queued and running jobs; returns how many were paused."""
    return jobs.pause()


def unpause_jobs(*, jobs: JobQuerySet) -> int:
    """Resume paused jobs and derive their states again; returns the count."""
    with transaction.atomic():
        ids = jobs.unpause()
        refresh_job_states(job_ids=ids)
        notify_work_changed("jobs resumed")
    return len(ids)


def rerun_jobs(*, jobs: JobQuerySet, failed_only: bool = False) -> int:
    """Queue the jobs' tasks again (only the failed ones with ``failed_only``).

    Running tasks are left alone. The jobs can notify again when they end.
    Returns the number of tasks queued again.
    """
    with transaction.atomic():
        ids = _job_ids(jobs)
        tasks = Task.objects.filter(job_id__in=ids)
        if failed_only:
            tasks = tasks.filter(state=WorkState.FAILED)
        count = tasks.rerun()
        if count:
            Job.objects.filter(pk__in=ids).update(completion_notify_sent=False)
            notify_work_changed("jobs rerun")
        refresh_job_states(job_ids=ids)
    return count


def mark_jobs_for_deletion(*, jobs: JobQuerySet) -> int:
    """Flag jobs for deletion by the scheduler; returns how many were flagged."""
    return jobs.mark_for_deletion()
