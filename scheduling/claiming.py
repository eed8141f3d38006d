"""Applying a plan: the claim of planned tasks by their agents, in raw SQL.

`apply_plan` writes the plan back with row locks and one set-based
conditional UPDATE, in two statements per chunk of up to 500 assignments (raw
SQL, PostgreSQL and SQLite variants), so that two ticks running at once (two
workers, two hosts) never give one task to two agents nor two assignments to
one agent. After each chunk's commit, one message asks the Celery worker to
send the chunk's agents their tasks.

Like the loading, the statements do not depend on PostgreSQL's table
statistics: each reads the rows it needs a bounded number of times whatever
plan the database picks (see the comment above `_SOURCES`).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, transaction

from farm.choices import AVAILABLE_AGENT_STATES, WorkState
from scheduling.algorithm import Assignment, Plan
from scheduling.tasks.sending import send_assignments

__all__ = ["CHUNK_ASSIGNMENTS", "CHUNK_TASKS", "apply_plan"]

logger = logging.getLogger(__name__)

_AVAILABLE = sorted(AVAILABLE_AGENT_STATES)

#: Assignments applied per transaction, and their tasks at most: bounds the
#: rows locked at once and for how long (a chunk's transaction takes some tens
#: of milliseconds, which is all an agent's own update may have to wait). The
#: statements take a fixed number of parameters whatever the chunk's size.
CHUNK_ASSIGNMENTS = 500
CHUNK_TASKS = 5000


class _PartialClaimError(Exception):
    """Raised inside a chunk's transaction to roll it back."""


def _chunks(assignments: Iterable[Assignment]) -> Iterable[list[Assignment]]:
    """The assignments in chunks of bounded assignment and task counts."""
    chunk: list[Assignment] = []
    tasks = 0
    for assignment in assignments:
        if chunk and (
            len(chunk) >= CHUNK_ASSIGNMENTS
            or tasks + len(assignment.task_ids) > CHUNK_TASKS
        ):
            yield chunk
            chunk, tasks = [], 0
        chunk.append(assignment)
        tasks += len(assignment.task_ids)
    if chunk:
        yield chunk


# The two statements of a chunk's claim, in raw SQL: the ORM can neither
# join a list of (task, agent, job) rows nor write one value per row in one
# UPDATE without building an expression per row, which cost most of a large
# tick. Every value is a parameter; the rows come as arrays (PostgreSQL) or
# JSON arrays (SQLite), so the statements take a fixed number of parameters
# whatever the chunk's size and cost nothing to adapt. The names are the
# models' fixed ``db_table``s and columns. SQLite needs 3.35 or newer
# (UPDATE ... FROM, RETURNING, MATERIALIZED).
#
# Their plans must not depend on table statistics, which a farm just set up
# has not got yet (autovacuum analyses a table a minute or more after it
# filled). Without them PostgreSQL guesses that a condition such as "queued
# and unassigned" keeps a handful of rows, and a join driven by that guess
# compares every runnable task with every wanted one: with 12,000 tasks and
# 500 agents the claim took seconds, holding the chunk's agents locked all
# along. So the tasks are reached only through their primary key (``= ANY``
# of an array, whose length PostgreSQL knows), every test of their state is
# a value computed per wanted row rather than a condition the planner could
# drive a join with, and each set the statements search (agent ids, busy
# agents, complete assignments) is a list the database can hash. Whatever
# the plan, the work is proportional to the chunk, at worst to the tasks.
_SOURCES = {
    "postgresql": {
        "wanted": (
            "SELECT * FROM unnest(%(task_ids)s::bigint[], %(task_agents)s::uuid[],"
            " %(task_jobs)s::bigint[])"
        ),
        "in_task_ids": "= ANY(%(task_ids)s::bigint[])",
        "in_agent_ids": "= ANY(%(agent_ids)s::uuid[])",
        "lock_agents": "FOR UPDATE OF agents SKIP LOCKED",
        "lock_tasks": "FOR UPDATE OF tasks SKIP LOCKED",
    },
    "sqlite": {
        "wanted": (
            "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
            " json_extract(value, '$[2]') FROM json_each(%(wanted)s)"
        ),
        "in_task_ids": "IN (SELECT value FROM json_each(%(task_ids)s))",
        "in_agent_ids": "IN (SELECT value FROM json_each(%(agent_ids)s))",
        # No row locks: the (IMMEDIATE) transaction itself is the lock.
        "lock_agents": "",
        "lock_tasks": "",
    },
}

_AVAILABLE_IN = ", ".join(f"%(available_{n})s" for n in range(len(_AVAILABLE)))

#: Lock the chunk's agents that are still available, skipping those another
#: tick holds; returns their ids.
_LOCK_AGENTS_SQL = f"""
SELECT agents.id FROM agents
WHERE agents.id {{in_agent_ids}}
  AND agents.state IN ({_AVAILABLE_IN})
{{lock_agents}}
"""

#: Write the assignments whose agent is idle and whose tasks are all still
#: claimable; returns the ids of the tasks written. ``wanted`` is one row per
#: (task, agent, job) of the plan; ``locked`` are the wanted tasks as they
#: are now, locked without waiting (a task another tick holds is missing);
#: an agent is ``busy`` with an open task; an agent's assignment is
#: ``complete`` when every one of its tasks was locked, is still queued,
#: unassigned, visible, of the planned job, and that job still runnable.
#: The UPDATE needs no test of its own on the tasks: they are locked, and
#: were claimable when locked (on SQLite, nothing else writes meanwhile).
_CLAIM_SQL = """
WITH wanted (task_id, agent_id, job_id) AS ({wanted}),
locked AS MATERIALIZED (
    SELECT tasks.id, tasks.job_id, tasks.agent_id, tasks.state, tasks.hidden
    FROM tasks
    WHERE tasks.id {in_task_ids}
    {lock_tasks}
),
busy AS (
    SELECT DISTINCT tasks.agent_id FROM tasks
    WHERE tasks.agent_id {in_agent_ids}
      AND tasks.state IN (%(queued)s, %(running)s)
),
complete AS (
    SELECT wanted.agent_id FROM wanted
    LEFT JOIN locked ON locked.id = wanted.task_id
    LEFT JOIN jobs ON jobs.id = locked.job_id
    GROUP BY wanted.agent_id
    HAVING MIN(
        CASE WHEN locked.job_id = wanted.job_id
              AND locked.state = %(queued)s
              AND locked.agent_id IS NULL
              AND NOT locked.hidden
              AND jobs.state IN (%(queued)s, %(running)s)
              AND NOT jobs.hidden
              AND NOT jobs.to_be_deleted
        THEN 1 ELSE 0 END
    ) = 1
)
UPDATE tasks SET agent_id = wanted.agent_id, sent_to_agent = %(false)s
FROM wanted
WHERE tasks.id = wanted.task_id
  AND wanted.agent_id IN (SELECT agent_id FROM complete)
  AND wanted.agent_id NOT IN (SELECT agent_id FROM busy)
RETURNING tasks.id
"""


def _sources() -> dict[str, str]:
    """The backend-specific SQL fragments of the connection's backend."""
    sources = _SOURCES.get(connection.vendor)
    if sources is None:
        raise NotImplementedError(f"no claim statements for {connection.vendor}")
    return sources


def _id_list(values: Sequence[Any]) -> Any:
    """A list of ids as one parameter: an array literal, or a JSON array on SQLite.

    The ids are numbers or UUIDs as 32 hex digits, which need no quoting
    inside PostgreSQL's array literal (``'{1,2,3}'``, cast by the
    statement): one string is much cheaper for the driver to send than a
    list it would adapt element by element (most of a chunk's client time).
    """
    if connection.vendor == "sqlite":
        return json.dumps(values)
    return "{" + ",".join(map(str, values)) + "}"


def _lock_agents(hex_ids: dict[str, str]) -> set[str]:
    """Lock the agents that are still available; returns their ids.

    ``hex_ids`` maps each agent id to its 32 hex digits: how SQLite stores a
    UUID, and valid input for PostgreSQL's ``uuid``.
    """
    params: dict[str, Any] = {
        f"available_{n}": state for n, state in enumerate(_AVAILABLE)
    }
    params["agent_ids"] = _id_list(list(hex_ids.values()))
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_AGENTS_SQL.format(**_sources()), params)
        rows = cursor.fetchall()
    # PostgreSQL gives UUIDs back, SQLite the 32 hex digits.
    return {str(pk if isinstance(pk, uuid.UUID) else uuid.UUID(pk)) for (pk,) in rows}


def _write_claims(
    candidates: Sequence[Assignment], hex_ids: dict[str, str]
) -> set[int]:
    """Run `_CLAIM_SQL` for these assignments; returns the task ids written."""
    task_ids: list[int] = []
    task_agents: list[str] = []
    task_jobs: list[int] = []
    for assignment in candidates:
        agent_id = hex_ids[assignment.agent_id]
        task_ids.extend(assignment.task_ids)
        task_agents.extend([agent_id] * len(assignment.task_ids))
        task_jobs.extend([assignment.job_id] * len(assignment.task_ids))
    params: dict[str, Any] = {
        "task_ids": _id_list(task_ids),
        "agent_ids": _id_list([hex_ids[a.agent_id] for a in candidates]),
        "queued": WorkState.QUEUED.value,
        "running": WorkState.RUNNING.value,
        "false": False,
    }
    if connection.vendor == "sqlite":
        params["wanted"] = json.dumps(
            list(zip(task_ids, task_agents, task_jobs, strict=True))
        )
    else:
        params["task_agents"] = _id_list(task_agents)
        params["task_jobs"] = _id_list(task_jobs)
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL.format(**_sources()), params)
        return {task_id for (task_id,) in cursor.fetchall()}


def _claim(chunk: Sequence[Assignment]) -> list[Assignment]:
    """Give the chunk's tasks to their agents; returns the assignments applied.

    Runs inside the caller's transaction, in two statements whatever the
    chunk's size. The agent rows are locked first (`_LOCK_AGENTS_SQL`,
    ``SKIP LOCKED``: an agent another tick is assigning right now is left to
    it). The claim (`_CLAIM_SQL`) comes second, as a statement of its own:
    under READ COMMITTED its snapshot is taken after the agents were locked,
    so it sees whatever a tick that held one of them before committed, and
    its check for open tasks cannot miss them. (Checked in the locking
    statement itself it could: that statement's snapshot may predate the
    commit of the tick whose lock it then takes.) It locks the tasks the
    same way, and writes an assignment only if its agent is idle and every
    one of its tasks was locked and claimable: never half a batch. Nothing
    ever waits for a lock, so two ticks cannot deadlock. On SQLite, which
    has no row locks, the (IMMEDIATE) transaction itself is the lock.
    """
    hex_ids = {a.agent_id: uuid.UUID(a.agent_id).hex for a in chunk}
    locked_agents = _lock_agents(hex_ids)
    if not locked_agents:
        return []
    # One batch per agent and one agent per task, whatever the plan says.
    candidates: list[Assignment] = []
    seen_agents: set[str] = set()
    seen_tasks: set[int] = set()
    for assignment in chunk:
        agent_id, batch = assignment.agent_id, set(assignment.task_ids)
        if (
            batch
            and agent_id in locked_agents
            and agent_id not in seen_agents
            and not batch & seen_tasks
        ):
            candidates.append(assignment)
            seen_agents.add(agent_id)
            seen_tasks |= batch
    if not candidates:
        return []
    written = _write_claims(candidates, hex_ids)
    claimed = [
        assignment for assignment in candidates if assignment.task_ids[0] in written
    ]
    expected = {task_id for assignment in claimed for task_id in assignment.task_ids}
    if written != expected:
        # Cannot happen while the rows are locked; never leave half a batch.
        raise _PartialClaimError
    return claimed


def apply_plan(plan: Plan | Sequence[Assignment]) -> list[Assignment]:
    """Write the planned assignments; returns those that were applied.

    Chunks of assignments are applied in one transaction each (`_claim`):
    two statements per chunk of up to `CHUNK_ASSIGNMENTS`, none per
    assignment or task. An assignment whose agent is locked by another tick,
    no longer available or busy, or one of whose tasks was taken, hidden or
    whose job stopped being runnable since the snapshot, is skipped whole;
    the next tick plans again. After each chunk's commit, its agents are
    sent their tasks: one message for the chunk (``send_assignments``),
    whatever the number of agents in it.
    """
    applied: list[Assignment] = []
    for chunk in _chunks(plan):
        try:
            with transaction.atomic():
                claimed = _claim(chunk)
                if claimed:
                    agent_ids = [assignment.agent_id for assignment in claimed]
                    transaction.on_commit(
                        lambda agent_ids=agent_ids: send_assignments.delay(agent_ids)  # type: ignore[misc]
                    )
        except _PartialClaimError:
            logger.warning("a chunk of %d assignments was rolled back", len(chunk))
            continue
        applied.extend(claimed)
    return applied
