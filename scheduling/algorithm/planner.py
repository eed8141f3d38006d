"""The allocation itself: `plan` walks the queue tree and hands out agents.

See the package's docstring (`scheduling.algorithm`) for the policy and how
it runs.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from itertools import chain
from operator import attrgetter

from scheduling.algorithm.agents import _ordered_agents, _Pool, _round_up
from scheduling.algorithm.data import (
    _RUNNABLE_STATES,
    AgentSnapshot,
    Assignment,
    JobSnapshot,
    Plan,
    QueueSnapshot,
    Snapshot,
)
from scheduling.algorithm.eligibility import (
    _amount_fits,
    _software_fits,
    _software_ranks,
    tags_fit,
)
from scheduling.algorithm.tree import _Job, _Key, _Node, _Queue

__all__ = ["plan"]


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
        self.assignments.append(
            Assignment(
                agent_id, job.snapshot.id, task_ids, len(batch) if job.counted else 0
            )
        )
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


def plan(snapshot: Snapshot) -> Plan:
    """Decide this tick's assignments: at most one batch per free agent.

    Pure and deterministic: the same snapshot, in any order of its agents,
    queues, jobs and tasks, gives the same plan.
    """
    return _Planner(snapshot).run()
