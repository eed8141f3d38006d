"""The scheduler's decision: which idle agent runs which tasks of which job.

A pure function over plain frozen dataclasses; nothing here imports Django.
``scheduling.services`` loads a :class:`Snapshot` of the farm, calls :func:`plan`
and applies the :class:`Plan` it returns with conditional updates.

Policy (the original PyFarm's, with two fixes):

1. An agent may take a job only if its free cpus and RAM fit the job's (0: none
   required, -1: the whole agent, i.e. an agent that runs nothing), it carries
   every required tag and no forbidden one, some version of each required
   software lies within the requirement's ranks (the job type version's *and*
   the job's own requirements: fix 1, the original ignored the latter), the job
   has a runnable task that never failed on the agent, and neither the job's
   ``maximum_agents`` nor that of any queue above it is reached, counting the
   agents given in this tick.
2. Jobs and queues below their ``minimum_agents`` get agents before anything
   else, the highest priority first.
3. Then the queue tree is walked from its root. The children of a queue (its
   sub-queues and jobs) are taken by priority, highest first; a lower priority
   only gets the agents that nothing of a higher one can use. Within one
   priority, the child with the lowest ``(assigned + given) / weight`` gets the
   next agent, so equal-priority jobs share agents in proportion to their
   weights (fix 2: the original filled one running job before the next).
   Ties go to running jobs when ``prefer_running_jobs``, then to the oldest
   submission, then to the lowest id.
4. An agent gets one batch of one job: up to ``min(batch, max_batch)`` tasks in
   frame then tile order, skipping tasks that failed on it; with
   ``batch_contiguous`` each next frame must be the previous one plus ``by``.

How it runs: the most deserving job is found by walking the tree through one
heap per queue (children keyed by the order above), and it receives the first
free agent that can run it, in an order that keeps specialised agents (more
tags and software) for the jobs that need them. Agents with the same tags and
software form a class, checked once per set of requirements; jobs with the
same requirements share one lazily drawn list of fitting agents, where taken
agents are skipped through a union-find. A tick thus costs about
``O(agents * depth * log(width))`` for the walk, plus sorting the tasks of the
jobs it reaches, plus at most one pass over the agents per distinct set of
requirements; never ``agents x jobs x tasks``. Everything is sorted by explicit
keys ending in ids, so the same input in any order gives the same plan.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain
from operator import attrgetter

__all__ = [
    "QUEUED",
    "RUNNING",
    "AgentSnapshot",
    "Assignment",
    "JobSnapshot",
    "Plan",
    "QueueSnapshot",
    "Snapshot",
    "SoftwareRequirement",
    "TaskSnapshot",
    "plan",
    "resources_fit",
    "software_fit",
    "tags_fit",
]

#: The job states the planner hands work out for; any other state is skipped.
QUEUED = "queued"
RUNNING = "running"
_RUNNABLE_STATES = frozenset({QUEUED, RUNNING})


# --------------------------------------------------------------------------
# Input and output
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SoftwareRequirement:
    """Some version of ``software`` ranked within ``[min_rank, max_rank]``.

    ``None`` leaves that end open.
    """

    software: str
    min_rank: int | None = None
    max_rank: int | None = None


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    """An agent that may receive work in this tick.

    ``free_cpus`` and ``free_ram`` (MB) are what remains after the allocation
    factors and the work already running on it. ``idle`` says it runs nothing,
    which a job asking for the whole agent (cpus or ram -1) needs. ``software``
    holds ``(software name, version rank)`` pairs.
    """

    id: str
    cpus: int = 1
    free_cpus: float = 1
    total_ram: int = 0
    free_ram: int = 0
    idle: bool = True
    tags: frozenset[str] = frozenset()
    software: frozenset[tuple[str, int]] = frozenset()


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """A job queue; ``assigned_agents`` counts the agents busy in its subtree.

    ``parent_id`` None puts it at the top. ``maximum_agents`` None: no cap.
    """

    id: int
    parent_id: int | None = None
    priority: int = 0
    weight: int = 1
    minimum_agents: int | None = None
    maximum_agents: int | None = None
    assigned_agents: int = 0


@dataclass(frozen=True, slots=True)
class TaskSnapshot:
    """A runnable task and the agents it already failed on."""

    id: int
    frame: Decimal
    tile: int | None = None
    failed_on: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class JobSnapshot:
    """A job with its runnable tasks.

    ``assigned_agents`` counts the agents working on it now. ``time_submitted``
    is any ordering key (older first). ``cpus`` and ``ram`` (MB): 0 means none
    required, -1 the whole agent. ``max_batch`` is the job type version's cap
    (None: none). ``software`` holds the job type version's requirements and
    the job's own together. Jobs not queued or running, or whose parents are
    not all done (``parents_done`` False), get nothing.
    """

    id: int
    queue_id: int | None = None
    priority: int = 0
    weight: int = 1
    minimum_agents: int | None = None
    maximum_agents: int | None = None
    assigned_agents: int = 0
    state: str = QUEUED
    time_submitted: float = 0
    cpus: int = 0
    ram: int = 0
    batch: int = 1
    max_batch: int | None = None
    batch_contiguous: bool = False
    by: Decimal = Decimal(1)
    required_tags: frozenset[str] = frozenset()
    forbidden_tags: frozenset[str] = frozenset()
    software: tuple[SoftwareRequirement, ...] = ()
    parents_done: bool = True
    tasks: tuple[TaskSnapshot, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one tick decides on."""

    agents: tuple[AgentSnapshot, ...] = ()
    queues: tuple[QueueSnapshot, ...] = ()
    jobs: tuple[JobSnapshot, ...] = ()
    prefer_running_jobs: bool = True


@dataclass(frozen=True, slots=True)
class Assignment:
    """One batch: these tasks of this job go to this agent."""

    agent_id: str
    job_id: int
    task_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """The assignments of one tick, in the order they were decided."""

    assignments: tuple[Assignment, ...] = ()

    def __iter__(self) -> Iterator[Assignment]:
        """Iterate over the assignments."""
        return iter(self.assignments)

    def __len__(self) -> int:
        """The number of assignments (agents that receive work)."""
        return len(self.assignments)


# --------------------------------------------------------------------------
# Eligibility (public so that an explainer can name the blocking constraint)
# --------------------------------------------------------------------------


def resources_fit(agent: AgentSnapshot, job: JobSnapshot) -> bool:
    """Whether the agent's free cpus and RAM cover the job's needs."""
    return _amount_fits(job.cpus, agent.free_cpus, agent.idle) and _amount_fits(
        job.ram, agent.free_ram, agent.idle
    )


def tags_fit(agent: AgentSnapshot, job: JobSnapshot) -> bool:
    """Whether the agent has every required tag and no forbidden one."""
    return job.required_tags <= agent.tags and job.forbidden_tags.isdisjoint(agent.tags)


def software_fit(agent: AgentSnapshot, job: JobSnapshot) -> bool:
    """Whether every software requirement of the job is met on the agent."""
    return _software_fits(_software_ranks(agent.software), job.software)


def _amount_fits(needed: float, free: float, idle: bool) -> bool:
    """0 needs nothing, a negative amount needs an idle agent, else enough free."""
    if needed == 0:
        return True
    if needed < 0:
        return idle
    return free >= needed


def _software_ranks(
    software: Iterable[tuple[str, int]],
) -> dict[str, list[int]]:
    """Software name -> sorted version ranks."""
    ranks: dict[str, list[int]] = {}
    for name, rank in software:
        ranks.setdefault(name, []).append(rank)
    for values in ranks.values():
        values.sort()
    return ranks


def _software_fits(
    ranks: dict[str, list[int]], requirements: Iterable[SoftwareRequirement]
) -> bool:
    """Whether some rank of each required software is within its bounds."""
    for requirement in requirements:
        available = ranks.get(requirement.software)
        if not available:
            return False
        low = requirement.min_rank
        position = 0 if low is None else bisect_left(available, low)
        if position == len(available):
            return False
        high = requirement.max_rank
        if high is not None and available[position] > high:
            return False
    return True


# --------------------------------------------------------------------------
# The queue tree
# --------------------------------------------------------------------------

# (below a minimum? 0 : 1, -priority, (assigned + given) / weight, tie-break)
_Key = tuple[int, int, float, tuple[int, float, int, int]]
_QUEUE, _JOB = 0, 1


class _Node:
    """What a queue and a job share: their place among their siblings."""

    __slots__ = (
        "assigned",
        "deficit",
        "given",
        "maximum",
        "minimum",
        "priority",
        "tiebreak",
        "weight",
    )

    assigned: int
    deficit: bool
    given: int
    maximum: int | None
    minimum: int
    priority: int
    tiebreak: tuple[int, float, int, int]
    weight: int

    def key(self) -> _Key:
        """The sibling order: minimums, priority, share of weight, tie-break."""
        count = self.assigned + self.given
        ratio = count / self.weight if self.weight > 0 else math.inf
        return (0 if self.deficit else 1, -self.priority, ratio, self.tiebreak)

    def below_maximum(self) -> bool:
        """Whether one more agent stays within ``maximum_agents``."""
        return self.maximum is None or self.assigned + self.given < self.maximum

    def below_minimum(self) -> bool:
        """Whether it has fewer agents than ``minimum_agents``."""
        return self.assigned + self.given < self.minimum


class _Queue(_Node):
    """A queue (or the virtual root) and the heap of its usable children."""

    __slots__ = ("heap",)

    heap: list[tuple[_Key, _Node]]

    def __init__(self, snapshot: QueueSnapshot | None, prefer_running: bool) -> None:
        """Take the queue's figures; None makes the uncapped root."""
        self.heap = []
        self.given = 0
        self.deficit = False
        if snapshot is None:
            self.assigned, self.weight, self.priority = 0, 1, 0
            self.minimum, self.maximum = 0, None
            self.tiebreak = (0, -math.inf, _QUEUE, 0)
            return
        self.assigned = snapshot.assigned_agents
        self.weight = snapshot.weight
        self.priority = snapshot.priority
        self.minimum = snapshot.minimum_agents or 0
        self.maximum = snapshot.maximum_agents
        # Queues have no submission time: at equal share they come before jobs.
        running = 0 if prefer_running and snapshot.assigned_agents > 0 else 1
        self.tiebreak = (running, -math.inf, _QUEUE, snapshot.id)

    def refresh(self) -> None:
        """Recompute the minimum flag: its own or any child's (heap top)."""
        self.deficit = self.below_minimum() or bool(
            self.heap and self.heap[0][0][0] == 0
        )


class _Job(_Node):
    """A job, its tasks in batch order and what this tick took from them."""

    __slots__ = (
        "contiguous",
        "cursor",
        "failed",
        "limit",
        "pool",
        "remaining",
        "snapshot",
        "start",
        "taken",
        "tasks",
    )

    snapshot: JobSnapshot
    tasks: list[TaskSnapshot] | None
    taken: bytearray
    start: int
    remaining: int
    limit: int
    contiguous: bool
    failed: dict[str, int]
    pool: _Pool | None
    cursor: int

    def __init__(self, snapshot: JobSnapshot, prefer_running: bool) -> None:
        """Take the job's figures; its tasks are sorted when first needed."""
        self.snapshot = snapshot
        self.assigned = snapshot.assigned_agents
        self.given = 0
        self.weight = snapshot.weight
        self.priority = snapshot.priority
        self.minimum = snapshot.minimum_agents or 0
        self.maximum = snapshot.maximum_agents
        running = 0 if prefer_running and snapshot.state == RUNNING else 1
        self.tiebreak = (running, snapshot.time_submitted, _JOB, snapshot.id)
        self.deficit = self.below_minimum()
        self.tasks = None
        self.taken = bytearray()
        self.start = 0
        self.remaining = len(snapshot.tasks)
        batch = max(snapshot.batch, 1)
        if snapshot.max_batch is not None:
            batch = min(batch, max(snapshot.max_batch, 1))
        self.limit = batch
        self.contiguous = snapshot.batch_contiguous
        self.failed = {}
        self.pool = None
        self.cursor = 0

    def usable(self) -> bool:
        """Whether it may take one more agent: tasks left, cap not reached."""
        return self.remaining > 0 and self.below_maximum()

    def sorted_tasks(self) -> list[TaskSnapshot]:
        """The tasks by frame, tile and id (sorted on first use only)."""
        if self.tasks is None:
            tasks = self.snapshot.tasks
            try:
                # Fast path: tiles are all None or all numbers within a job.
                self.tasks = sorted(tasks, key=attrgetter("frame", "tile", "id"))
            except TypeError:
                self.tasks = sorted(tasks, key=_task_order)
            self.taken = bytearray(len(self.tasks))
            failed = self.failed
            for task in self.tasks:
                for agent_id in task.failed_on:
                    failed[agent_id] = failed.get(agent_id, 0) + 1
        return self.tasks

    def blocked(self, agent_id: str) -> bool:
        """Whether every task left failed on the agent (true for good once so)."""
        self.sorted_tasks()
        return self.failed.get(agent_id, 0) >= self.remaining

    def _drop(self, position: int) -> None:
        """Mark a task as gone from what is left to hand out."""
        assert self.tasks is not None
        self.taken[position] = 1
        self.remaining -= 1
        failed = self.failed
        for agent_id in self.tasks[position].failed_on:
            failed[agent_id] -= 1

    def batch_for(self, agent_id: str, given_ids: set[int]) -> list[int]:
        """Positions of the tasks the agent would get (empty: none it can run)."""
        tasks = self.sorted_tasks()
        taken = self.taken
        count = len(tasks)
        start = self.start
        while start < count and taken[start]:
            start += 1
        self.start = start
        positions: list[int] = []
        previous: Decimal | None = None
        by = self.snapshot.by
        for position in range(start, count):
            if taken[position]:
                continue
            task = tasks[position]
            if task.id in given_ids:
                # The same task listed twice: it went out already.
                self._drop(position)
                continue
            if agent_id in task.failed_on:
                continue
            if (
                self.contiguous
                and previous is not None
                and (task.frame != previous + by)
            ):
                break
            positions.append(position)
            if len(positions) == self.limit:
                break
            previous = task.frame
        return positions

    def take(self, positions: list[int], given_ids: set[int]) -> tuple[int, ...]:
        """Mark the batch as given and return its task ids."""
        tasks = self.sorted_tasks()
        ids = []
        for position in positions:
            self._drop(position)
            task_id = tasks[position].id
            given_ids.add(task_id)
            ids.append(task_id)
        self.given += 1
        self.deficit = self.below_minimum()
        return tuple(ids)


def _task_order(task: TaskSnapshot) -> tuple[Decimal, int, int]:
    """Batch order: frame, then tile (none first), then id."""
    return (task.frame, -1 if task.tile is None else task.tile, task.id)


# --------------------------------------------------------------------------
# Agents
# --------------------------------------------------------------------------


class _Pool:
    """The free agents that can run jobs of one set of requirements.

    ``members`` lists them in preference order, drawn lazily from ``stream``;
    ``jump`` skips the ones taken since (a union-find with path compression:
    ``jump[p] == p`` means position ``p`` is not known to be taken). Each job
    keeps its own cursor into ``members``, past the agents it can never use.
    """

    __slots__ = ("jump", "members", "stream")

    def __init__(self, stream: Iterator[int]) -> None:
        """Wrap the agent stream."""
        self.members: list[int] = []
        self.jump: list[int] = []
        self.stream = stream

    def first_free(self, start: int, taken: bytearray) -> int:
        """Position of the first agent not taken at or after ``start``; -1: none."""
        members, jump = self.members, self.jump
        position = start
        found = True
        while True:
            if position == len(members):
                drawn = next(self.stream, None)
                if drawn is None:
                    found = False
                    break
                members.append(drawn)
                jump.append(position)
            following = jump[position]
            if following != position:
                position = following
            elif taken[members[position]]:
                jump[position] = position + 1
                position += 1
            else:
                break
        # Path compression: later searches from here land on ``position``.
        step = start
        while step < position:
            following = jump[step]
            jump[step] = position
            step = following
        return position if found else -1


class _Planner:
    """One tick's working state; ``run`` makes the plan."""

    def __init__(self, snapshot: Snapshot) -> None:
        """Index the agents and build the queue tree."""
        self.prefer_running = snapshot.prefer_running_jobs
        self.agents = _ordered_agents(snapshot.agents)
        self.taken = bytearray(len(self.agents))
        self.free = len(self.agents)
        # Agents with equal tags and software form a class, checked once per
        # set of requirements; each class lists its agents in preference order.
        classes: dict[tuple[frozenset[str], frozenset[tuple[str, int]]], int] = {}
        self.class_members: list[list[int]] = []
        self.class_agents: list[AgentSnapshot] = []
        self.class_ranks: list[dict[str, list[int]]] = []
        for index, agent in enumerate(self.agents):
            signature = (frozenset(agent.tags), frozenset(agent.software))
            number = classes.get(signature)
            if number is None:
                number = classes[signature] = len(self.class_members)
                self.class_members.append([])
                self.class_agents.append(agent)
                self.class_ranks.append(_software_ranks(agent.software))
            self.class_members[number].append(index)
        self.cpu_levels = sorted({agent.free_cpus for agent in self.agents})
        self.ram_levels = sorted({agent.free_ram for agent in self.agents})
        self.eligible_classes: dict[object, list[int]] = {}
        self.pools: dict[object, _Pool] = {}
        self.given_ids: set[int] = set()
        self.assignments: list[Assignment] = []
        self.root = self._build_tree(snapshot)

    def run(self) -> Plan:
        """Hand out agents until none is free or nothing can use one."""
        while self.free and self._fill(self.root):
            pass
        return Plan(tuple(self.assignments))

    def _build_tree(self, snapshot: Snapshot) -> _Queue:
        """The root with the queues reachable from it, bottom up.

        A job or queue whose parent is unknown (or part of a cycle) is left
        out: its caps could not be checked.
        """
        queues: dict[int, QueueSnapshot] = {}
        for queue in sorted(snapshot.queues, key=attrgetter("id")):
            queues.setdefault(queue.id, queue)
        child_queues: dict[int | None, list[int]] = {}
        for queue in queues.values():
            child_queues.setdefault(queue.parent_id, []).append(queue.id)
        child_jobs: dict[int | None, list[_Job]] = {}
        seen_jobs: set[int] = set()
        for job in sorted(snapshot.jobs, key=attrgetter("id")):
            if job.id in seen_jobs:
                continue
            seen_jobs.add(job.id)
            if job.state not in _RUNNABLE_STATES or not job.parents_done:
                continue
            job_node = _Job(job, self.prefer_running)
            if job_node.usable():
                child_jobs.setdefault(job.queue_id, []).append(job_node)
        # Breadth first from the root, then build the heaps deepest first.
        order: list[int] = []
        frontier = list(child_queues.get(None, ()))
        while frontier:
            order.extend(frontier)
            frontier = [
                child for parent in frontier for child in child_queues.get(parent, ())
            ]
        nodes: dict[int | None, _Queue] = {None: _Queue(None, self.prefer_running)}
        for queue_id in order:
            nodes[queue_id] = _Queue(queues[queue_id], self.prefer_running)
        bottom_up: list[int | None] = [*reversed(order), None]
        for parent_id in bottom_up:
            node = nodes[parent_id]
            entries: list[tuple[_Key, _Node]] = [
                (job.key(), job) for job in child_jobs.get(parent_id, ())
            ]
            for child_id in child_queues.get(parent_id, ()):
                child = nodes[child_id]
                if child.heap and child.below_maximum():
                    entries.append((child.key(), child))
            heapq.heapify(entries)
            node.heap = entries
            node.refresh()
        return nodes[None]

    def _fill(self, queue: _Queue) -> bool:
        """Give one agent to the most deserving job below ``queue``.

        Children that can use no more agents are dropped from the heap for
        good: agents, tasks and room under the caps only shrink in a tick.
        """
        heap = queue.heap
        while heap:
            child = heapq.heappop(heap)[1]
            if isinstance(child, _Job):
                done = self._assign(child)
                keep = done and child.usable()
            else:
                assert isinstance(child, _Queue)
                done = self._fill(child)
                if done:
                    child.given += 1
                keep = done and bool(child.heap) and child.below_maximum()
                child.refresh()
            if keep:
                heapq.heappush(heap, (child.key(), child))
            if done:
                return True
        return False

    def _assign(self, job: _Job) -> bool:
        """Give the job the first free agent that can run a batch of it."""
        pool = job.pool
        if pool is None:
            pool = job.pool = self._pool(job.snapshot)
        taken = self.taken
        position = job.cursor
        while True:
            position = pool.first_free(position, taken)
            if position < 0:
                return False
            index = pool.members[position]
            agent_id = self.agents[index].id
            if not job.blocked(agent_id):
                batch = job.batch_for(agent_id, self.given_ids)
                if batch:
                    break
                if not job.remaining:
                    return False
            # Every task left failed on this agent: it never fits this job.
            position += 1
            job.cursor = position
        job.cursor = position
        taken[index] = 1
        self.free -= 1
        task_ids = job.take(batch, self.given_ids)
        self.assignments.append(Assignment(agent_id, job.snapshot.id, task_ids))
        return True

    def _pool(self, job: JobSnapshot) -> _Pool:
        """The shared agent pool of the job's requirements."""
        # Needs that no agent tells apart share a pool: round each up to the
        # next free amount some agent has.
        cpus = _round_up(job.cpus, self.cpu_levels)
        ram = _round_up(job.ram, self.ram_levels)
        static = (
            frozenset(job.required_tags),
            frozenset(job.forbidden_tags),
            frozenset(job.software),
        )
        key = (static, cpus, ram)
        pool = self.pools.get(key)
        if pool is None:
            classes = self.eligible_classes.get(static)
            if classes is None:
                classes = self.eligible_classes[static] = [
                    number
                    for number, agent in enumerate(self.class_agents)
                    if tags_fit(agent, job)
                    and _software_fits(self.class_ranks[number], job.software)
                ]
            pool = self.pools[key] = _Pool(self._stream(classes, cpus, ram))
        return pool

    def _stream(self, classes: list[int], cpus: float, ram: float) -> Iterator[int]:
        """Free agents of these classes that fit cpus and ram, best first."""
        if len(classes) == 1:
            members = self.class_members[classes[0]]
        else:
            members = sorted(
                chain.from_iterable(self.class_members[number] for number in classes)
            )
        agents = self.agents
        taken = self.taken
        for index in members:
            if taken[index]:
                continue
            agent = agents[index]
            if _amount_fits(cpus, agent.free_cpus, agent.idle) and _amount_fits(
                ram, agent.free_ram, agent.idle
            ):
                yield index


def _round_up(needed: float, levels: list[float] | list[int]) -> float:
    """The smallest level covering a positive need (inf: none); else -1 or 0."""
    if needed <= 0:
        return -1 if needed < 0 else 0
    position = bisect_left(levels, needed)
    return levels[position] if position < len(levels) else math.inf


def _ordered_agents(agents: Iterable[AgentSnapshot]) -> list[AgentSnapshot]:
    """Distinct agents, least specialised first, then by id.

    Jobs draw agents in this order, so agents with extra tags or software stay
    free as long as possible for the jobs that need them.
    """
    unique: dict[str, AgentSnapshot] = {}
    for agent in sorted(agents, key=lambda agent: agent.id):
        unique.setdefault(agent.id, agent)
    return sorted(
        unique.values(),
        key=lambda agent: (len(agent.tags) + len(agent.software), agent.id),
    )


def plan(snapshot: Snapshot) -> Plan:
    """Decide this tick's assignments: at most one batch per free agent.

    Pure and deterministic: the same snapshot, in any order of its agents,
    queues, jobs and tasks, gives the same plan.
    """
    return _Planner(snapshot).run()
