"""The queue tree the planner walks: queues and jobs as heap-ordered nodes.

Each node is keyed by the policy's order (below a minimum first, then
priority, then ``(assigned + given) / weight``, then the tie-break); a job
node also holds its sorted runnable tasks and hands out batches.
"""

from __future__ import annotations

import math
from decimal import Decimal
from operator import attrgetter

from scheduling.algorithm.agents import _Pool
from scheduling.algorithm.data import RUNNING, JobSnapshot, QueueSnapshot, TaskSnapshot

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
        "counted",
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
    counted: bool
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
        # Planned on its count: batches in order, no task failed anywhere.
        self.counted = snapshot.task_count is not None
        self.remaining = snapshot.runnable
        self.limit = snapshot.batch_limit
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
        if self.counted:
            return False
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
        """Positions of the tasks the agent would get (empty: none it can run).

        A job planned on its count gets the next ``limit`` tasks (fewer for
        the last batch); their positions are placeholders.
        """
        if self.counted:
            return list(range(min(self.limit, self.remaining)))
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
        """Mark the batch as given and return its task ids (none if counted)."""
        if self.counted:
            self.remaining -= len(positions)
            self.given += 1
            self.deficit = self.below_minimum()
            return ()
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
