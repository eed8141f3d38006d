"""The agent's task reports (agent-protocol R6, R9-R11) in at most 3 statements.

The agent reports on every task it runs: ``{"state": "running"}``, then any
``{"progress": p}`` and ``{"time_started": "now"}``, then ``{"state":
"done"}`` or ``{"state": "failed", "last_error": ...}``, or ``{"state":
"queued", "agent_id": null}`` when it gives a task back. These are the most
frequent writes a farm makes, so `apply_agent_report` applies each one in
hand-written SQL, built once per database and kind of report, instead of
`farm.services.tasks.update_task`'s ORM queries (everything else a task
update may carry still goes there). The rules are the same, row for row (the
tests compare both):

- progress and start times: one ``UPDATE ... RETURNING`` guarded like
  ``update_task`` with ``agent_report`` (ignored once the attempt ended, or
  for a task given back to the queue); no transaction. When it changes
  nothing, one SELECT reads the task for the answer.
- state changes, in a transaction:

  1. the task's transition (`farm.models.tasks.TaskQuerySet`'s, as SQL:
     running counts an attempt; done sets progress 1.0 and the agent's
     ``last_success_on``; failed counts a failure, remembers the agent it
     failed on and requeues the task while the job's ``requeue`` allows);
     on PostgreSQL in one statement with CTEs that lock the task, then its
     job (the same order as every other writer: tasks, then their job);
  2. the job's task counts, read by a statement that starts after the job's
     row lock is held, so two reports ending a job's last two tasks at once
     cannot both miss the other's (on SQLite, where a transaction holds the
     database's write lock from its start, the counts come with statement
     1, and statement 2 sets the agent's ``last_success_on``);
  3. the job's UPDATE, only when its state or times change (`roll_up_job`),
     with the claim of its completion mail (the row is locked: exactly one
     report claims it).

  Signals (`work_changed`, `jobs_ended`) and task events are sent after the
  commit, as ``update_task`` sends them.

A task the URL does not name (an unknown id, a job given by title) is left to
the ORM path, which answers 404 or finds it.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from farm.choices import WorkState
from farm.models import Agent, Job, Task
from farm.services import task_events
from farm.services.jobs import roll_up_job
from farm.signals import notify_jobs_ended, notify_work_changed

__all__ = ["AgentReport", "apply_agent_report", "parse_agent_report"]

#: Kinds of report that change a task's state (the others set one column).
_STATE_KINDS = ("running", "done", "failed", "queued")
#: The task event (`task_events`) each state counts, as in ``update_task``.
_EVENTS = {"running": "started", "done": "done", "failed": "failed"}


@dataclass(frozen=True)
class AgentReport:
    """One report as the agent sends it: its kind and its value.

    ``kind`` is ``progress``, ``time_started``, or the state reported
    (``running``, ``done``, ``failed``, ``queued``).
    """

    kind: str
    progress: float = 0.0
    last_error: str | None = None


def parse_agent_report(data: Any) -> AgentReport | None:
    """The report if ``data`` is a body the agent sends, else None.

    Only exact, valid bodies: ``{"progress": 0.5}``, ``{"time_started":
    "now"}``, ``{"state": "running" | "done" | "failed"}``, ``{"state":
    "failed", "last_error": "..." | null}``, ``{"state": "queued",
    "agent_id": null}``. Anything else (other spellings of a state, other
    keys, invalid values) goes through the serializer, which also answers
    the errors.
    """
    if not isinstance(data, dict):
        return None
    if len(data) == 1:
        ((key, value),) = data.items()
        if key == "progress":
            if (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
                and 0.0 <= value <= 1.0
            ):
                return AgentReport("progress", progress=float(value))
            return None
        if key == "time_started":
            return AgentReport("time_started") if value == "now" else None
        if key == "state" and value in ("running", "done", "failed"):
            return AgentReport(value)
        return None
    if len(data) == 2 and data.get("state") == "failed" and "last_error" in data:
        error = data["last_error"]
        if error is None or isinstance(error, str):
            return AgentReport("failed", last_error=error)
        return None
    if (
        len(data) == 2
        and data.get("state") == "queued"
        and "agent_id" in data
        and data["agent_id"] is None
    ):
        return AgentReport("queued")
    return None


# --- SQL ---------------------------------------------------------------------------

_COLUMNS = (
    "id",
    "job_id",
    "agent_id",
    "frame",
    "tile",
    "state",
    "priority",
    "hidden",
    "attempts",
    "failures",
    "progress",
    "sent_to_agent",
    "last_error",
    "time_submitted",
    "time_started",
    "time_finished",
)
#: The task's columns, its agent's hostname and its job's title: the answer.
_ANSWER = ", ".join(f"tasks.{column}" for column in _COLUMNS) + (
    ", (SELECT hostname FROM agents WHERE agents.id = tasks.agent_id)"
    ", (SELECT title FROM jobs WHERE jobs.id = tasks.job_id)"
)
#: The answer's width: the columns after it (the job's, SQLite's counts) follow.
_ANSWER_WIDTH = len(_COLUMNS) + 2
_OPEN = "tasks.state IN ('queued', 'running')"
# `update_task(agent_report=True)`: a task given back to the queue after an
# attempt, and not assigned again, ignores the reports of that attempt.
_REPORTABLE = (
    f"{_OPEN} AND NOT (tasks.agent_id IS NULL AND tasks.state = 'queued'"
    " AND (tasks.attempts > 0 OR tasks.failures > 0))"
)
# `farm.models.tasks._attempt_ended`.
_ATTEMPT_ENDED = (
    "CASE WHEN tasks.state = 'queued' AND tasks.agent_id IS NOT NULL"
    " THEN tasks.attempts + 1 ELSE tasks.attempts END"
)
# `TaskQuerySet.mark_failed`: requeued while failures do not exceed the job's
# ``requeue`` (-1: forever), counting this one.
_RETRY = (
    "(SELECT jobs.requeue = -1 OR jobs.requeue > tasks.failures"
    " FROM jobs WHERE jobs.id = tasks.job_id)"
)

#: Per kind: the guard (WHERE) and the new values (SET), on the old row.
_TRANSITIONS: dict[str, tuple[str, str]] = {
    "progress": (_REPORTABLE, "progress = %(progress)s"),
    "time_started": (_REPORTABLE, "time_started = %(now)s"),
    # TaskQuerySet.mark_running, for reports.
    "running": (
        f"tasks.state = 'queued' AND {_REPORTABLE}",
        "state = 'running', attempts = tasks.attempts + 1,"
        " time_started = %(now)s, time_finished = NULL, progress = 0.0",
    ),
    # TaskQuerySet.mark_done (its agent's last_success_on: below).
    "done": (
        _OPEN,
        f"state = 'done', attempts = {_ATTEMPT_ENDED}, progress = 1.0,"
        " last_error = NULL, time_started = COALESCE(tasks.time_started, %(now)s),"
        " time_finished = %(now)s",
    ),
    # TaskQuerySet.mark_failed, its failure and its requeue in one.
    "failed": (
        _OPEN,
        f"state = CASE WHEN {_RETRY} THEN 'queued' ELSE 'failed' END,"
        f" attempts = {_ATTEMPT_ENDED}, failures = tasks.failures + 1,"
        " last_error = %(error)s,"
        f" agent_id = CASE WHEN {_RETRY} THEN NULL ELSE tasks.agent_id END,"
        f" sent_to_agent = CASE WHEN {_RETRY} THEN FALSE ELSE tasks.sent_to_agent END,"
        f" progress = CASE WHEN {_RETRY} THEN 0.0 ELSE tasks.progress END,"
        f" time_started = CASE WHEN {_RETRY} THEN NULL"
        " ELSE COALESCE(tasks.time_started, %(now)s) END,"
        f" time_finished = CASE WHEN {_RETRY} THEN NULL ELSE %(now)s END",
    ),
    # TaskQuerySet.requeue.
    "queued": (
        _OPEN,
        "state = 'queued', agent_id = NULL, sent_to_agent = FALSE, progress = 0.0,"
        " time_started = NULL, time_finished = NULL",
    ),
}
_THIS_TASK = "tasks.id = %(task)s AND tasks.job_id = %(job)s"
_SELECT_TASK = f"SELECT {_ANSWER} FROM tasks WHERE {_THIS_TASK}"
_JOB = ("state", "time_started", "time_finished", "completion_notify_sent")
_SET_JOB = (
    "UPDATE jobs SET state = %(state)s, time_started = %(started)s,"
    " time_finished = %(finished)s, completion_notify_sent = %(sent)s"
    " WHERE id = %(job)s"
)
# A failed task's agent, remembered before the UPDATE that may requeue it
# (PostgreSQL does it in the UPDATE's statement, `_postgresql_change`).
_SQLITE_FAILED_ON = (
    "INSERT OR IGNORE INTO failed_tasks_in_agents (task_id, agent_id)"
    f" SELECT tasks.id, tasks.agent_id FROM tasks WHERE {_THIS_TASK}"
    f" AND {_OPEN} AND tasks.agent_id IS NOT NULL"
)
_PG_COUNTS = (
    "SELECT state, COUNT(*), MIN(time_started), MAX(time_finished)"
    " FROM tasks WHERE job_id = %(job)s GROUP BY state"
)


def _update(kind: str) -> str:
    """``UPDATE tasks`` for ``kind``, returning the answer's columns."""
    where, values = _TRANSITIONS[kind]
    return (
        f"UPDATE tasks SET {values} WHERE {_THIS_TASK} AND {where} RETURNING {_ANSWER}"
    )


def _postgresql_change(kind: str) -> str:
    """Statement 1 of a state change on PostgreSQL (module docstring).

    ``locked`` locks the task (re-checking the guard on its latest version)
    and keeps its agent, which a requeue clears; ``job`` locks the job after
    the task. Answers the task's row, its old agent and the job's columns.
    """
    where, values = _TRANSITIONS[kind]
    ctes = [
        f"locked AS (SELECT tasks.id, tasks.agent_id FROM tasks"
        f" WHERE {_THIS_TASK} AND {where} FOR UPDATE)",
        f"task AS (UPDATE tasks SET {values} FROM locked WHERE tasks.id = locked.id"
        f" RETURNING {_ANSWER}, locked.agent_id AS old_agent_id)",
    ]
    if kind == "done":
        ctes.append(
            "agent AS (UPDATE agents SET last_success_on = %(now)s"
            " WHERE id = (SELECT old_agent_id FROM task))"
        )
    if kind == "failed":
        ctes.append(
            "failed_on AS (INSERT INTO failed_tasks_in_agents (task_id, agent_id)"
            " SELECT id, old_agent_id FROM task WHERE old_agent_id IS NOT NULL"
            " ON CONFLICT DO NOTHING)"
        )
    ctes.append(
        "job AS (SELECT id, state, time_started, time_finished,"
        " completion_notify_sent FROM jobs"
        " WHERE id = (SELECT job_id FROM task) FOR UPDATE)"
    )
    columns = ", ".join(f"job.{column}" for column in _JOB)
    return f"WITH {', '.join(ctes)} SELECT task.*, {columns} FROM task CROSS JOIN job"


def _sqlite_change(kind: str) -> str:
    """Statement 1 of a state change on SQLite: the UPDATE, job and counts.

    The transaction holds the database's write lock from its start (the
    ``IMMEDIATE`` mode of the settings), so the counts it reads are final.
    They leave this task out (its new state comes with the row), and come
    in one pass over the job's other tasks, as a JSON array (JSON1, which
    JSONField needs too): a count per work state, the earliest start, the
    latest end.
    """
    job = ", ".join(
        f"(SELECT jobs.{column} FROM jobs WHERE jobs.id = tasks.job_id)"
        for column in _JOB
    )
    counts = ", ".join(
        f"COUNT(*) FILTER (WHERE other.state = '{state}')" for state in WorkState.values
    )
    return (
        f"{_update(kind)}, {job}, (SELECT json_array({counts},"
        " MIN(other.time_started), MAX(other.time_finished)) FROM tasks other"
        " WHERE other.job_id = tasks.job_id AND other.id <> tasks.id)"
    )


@cache
def _sql(vendor: str, kind: str) -> str:
    """The statement that applies a report of ``kind``, built once."""
    if kind not in _STATE_KINDS:
        return _update(kind)
    if vendor == "postgresql":
        return _postgresql_change(kind)
    return _sqlite_change(kind)


# --- rows --------------------------------------------------------------------------


def _time(value: Any) -> datetime | None:
    """A timestamp as read, aware.

    PostgreSQL reads aware datetimes; SQLite naive ones in UTC for columns,
    and UTC text for aggregates (``MIN``).
    """
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
    return value  # type: ignore[no-any-return]


def _task(row: tuple[Any, ...]) -> Task:
    """A `Task` from the answer's columns, with its job and agent attached."""
    (pk, job_id, agent_id, frame, tile, state, priority, hidden, attempts) = row[:9]
    (failures, progress, sent, error, submitted, started, finished) = row[9:16]
    hostname, title = row[len(_COLUMNS) : _ANSWER_WIDTH]
    if agent_id is not None and not isinstance(agent_id, uuid.UUID):
        agent_id = uuid.UUID(agent_id)
    task = Task(
        id=pk,
        job_id=job_id,
        agent_id=agent_id,
        frame=frame if isinstance(frame, Decimal) else Decimal(str(frame)),
        tile=tile,
        state=state,
        priority=priority,
        hidden=bool(hidden),
        attempts=attempts,
        failures=failures,
        progress=float(progress),
        sent_to_agent=bool(sent),
        last_error=error,
        time_submitted=_time(submitted) or submitted,
        time_started=_time(started),
        time_finished=_time(finished),
    )
    task.job = Job(id=job_id, title=title)
    task.agent = None if agent_id is None else Agent(id=agent_id, hostname=hostname)
    task._state.adding = False
    task._state.db = connection.alias
    return task


# --- applying ----------------------------------------------------------------------


def apply_agent_report(
    *, job_id: int, task_id: int, report: AgentReport
) -> Task | None:
    """Apply ``report`` to task ``task_id`` of job ``job_id``; the task after it.

    Reports that arrive after their attempt ended change nothing, as in
    `farm.services.tasks.update_task` (the agent sends them out of order);
    the task is answered as it is. None when the job has no such task.
    """
    now = timezone.now()
    params: dict[str, Any] = {
        "task": task_id,
        "job": job_id,
        "now": connection.ops.adapt_datetimefield_value(now),
        "progress": report.progress,
        "error": report.last_error,
    }
    sql = _sql(connection.vendor, report.kind)
    if report.kind not in _STATE_KINDS:
        with connection.cursor() as cursor:
            row, _ = _changed_or_as_is(cursor, sql, params)
        return None if row is None else _task(row)
    with transaction.atomic(), connection.cursor() as cursor:
        if report.kind == "failed" and connection.vendor != "postgresql":
            # Before the UPDATE, which may requeue the task without it.
            cursor.execute(_SQLITE_FAILED_ON, params)
        row, changed = _changed_or_as_is(cursor, sql, params)
        if row is None:
            return None
        task = _task(row)
        if changed:
            _after_change(cursor, report.kind, task, row, params, now)
    return task


def _changed_or_as_is(
    cursor: Any, sql: str, params: dict[str, Any]
) -> tuple[tuple[Any, ...] | None, bool]:
    """The row ``sql`` changed and True; else the task as it is and False.

    The guards of ``sql`` refused the report (it came after its attempt
    ended) when the task exists but nothing changed; None for no such task.
    """
    cursor.execute(sql, params)
    row = cursor.fetchone()
    if row is not None:
        return row, True
    cursor.execute(_SELECT_TASK, params)
    return cursor.fetchone(), False


def _after_change(
    cursor: Any,
    kind: str,
    task: Task,
    row: tuple[Any, ...],
    params: dict[str, Any],
    now: datetime,
) -> None:
    """The agent's last success, the job's roll-up and the signals of a change."""
    postgresql = connection.vendor == "postgresql"
    job_state, job_started, job_finished, notify_sent = (
        row[-len(_JOB) :]
        if postgresql
        else row[_ANSWER_WIDTH : _ANSWER_WIDTH + len(_JOB)]
    )
    if kind == "done" and task.agent_id is not None and not postgresql:
        cursor.execute(
            "UPDATE agents SET last_success_on = %(now)s WHERE id = %(agent)s",
            {**params, "agent": row[2]},
        )
    if kind in _EVENTS:
        # Counted in memory after the commit: no query (task_events).
        task_events.record(_EVENTS[kind], 1, job_id=task.job_id)
    if job_state != WorkState.PAUSED:
        if postgresql:
            cursor.execute(_PG_COUNTS, params)
            counts = dict.fromkeys(WorkState.values, 0)
            starts, ends = [], []
            for state, count, started, finished in cursor.fetchall():
                counts[state] = count
                starts.append(started)
                ends.append(finished)
        else:
            *numbers, first_started, last_finished = json.loads(
                row[_ANSWER_WIDTH + len(_JOB)]
            )
            counts = dict(zip(WorkState.values, numbers, strict=True))
            counts[task.state] += 1
            starts = [_time(first_started), task.time_started]
            ends = [_time(last_finished), task.time_finished]
        rolled = roll_up_job(
            state=job_state,
            time_started=_time(job_started),
            time_finished=_time(job_finished),
            notify_sent=bool(notify_sent),
            counts=counts,
            first_started=min((t for t in starts if t is not None), default=None),
            last_finished=max((t for t in ends if t is not None), default=None),
            now=now,
        )
        if rolled is not None:
            # The row is locked: the mail is claimed here, exactly once.
            claim = rolled.ended and rolled.state != job_state and not notify_sent
            adapt = connection.ops.adapt_datetimefield_value
            cursor.execute(
                _SET_JOB,
                {
                    "job": task.job_id,
                    "state": rolled.state,
                    "started": adapt(rolled.time_started),
                    "finished": adapt(rolled.time_finished),
                    "sent": rolled.notify_sent or claim,
                },
            )
            if claim:
                notify_jobs_ended([task.job_id])
    if kind != "running":
        notify_work_changed(f"task {kind}")
