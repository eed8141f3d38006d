"""The planner's input and output: plain frozen dataclasses, no Django.

`scheduling.snapshot.load_snapshot` fills a `Snapshot`; `plan` returns a
`Plan` of `Assignment`s, which `scheduling.claiming.apply_plan` writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

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
]


#: The job states the planner hands work out for; any other state is skipped.
QUEUED = "queued"
RUNNING = "running"
_RUNNABLE_STATES = frozenset({QUEUED, RUNNING})


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

    ``task_count`` (None: use ``tasks``) plans the job on the number of its
    runnable tasks alone, without their rows: the planner then gives each
    agent a batch of ``min(batch, max_batch)`` tasks (fewer for the last),
    in ``Assignment.count``, and the tick picks the tasks afterwards, in
    frame, tile and id order (`scheduling.snapshot.load_batches`). That is
    the plan the rows would give when none of the tasks failed on an agent
    and, with ``batch_contiguous``, each batch's frames follow each other,
    which the tick checks once it has the rows.
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
    task_count: int | None = None

    @property
    def batch_limit(self) -> int:
        """The most tasks one agent gets at once: ``min(batch, max_batch)``."""
        limit = max(self.batch, 1)
        if self.max_batch is not None:
            limit = min(limit, max(self.max_batch, 1))
        return limit

    @property
    def runnable(self) -> int:
        """The number of runnable tasks, counted or listed."""
        return len(self.tasks) if self.task_count is None else self.task_count


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one tick decides on."""

    agents: tuple[AgentSnapshot, ...] = ()
    queues: tuple[QueueSnapshot, ...] = ()
    jobs: tuple[JobSnapshot, ...] = ()
    prefer_running_jobs: bool = True


@dataclass(frozen=True, slots=True)
class Assignment:
    """One batch: these tasks of this job go to this agent.

    For a job planned on its task count (`JobSnapshot.task_count`),
    ``task_ids`` is empty and ``count`` says how many of its tasks the batch
    takes, until the tick picks them (`scheduling.snapshot.load_batches`).
    """

    agent_id: str
    job_id: int
    task_ids: tuple[int, ...]
    count: int = 0


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
