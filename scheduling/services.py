"""One scheduler tick: load a snapshot of the farm, plan, apply the plan.

`load_snapshot` reads what `scheduling.algorithm.plan` decides on in a fixed
number of queries (eleven), whatever the number of agents, queues, jobs and
tasks: plain ``values_list`` rows, no model instances, no query per row.
`apply_plan` writes the plan back with row locks and one set-based
conditional UPDATE, in two statements per chunk of up to 500 assignments (raw
SQL, PostgreSQL and SQLite variants), so that two ticks running at once (two
workers, two hosts) never give one task to two agents nor two assignments to
one agent. `run_tick` does both; the Celery task ``scheduling.assign_tasks``
and ``manage.py assign_tasks`` call it.

Neither depends on PostgreSQL's table statistics being there: on a farm just
set up (no ANALYZE yet, or tables analysed while empty) the planner guesses,
and the statements are written so that every plan it may pick reads each row
a bounded number of times (tasks by primary key or by lists of ids, no join
of tasks with jobs or with the plan that a guess could turn into a product).

Measured with ``benchmarks/tick.py`` on PostgreSQL: a 5,000 agent farm with
100,000 queued tasks ticks in 0.77 s best, 0.93 s median (target: 1 s), in
51 statements; the first tick of a fresh farm of 500 agents and 12,000 new
tasks (``tick.py fresh``) in 0.08 to 0.2 s (8 to 17 s before, with tables
analysed while empty), 0.2 to 0.6 s with four schedulers at once.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, F, Lookup, OuterRef, QuerySet
from django.db.models.expressions import Combinable

from farm.choices import ACTIVE_WORK_STATES, AVAILABLE_AGENT_STATES, WorkState
from farm.models import (
    Agent,
    Job,
    JobQueue,
    JobSoftwareRequirement,
    JobTagRequirement,
    JobTypeSoftwareRequirement,
    Task,
)
from pyfarm_site.conf import farm_config
from scheduling.algorithm import (
    AgentSnapshot,
    Assignment,
    JobSnapshot,
    Plan,
    QueueSnapshot,
    Snapshot,
    SoftwareRequirement,
    TaskSnapshot,
    plan,
)
from scheduling.tasks.sending import send_assignment

__all__ = [
    "AssignmentLine",
    "TickResult",
    "apply_plan",
    "describe_assignments",
    "load_snapshot",
    "run_tick",
]

logger = logging.getLogger(__name__)

_AVAILABLE = sorted(AVAILABLE_AGENT_STATES)


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


class InIdList(Lookup):  # type: ignore[type-arg]
    """``column`` is one of a list of ids, given as one parameter.

    ``InIdList(F("job_id"), [1, 2, 3])``: an array on PostgreSQL (``= ANY``),
    a JSON array on SQLite (``IN json_each``). Unlike ``__in``, it takes one
    parameter whatever the list's length (SQLite limits them), and lets
    PostgreSQL test each row against a hashed list: one pass over the rows
    whatever the plan.
    """

    lookup_name = "in_id_list"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        """The test, with the list as its one parameter."""
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids = [int(value) for value in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, ids]
        return (
            f"{lhs} IN (SELECT value FROM json_each(%s))",
            [*lhs_params, json.dumps(ids)],
        )


def _idle_agents() -> QuerySet[Agent]:
    """Agents that may get work: online or running, with no open task.

    An open task is a queued task assigned to the agent (sent or about to
    be) or a running one; as in the original, such an agent gets nothing
    more until it is done.
    """
    # ``agent__isnull`` changes nothing but the plan: PostgreSQL then reads
    # the assigned tasks through an index instead of hashing every queued one.
    open_tasks = Task.objects.filter(
        agent=OuterRef("pk"), agent__isnull=False, state__in=ACTIVE_WORK_STATES
    )
    return Agent.objects.filter(state__in=_AVAILABLE).filter(~Exists(open_tasks))


def _runnable_jobs() -> QuerySet[Job]:
    """Jobs the planner may consider.

    Queued or running (so not paused), not hidden, not flagged for deletion.
    """
    return Job.objects.filter(
        state__in=ACTIVE_WORK_STATES, hidden=False, to_be_deleted=False
    )


def _parents_done() -> Combinable:
    """True for a job (``OuterRef("pk")``) whose parent jobs are all done."""
    blocking = Job.parents.through.objects.filter(from_job=OuterRef("pk")).exclude(
        to_job__state=WorkState.DONE
    )
    return ~Exists(blocking)


def _capacity(
    cpus: int,
    ram: int,
    free_ram: int,
    cpu_allocation: float,
    ram_allocation: float,
    *,
    use_total_ram: bool,
) -> tuple[float, int]:
    """An idle agent's cpus and RAM (MB) that work may use.

    ``cpu_allocation`` and ``ram_allocation`` are the shares of the installed
    cpus and RAM that work may take. The RAM is further bounded by what the
    agent last reported free, unless ``use_total_ram_for_scheduling``. Only
    idle agents are loaded, so no running work is left to subtract.
    """
    ram_cap = math.floor(ram * ram_allocation)
    usable_ram = ram_cap if use_total_ram else min(free_ram, ram_cap)
    return cpus * cpu_allocation, max(usable_ram, 0)


def _load_agents(idle: QuerySet[Agent]) -> tuple[AgentSnapshot, ...]:
    """Idle agents with their capacity, tags and software (three queries)."""
    use_total_ram = bool(farm_config("use_total_ram_for_scheduling"))
    rows = list(
        idle.order_by().values_list(
            "pk", "cpus", "ram", "free_ram", "cpu_allocation", "ram_allocation"
        )
    )
    idle_ids = idle.order_by().values("pk")
    tags: dict[str, set[str]] = {}
    for agent_id, tag in (
        Agent.tags.through.objects.filter(agent_id__in=idle_ids)
        .order_by()
        .values_list("agent_id", "tag__tag")
    ):
        tags.setdefault(str(agent_id), set()).add(tag)
    software: dict[str, set[tuple[str, int]]] = {}
    for agent_id, name, rank in (
        Agent.software_versions.through.objects.filter(agent_id__in=idle_ids)
        .order_by()
        .values_list(
            "agent_id", "softwareversion__software__software", "softwareversion__rank"
        )
    ):
        software.setdefault(str(agent_id), set()).add((name, rank))
    agents = []
    for pk, cpus, ram, reported_ram, cpu_allocation, ram_allocation in rows:
        key = str(pk)
        free_cpus, free_ram = _capacity(
            cpus,
            ram,
            reported_ram,
            cpu_allocation,
            ram_allocation,
            use_total_ram=use_total_ram,
        )
        agents.append(
            AgentSnapshot(
                id=key,
                cpus=cpus,
                free_cpus=free_cpus,
                total_ram=ram,
                free_ram=free_ram,
                idle=True,
                tags=frozenset(tags.get(key, ())),
                software=frozenset(software.get(key, ())),
            )
        )
    return tuple(agents)


def _busy_agents(
    parents: dict[int, int | None],
) -> tuple[dict[int, int], dict[int, int]]:
    """Distinct busy agents per job and per queue subtree (one query).

    An agent counts for a job when it is online or running and has an open
    task of the job; it counts for a queue when that job is in the queue or
    anywhere below it (``parents``: queue id -> parent id). One grouped
    query gives the (job, queue, agent) triples; the sums are made here.
    """
    triples = (
        Task.objects.filter(
            state__in=ACTIVE_WORK_STATES,
            agent__isnull=False,
            agent__state__in=_AVAILABLE,
        )
        .order_by()
        .values_list("job_id", "job__queue_id", "agent_id")
        .distinct()
    )
    per_job: dict[int, set[object]] = {}
    per_queue: dict[int, set[object]] = {}
    for job_id, job_queue_id, agent_id in triples:
        per_job.setdefault(job_id, set()).add(agent_id)
        queue_id: int | None = job_queue_id
        seen: set[int] = set()
        while queue_id is not None and queue_id not in seen:
            seen.add(queue_id)  # a cycle in bad data must not loop forever
            per_queue.setdefault(queue_id, set()).add(agent_id)
            queue_id = parents.get(queue_id)
    return (
        {job_id: len(agents) for job_id, agents in per_job.items()},
        {queue_id: len(agents) for queue_id, agents in per_queue.items()},
    )


def _merge_software(
    requirements: Iterable[tuple[str, int | None, int | None]],
) -> tuple[SoftwareRequirement, ...]:
    """One requirement per software, the intersection of the bounds given.

    A job runs one version of a software, so that version must satisfy the
    job type version's bounds and the job's own at once.
    """
    bounds: dict[str, tuple[int | None, int | None]] = {}
    for name, low, high in requirements:
        if name in bounds:
            old_low, old_high = bounds[name]
            low = (
                old_low
                if low is None
                else low
                if old_low is None
                else max(low, old_low)
            )
            high = (
                old_high
                if high is None
                else high
                if old_high is None
                else min(high, old_high)
            )
        bounds[name] = (low, high)
    return tuple(
        SoftwareRequirement(name, low, high)
        for name, (low, high) in sorted(bounds.items())
    )


def _load_jobs(
    jobs: QuerySet[Job], job_agents: dict[int, int]
) -> tuple[JobSnapshot, ...]:
    """Runnable jobs with requirements, tasks and failed-on agents (six queries).

    Tasks are loaded only for jobs whose parents are all done: the others
    are listed with ``parents_done`` False and no tasks, as they get nothing.
    """
    rows = list(
        jobs.order_by().values(
            "pk",
            "queue_id",
            "priority",
            "weight",
            "minimum_agents",
            "maximum_agents",
            "state",
            "time_submitted",
            "cpus",
            "ram",
            "batch",
            "by",
            "jobtype_version_id",
            "jobtype_version__max_batch",
            "jobtype_version__batch_contiguous",
            parents_done=_parents_done(),
        )
    )
    job_ids = jobs.order_by().values("pk")
    ready_ids = [row["pk"] for row in rows if row["parents_done"]]

    required: dict[int, set[str]] = {}
    forbidden: dict[int, set[str]] = {}
    for job_id, tag, negate in (
        JobTagRequirement.objects.filter(job_id__in=job_ids)
        .order_by()
        .values_list("job_id", "tag__tag", "negate")
    ):
        (forbidden if negate else required).setdefault(job_id, set()).add(tag)

    software_columns = ("software__software", "min_version__rank", "max_version__rank")
    job_software: dict[int, list[tuple[str, int | None, int | None]]] = {}
    for job_id, *requirement in (
        JobSoftwareRequirement.objects.filter(job_id__in=job_ids)
        .order_by()
        .values_list("job_id", *software_columns)
    ):
        job_software.setdefault(job_id, []).append(tuple(requirement))  # type: ignore[arg-type]
    version_software: dict[int, list[tuple[str, int | None, int | None]]] = {}
    for version_id, *requirement in (
        JobTypeSoftwareRequirement.objects.filter(
            jobtype_version_id__in=jobs.order_by().values("jobtype_version_id")
        )
        .order_by()
        .values_list("jobtype_version_id", *software_columns)
    ):
        version_software.setdefault(version_id, []).append(tuple(requirement))  # type: ignore[arg-type]

    # The tasks are read from one table, by a list of job ids: no join whose
    # plan a table without statistics could turn into tasks x jobs.
    runnable_tasks = Task.objects.filter(
        InIdList(F("job_id"), ready_ids),
        state=WorkState.QUEUED,
        agent__isnull=True,
        hidden=False,
    )
    failed_sets: dict[int, set[str]] = {}
    for task_id, agent_id in (
        Task.failed_in_agents.through.objects.filter(
            InIdList(F("task__job_id"), ready_ids),
            task__state=WorkState.QUEUED,
            task__agent__isnull=True,
            task__hidden=False,
        )
        .order_by()
        .values_list("task_id", "agent_id")
    ):
        failed_sets.setdefault(task_id, set()).add(str(agent_id))
    failed_on = {task_id: frozenset(agents) for task_id, agents in failed_sets.items()}
    # The hot loop of a large farm (one pass per runnable task): positional
    # arguments and one shared empty set keep it to the object's creation.
    never: frozenset[str] = frozenset()
    tasks: dict[int, list[TaskSnapshot]] = {}
    for task_id, job_id, frame, tile in runnable_tasks.order_by().values_list(
        "pk", "job_id", "frame", "tile"
    ):
        job_tasks = tasks.get(job_id)
        if job_tasks is None:
            job_tasks = tasks[job_id] = []
        job_tasks.append(
            TaskSnapshot(task_id, frame, tile, failed_on.get(task_id, never))
        )

    snapshots = []
    for row in rows:
        job_id = row["pk"]
        snapshots.append(
            JobSnapshot(
                id=job_id,
                queue_id=row["queue_id"],
                priority=row["priority"],
                weight=row["weight"],
                minimum_agents=row["minimum_agents"],
                maximum_agents=row["maximum_agents"],
                assigned_agents=job_agents.get(job_id, 0),
                state=row["state"],
                time_submitted=row["time_submitted"].timestamp(),
                cpus=row["cpus"],
                ram=row["ram"],
                batch=row["batch"],
                max_batch=row["jobtype_version__max_batch"],
                batch_contiguous=row["jobtype_version__batch_contiguous"],
                by=Decimal(row["by"]),
                required_tags=frozenset(required.get(job_id, ())),
                forbidden_tags=frozenset(forbidden.get(job_id, ())),
                software=_merge_software(
                    [
                        *version_software.get(row["jobtype_version_id"], ()),
                        *job_software.get(job_id, ()),
                    ]
                ),
                parents_done=row["parents_done"],
                tasks=tuple(tasks.get(job_id, ())),
            )
        )
    return tuple(snapshots)


def load_snapshot(job_ids: Collection[int] | None = None) -> Snapshot:
    """What one tick decides on, read in eleven queries whatever the farm's size.

    ``job_ids`` narrows the jobs to those (the explainer asks about one job;
    a tick passes nothing): agents and queues are always the whole farm's.

    Agents: the idle ones (`_idle_agents`) with their capacity after the
    allocation factors, tags and software ranks. Queues: the whole tree with
    the distinct busy agents of each subtree. Jobs: the runnable ones (queued
    or running, not hidden, not flagged for deletion; paused jobs are left
    out), with their merged requirements, busy agent counts and, when their
    parents are done, their queued unassigned visible tasks with the agents
    each already failed on.
    """
    queue_rows = list(
        JobQueue.objects.order_by().values(
            "pk", "parent_id", "priority", "weight", "minimum_agents", "maximum_agents"
        )
    )
    job_agents, queue_agents = _busy_agents(
        {row["pk"]: row["parent_id"] for row in queue_rows}
    )
    queues = tuple(
        QueueSnapshot(
            id=row["pk"],
            parent_id=row["parent_id"],
            priority=row["priority"],
            weight=row["weight"],
            minimum_agents=row["minimum_agents"],
            maximum_agents=row["maximum_agents"],
            assigned_agents=queue_agents.get(row["pk"], 0),
        )
        for row in queue_rows
    )
    return Snapshot(
        agents=_load_agents(_idle_agents()),
        queues=queues,
        jobs=_load_jobs(
            _runnable_jobs()
            if job_ids is None
            else _runnable_jobs().filter(pk__in=list(job_ids)),
            job_agents,
        ),
        prefer_running_jobs=bool(farm_config("queue_prefer_running_jobs")),
    )


# --------------------------------------------------------------------------
# Applying
# --------------------------------------------------------------------------


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
    """A list of ids as one parameter: an array, or a JSON array on SQLite."""
    return json.dumps(values) if connection.vendor == "sqlite" else list(values)


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
        params["task_agents"] = task_agents
        params["task_jobs"] = task_jobs
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
    the next tick plans again. After the commit, each agent that got work is
    sent its tasks (``send_assignment``, once per agent).
    """
    applied: list[Assignment] = []
    for chunk in _chunks(plan):
        try:
            with transaction.atomic():
                claimed = _claim(chunk)
                for assignment in claimed:
                    agent_id = assignment.agent_id
                    transaction.on_commit(
                        lambda agent_id=agent_id: send_assignment.delay(agent_id)  # type: ignore[misc]
                    )
        except _PartialClaimError:
            logger.warning("a chunk of %d assignments was rolled back", len(chunk))
            continue
        applied.extend(claimed)
    return applied


# --------------------------------------------------------------------------
# A tick
# --------------------------------------------------------------------------


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block.

    A large farm's tick creates some 10^5 small objects (snapshot rows, the
    planner's lists) and frees them together at its end. Each 700 new
    objects start a collection, and the older generations are walked again
    and again as the snapshot grows: a third of the load time, for nothing,
    as these objects hold no reference cycles. Reference counting still
    frees everything; the collector is turned back on (if it was on) and
    catches up on its next run.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class TickResult:
    """What one tick saw and did, for logs, the command and the Celery result.

    Times are in milliseconds. ``planned`` is the plan, ``applied`` what was
    written (nothing with ``dry_run``).
    """

    dry_run: bool
    agents: int
    jobs: int
    tasks: int
    planned: list[Assignment] = field(default_factory=list)
    applied: list[Assignment] = field(default_factory=list)
    load_ms: float = 0.0
    plan_ms: float = 0.0
    apply_ms: float = 0.0

    @property
    def skipped(self) -> int:
        """Planned assignments that were not applied (0 on a dry run)."""
        return 0 if self.dry_run else len(self.planned) - len(self.applied)

    def as_dict(self) -> dict[str, Any]:
        """The counts and times as JSON-serialisable primitives."""
        data = asdict(self)
        for key in ("planned", "applied"):
            data[key] = len(data[key])
        data["skipped"] = self.skipped
        return data


def run_tick(*, dry_run: bool = False) -> TickResult:
    """Load the farm, plan, and apply the plan unless ``dry_run``.

    Safe to run concurrently with itself: `apply_plan` skips what another
    tick took meanwhile, which the next tick plans again.
    """
    with _collector_paused():
        started = time.perf_counter()
        snapshot = load_snapshot()
        loaded = time.perf_counter()
        decided = plan(snapshot)
        planned = time.perf_counter()
        applied = [] if dry_run else apply_plan(decided)
        finished = time.perf_counter()
    result = TickResult(
        dry_run=dry_run,
        agents=len(snapshot.agents),
        jobs=len(snapshot.jobs),
        tasks=sum(len(job.tasks) for job in snapshot.jobs),
        planned=list(decided),
        applied=applied,
        load_ms=round((loaded - started) * 1000, 3),
        plan_ms=round((planned - loaded) * 1000, 3),
        apply_ms=round((finished - planned) * 1000, 3),
    )
    logger.info(
        "tick%s: %d idle agents, %d jobs, %d tasks; %d planned, %d applied, "
        "%d skipped; load %.1f ms, plan %.1f ms, apply %.1f ms",
        " (dry run)" if dry_run else "",
        result.agents,
        result.jobs,
        result.tasks,
        len(result.planned),
        len(result.applied),
        result.skipped,
        result.load_ms,
        result.plan_ms,
        result.apply_ms,
    )
    return result


@dataclass(frozen=True)
class AssignmentLine:
    """An assignment in words: agent host name, job title and task frames."""

    hostname: str
    job_title: str
    frames: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.hostname} -> {self.job_title}: {', '.join(self.frames)}"


def _frame_text(frame: Decimal, tile: int | None) -> str:
    """A frame without trailing zeros (``10``, ``2.5``), with its tile if any."""
    text = format(frame.normalize(), "f")
    return text if tile is None else f"{text} (tile {tile})"


def describe_assignments(assignments: Sequence[Assignment]) -> list[AssignmentLine]:
    """Host names, job titles and frames of assignments, in three queries."""
    hostnames = {
        str(pk): hostname
        for pk, hostname in Agent.objects.filter(
            pk__in={a.agent_id for a in assignments}
        )
        .order_by()
        .values_list("pk", "hostname")
    }
    titles = dict(
        Job.objects.filter(pk__in={a.job_id for a in assignments})
        .order_by()
        .values_list("pk", "title")
    )
    frames = {
        pk: _frame_text(frame, tile)
        for pk, frame, tile in Task.objects.filter(
            pk__in={pk for a in assignments for pk in a.task_ids}
        )
        .order_by()
        .values_list("pk", "frame", "tile")
    }
    return [
        AssignmentLine(
            hostname=hostnames.get(a.agent_id, a.agent_id),
            job_title=titles.get(a.job_id, str(a.job_id)),
            frames=tuple(frames.get(pk, f"task {pk}") for pk in a.task_ids),
        )
        for a in assignments
    ]
