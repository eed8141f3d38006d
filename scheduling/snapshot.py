"""Loading what a tick decides on: a snapshot of the farm in eleven queries.

`load_snapshot` reads what `scheduling.algorithm.plan` decides on in a fixed
number of queries (eleven), whatever the number of agents, queues, jobs and
tasks: plain ``values_list`` rows, no model instances, no query per row.
The tick (`scheduling.tick`) and the explainer (`scheduling.explain`) call it.

It does not depend on PostgreSQL's table statistics being there: on a farm
just set up (no ANALYZE yet, or tables analysed while empty) the planner
guesses, and the queries are written so that every plan it may pick reads
each row a bounded number of times (tasks by primary key or by lists of ids,
no join of tasks with jobs that a guess could turn into a product).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Collection, Iterable
from decimal import Decimal
from itertools import pairwise
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, F, Lookup, OuterRef, QuerySet
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
)

__all__ = ["load_batches", "load_snapshot", "with_task_rows"]

_AVAILABLE = sorted(AVAILABLE_AGENT_STATES)


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


def _runnable_tasks(job_ids: list[int]) -> QuerySet[Task]:
    """The runnable tasks of these jobs: queued, unassigned, visible.

    Read from one table, by a list of job ids: no join whose plan a table
    without statistics could turn into tasks x jobs.
    """
    return Task.objects.filter(
        InIdList(F("job_id"), job_ids),
        state=WorkState.QUEUED,
        agent__isnull=True,
        hidden=False,
    )


def _task_rows(
    job_ids: list[int], failed_on: dict[int, frozenset[str]]
) -> dict[int, list[TaskSnapshot]]:
    """The runnable tasks of these jobs as snapshots, per job (one query)."""
    # The hot loop of a large farm (one pass per runnable task): positional
    # arguments and one shared empty set keep it to the object's creation.
    never: frozenset[str] = frozenset()
    tasks: dict[int, list[TaskSnapshot]] = {}
    for task_id, job_id, frame, tile in (
        _runnable_tasks(job_ids).order_by().values_list("pk", "job_id", "frame", "tile")
    ):
        job_tasks = tasks.get(job_id)
        if job_tasks is None:
            job_tasks = tasks[job_id] = []
        job_tasks.append(
            TaskSnapshot(task_id, frame, tile, failed_on.get(task_id, never))
        )
    return tasks


def _task_counts(job_ids: list[int]) -> dict[int, int]:
    """The number of runnable tasks of each of these jobs (one query)."""
    return dict(
        _runnable_tasks(job_ids)
        .order_by()
        .values("job_id")
        .annotate(count=Count("pk"))
        .values_list("job_id", "count")
    )


def _load_jobs(
    jobs: QuerySet[Job], job_agents: dict[int, int], *, counts: bool = False
) -> tuple[JobSnapshot, ...]:
    """Runnable jobs with requirements, tasks and failed-on agents (six queries).

    Tasks are loaded only for jobs whose parents are all done: the others
    are listed with ``parents_done`` False and no tasks, as they get nothing.
    With ``counts``, only the jobs some of whose tasks failed on an agent get
    their task rows (a seventh query, when there are any); the others get
    their ``task_count``.
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

    failed_sets: dict[int, set[str]] = {}
    failed_jobs: set[int] = set()
    for task_id, job_id, agent_id in (
        Task.failed_in_agents.through.objects.filter(
            InIdList(F("task__job_id"), ready_ids),
            task__state=WorkState.QUEUED,
            task__agent__isnull=True,
            task__hidden=False,
        )
        .order_by()
        .values_list("task_id", "task__job_id", "agent_id")
    ):
        failed_sets.setdefault(task_id, set()).add(str(agent_id))
        failed_jobs.add(job_id)
    failed_on = {task_id: frozenset(agents) for task_id, agents in failed_sets.items()}
    if counts:
        listed = [job_id for job_id in ready_ids if job_id in failed_jobs]
        task_counts = _task_counts(ready_ids)
        tasks = _task_rows(listed, failed_on) if listed else {}
    else:
        task_counts = {}
        tasks = _task_rows(ready_ids, failed_on)

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
                task_count=(
                    task_counts.get(job_id, 0)
                    if counts and row["parents_done"] and job_id not in tasks
                    else None
                ),
            )
        )
    return tuple(snapshots)


def load_snapshot(
    job_ids: Collection[int] | None = None, *, counts: bool = False
) -> Snapshot:
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

    With ``counts`` (the tick's first phase), a job none of whose runnable
    tasks failed on an agent gets only their number (`JobSnapshot.task_count`):
    the tick loads the rows of the tasks it hands out afterwards
    (`load_batches`). The others get their rows, in a twelfth query when
    there are any.
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
            counts=counts,
        ),
        prefer_running_jobs=bool(farm_config("queue_prefer_running_jobs")),
    )


# The first tasks of each job, in batch order (frame, tile with none first,
# id), as many as the plan hands out: one statement for every job. On
# PostgreSQL one index scan per job (``task_job_frame_idx``), stopped at its
# count; SQLite, which has no LATERAL, numbers each job's runnable tasks.
_FIRST_TASKS_SQL = {
    "postgresql": """
SELECT wanted.job_id, tasks.id, tasks.frame, tasks.tile
FROM unnest(%(job_ids)s::bigint[], %(counts)s::bigint[]) AS wanted (job_id, n)
CROSS JOIN LATERAL (
    SELECT tasks.id, tasks.frame, tasks.tile FROM tasks
    WHERE tasks.job_id = wanted.job_id
      AND tasks.state = %(queued)s
      AND tasks.agent_id IS NULL
      AND NOT tasks.hidden
    ORDER BY tasks.frame, tasks.tile NULLS FIRST, tasks.id
    LIMIT wanted.n
) AS tasks
""",
    "sqlite": """
SELECT job_id, id, frame, tile FROM (
    SELECT tasks.job_id, tasks.id, tasks.frame, tasks.tile, wanted.n,
        ROW_NUMBER() OVER (
            PARTITION BY tasks.job_id ORDER BY tasks.frame, tasks.tile, tasks.id
        ) AS position
    FROM tasks
    JOIN (
        SELECT json_extract(value, '$[0]') AS job_id,
               json_extract(value, '$[1]') AS n
        FROM json_each(%(wanted)s)
    ) AS wanted ON wanted.job_id = tasks.job_id
    WHERE tasks.state = %(queued)s
      AND tasks.agent_id IS NULL
      AND NOT tasks.hidden
)
WHERE position <= n
""",
}


def _first_tasks(wanted: dict[int, int]) -> dict[int, list[TaskSnapshot]]:
    """The first ``wanted[job]`` runnable tasks of each job, in batch order."""
    sql = _FIRST_TASKS_SQL.get(connection.vendor)
    if sql is None:
        raise NotImplementedError(f"no batch statement for {connection.vendor}")
    params: dict[str, Any] = {"queued": WorkState.QUEUED.value}
    if connection.vendor == "postgresql":
        params["job_ids"] = list(wanted)
        params["counts"] = list(wanted.values())
    else:
        params["wanted"] = json.dumps(list(wanted.items()))
    # The frames as the ORM reads them (SQLite stores numbers, not decimals).
    column = Task._meta.get_field("frame").get_col(Task._meta.db_table)
    converters = [
        *connection.ops.get_db_converters(column),
        *column.get_db_converters(connection),
    ]
    tasks: dict[int, list[TaskSnapshot]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    for job_id, task_id, frame, tile in rows:
        for converter in converters:
            frame = converter(frame, column, connection)
        tasks.setdefault(job_id, []).append(TaskSnapshot(task_id, frame, tile))
    for job_tasks in tasks.values():
        job_tasks.sort(key=lambda task: (task.frame, _tile_order(task.tile), task.id))
    return tasks


def _tile_order(tile: int | None) -> int:
    """Tiles in batch order: none first."""
    return -1 if tile is None else tile


def load_batches(snapshot: Snapshot, plan: Plan) -> tuple[Plan, set[int]]:
    """The plan with the tasks of the jobs planned on their count (one query).

    The tick's second phase: each assignment of a job planned on its count
    (`JobSnapshot.task_count`) gets the job's next ``count`` runnable tasks
    in batch order, as the planner would have given them from the rows. One
    statement reads, for all those jobs together, only the tasks handed out.

    Returns the plan and the jobs with ``batch_contiguous`` one of whose
    batches came out with frames that do not follow each other: the planner
    would have cut those batches shorter, so they must be planned again
    from their rows (`with_task_rows`). An assignment whose tasks were taken
    meanwhile is dropped, or gets what is left.
    """
    wanted: dict[int, int] = {}
    for assignment in plan:
        if assignment.count:
            wanted[assignment.job_id] = (
                wanted.get(assignment.job_id, 0) + assignment.count
            )
    if not wanted:
        return plan, set()
    jobs = {job.id: job for job in snapshot.jobs}
    tasks = _first_tasks(wanted)
    taken: dict[int, int] = {}
    irregular: set[int] = set()
    resolved: list[Assignment] = []
    for assignment in plan:
        if not assignment.count:
            resolved.append(assignment)
            continue
        job_id = assignment.job_id
        start = taken.get(job_id, 0)
        taken[job_id] = start + assignment.count
        batch = tasks.get(job_id, [])[start : start + assignment.count]
        if not batch:
            continue
        job = jobs[job_id]
        if job.batch_contiguous and any(
            task.frame != previous.frame + job.by for previous, task in pairwise(batch)
        ):
            irregular.add(job_id)
        resolved.append(
            Assignment(assignment.agent_id, job_id, tuple(task.id for task in batch))
        )
    return Plan(tuple(resolved)), irregular


def with_task_rows(snapshot: Snapshot, job_ids: Collection[int]) -> Snapshot:
    """The snapshot with these jobs' task rows instead of their counts (one query).

    For jobs planned on their count, none of whose tasks had failed on an
    agent: they are read without failed-on agents.
    """
    if not job_ids:
        return snapshot
    rows = _task_rows(sorted(job_ids), {})
    return dataclasses.replace(
        snapshot,
        jobs=tuple(
            dataclasses.replace(job, tasks=tuple(rows.get(job.id, ())), task_count=None)
            if job.id in job_ids
            else job
            for job in snapshot.jobs
        ),
    )
