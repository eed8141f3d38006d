"""The scheduler's decision: which idle agent runs which tasks of which job.

A pure function over plain frozen dataclasses; nothing here imports Django.
``scheduling.snapshot`` loads a :class:`Snapshot` of the farm, the tick calls
:func:`plan`, and ``scheduling.claiming`` applies the :class:`Plan` it returns
with conditional updates.

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

The modules, one responsibility each: ``data`` (the snapshot and plan
dataclasses), ``eligibility`` (whether an agent may run a job), ``tree`` (the
queue tree's nodes), ``agents`` (the agents' order and lazy pools) and
``planner`` (the allocation: `plan`). The package exports the public names.
"""

from scheduling.algorithm.data import (
    QUEUED,
    RUNNING,
    AgentSnapshot,
    Assignment,
    JobSnapshot,
    Plan,
    QueueSnapshot,
    Snapshot,
    SoftwareRequirement,
    TaskSnapshot,
)
from scheduling.algorithm.eligibility import resources_fit, software_fit, tags_fit
from scheduling.algorithm.planner import plan

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
