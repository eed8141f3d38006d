"""Why a job gets no agents: each blocking constraint and the agents it rules out.

`explain` reads the same snapshot as a scheduler tick (`load_snapshot`) and
asks the planner's own eligibility checks (`resources_fit`, `tags_fit`,
`software_fit`) about every idle agent, so that it can never disagree with
the planner about what fits. Constraints that hold for the whole job (its
state, unfinished parents, a reached maximum, no runnable task) rule out
every idle agent; the per-agent ones are counted over the idle agents, each
on its own, so one agent may be ruled out by several. Agents that are not
idle (busy, offline, disabled) are counted in one aggregate query.

The whole explanation takes a constant number of queries (fourteen),
whatever the size of the farm.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from django.db.models import Count, Q

from farm.choices import AVAILABLE_AGENT_STATES, AgentState, WorkState
from farm.models import Agent, Job
from scheduling.algorithm import (
    AgentSnapshot,
    JobSnapshot,
    QueueSnapshot,
    resources_fit,
    software_fit,
    tags_fit,
)
from scheduling.snapshot import load_snapshot

__all__ = ["Blocker", "Constraint", "Explanation", "explain"]


class Constraint:
    """The names of the constraints an explanation reports."""

    STATE = "state"
    DEPENDENCIES = "dependencies"
    QUEUE_MAXIMUM = "queue_maximum"
    NO_RUNNABLE_TASKS = "no_runnable_tasks"
    CPUS = "cpus"
    RAM = "ram"
    REQUIRED_TAGS = "required_tags"
    FORBIDDEN_TAGS = "forbidden_tags"
    SOFTWARE = "software"
    FAILED_ON = "failed_on"
    NO_IDLE_AGENTS = "no_idle_agents"


@dataclass(frozen=True, slots=True)
class Blocker:
    """One constraint that keeps the job from agents.

    ``agents_ruled_out`` counts the idle agents it excludes on its own.
    """

    constraint: str
    agents_ruled_out: int
    detail: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a job runs or does not, as `explain` found it.

    ``eligible_agents``: idle agents that could take the job now (0 when
    anything blocks the whole job). ``assigned_agents``: agents working on it.
    ``busy_agents``/``offline_agents``/``disabled_agents``: agents that are
    not idle and so are not considered at all.
    """

    job: int
    title: str
    state: str
    runnable_tasks: int
    assigned_agents: int
    idle_agents: int
    eligible_agents: int
    busy_agents: int
    offline_agents: int
    disabled_agents: int
    blocking: list[Blocker] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return asdict(self)


def _agent_counts() -> dict[str, int]:
    """Agents available to the scheduler, offline and disabled (one query)."""
    return Agent.objects.order_by().aggregate(
        available=Count("pk", filter=Q(state__in=sorted(AVAILABLE_AGENT_STATES))),
        offline=Count("pk", filter=Q(state=AgentState.OFFLINE)),
        disabled=Count("pk", filter=Q(state=AgentState.DISABLED)),
    )


def _no_idle_agents_detail(counts: Mapping[str, int]) -> str:
    """Why no agent can run a job that nothing else blocks: there is no idle one."""
    if not (counts["available"] or counts["offline"] or counts["disabled"]):
        return "no agent can run it: no agent has registered with this master"
    return (
        "no agent can run it now: none is idle"
        f" ({counts['available']} busy, {counts['offline']} offline,"
        f" {counts['disabled']} disabled)"
    )


def _state_reason(row: Mapping[str, Any]) -> str | None:
    """Why the planner leaves the job out whatever the agents, if it does."""
    if row["to_be_deleted"]:
        return "the job is marked to be deleted"
    if row["hidden"]:
        return "the job is hidden"
    if row["state"] == WorkState.PAUSED:
        return "the job is paused"
    if row["state"] in (WorkState.DONE, WorkState.FAILED):
        return f"the job is {row['state']}: it has nothing left to run"
    return None


def _reached_maximum(job: JobSnapshot, queues: tuple[QueueSnapshot, ...]) -> str | None:
    """The job's or an ancestor queue's reached ``maximum_agents``, if any."""
    if job.maximum_agents is not None and job.assigned_agents >= job.maximum_agents:
        return (
            f"the job has {job.assigned_agents} agents,"
            f" its maximum_agents is {job.maximum_agents}"
        )
    by_id = {queue.id: queue for queue in queues}
    queue_id, seen = job.queue_id, set()
    while queue_id is not None and queue_id not in seen:
        seen.add(queue_id)  # bad data with a cycle must not loop forever
        queue = by_id.get(queue_id)
        if queue is None:
            break
        if (
            queue.maximum_agents is not None
            and queue.assigned_agents >= queue.maximum_agents
        ):
            return (
                f"queue {queue.id} has {queue.assigned_agents} agents,"
                f" its maximum_agents is {queue.maximum_agents}"
            )
        queue_id = queue.parent_id
    return None


def _agent_checks(
    job: JobSnapshot,
) -> list[tuple[str, Callable[[AgentSnapshot], bool], str]]:
    """(constraint, fits(agent), detail) for each per-agent constraint of the job.

    Each check is one of the planner's own, applied to a copy of the job with
    the other requirements of that check cleared, so each constraint is
    counted on its own.
    """
    cpus_only = replace(job, ram=0)
    ram_only = replace(job, cpus=0)
    required_only = replace(job, forbidden_tags=frozenset())
    forbidden_only = replace(job, required_tags=frozenset())
    failed_everywhere: frozenset[str] = (
        frozenset.intersection(*(task.failed_on for task in job.tasks))
        if job.tasks
        else frozenset()
    )
    software = ", ".join(
        f"{req.software} [{req.min_rank if req.min_rank is not None else '*'}"
        f"..{req.max_rank if req.max_rank is not None else '*'}]"
        for req in job.software
    )

    def whole(amount: int) -> str:
        return "the whole agent (idle)" if amount < 0 else str(amount)

    return [
        (
            Constraint.CPUS,
            lambda agent: resources_fit(agent, cpus_only),
            f"needs {whole(job.cpus)} free cpus",
        ),
        (
            Constraint.RAM,
            lambda agent: resources_fit(agent, ram_only),
            f"needs {whole(job.ram)} MB of free RAM",
        ),
        (
            Constraint.REQUIRED_TAGS,
            lambda agent: tags_fit(agent, required_only),
            f"requires tags {', '.join(sorted(job.required_tags))}",
        ),
        (
            Constraint.FORBIDDEN_TAGS,
            lambda agent: tags_fit(agent, forbidden_only),
            f"forbids tags {', '.join(sorted(job.forbidden_tags))}",
        ),
        (
            Constraint.SOFTWARE,
            lambda agent: software_fit(agent, job),
            f"requires software (version ranks) {software}",
        ),
        (
            Constraint.FAILED_ON,
            lambda agent: agent.id not in failed_everywhere,
            "every runnable task already failed on these agents",
        ),
    ]


def explain(job_id: int) -> Explanation:
    """Why the job with this id gets no agents (or which ones it could get).

    Raises ``Job.DoesNotExist`` for an unknown id. Jobs the planner never
    considers (paused, hidden, to be deleted, done, failed) get the state as
    their one reason; for the others the dependencies, maximum_agents of the
    job and its queues, runnable tasks, and each per-agent constraint are
    checked.
    """
    row = (
        Job.objects.filter(pk=job_id)
        .values("pk", "title", "state", "hidden", "to_be_deleted")
        .get()
    )
    parents = list(
        Job.objects.filter(children=job_id)
        .exclude(state=WorkState.DONE)
        .order_by("pk")
        .values_list("pk", "title")
    )
    snapshot = load_snapshot(job_ids=[job_id])
    counts = _agent_counts()
    agents = snapshot.agents
    idle = len(agents)
    job = next((entry for entry in snapshot.jobs if entry.id == job_id), None)

    blocking: list[Blocker] = []
    state_reason = _state_reason(row)
    if state_reason is not None or job is None:
        blocking.append(
            Blocker(Constraint.STATE, idle, state_reason or "the job is not runnable")
        )
    elif parents:
        names = ", ".join(f"{pk} ({title})" for pk, title in parents)
        blocking.append(
            Blocker(Constraint.DEPENDENCIES, idle, f"parent jobs not done: {names}")
        )
    else:
        maximum = _reached_maximum(job, snapshot.queues)
        if maximum is not None:
            blocking.append(Blocker(Constraint.QUEUE_MAXIMUM, idle, maximum))
        if not job.tasks:
            blocking.append(
                Blocker(
                    Constraint.NO_RUNNABLE_TASKS,
                    idle,
                    "no queued, unassigned, visible task is left",
                )
            )
    # Whole-job blockers leave no agent eligible; per-agent constraints are
    # still reported when there are tasks, so the next obstacle is visible.
    whole_job_blocked = bool(blocking)
    eligible = 0
    if job is not None and job.tasks and state_reason is None and not parents:
        checks = _agent_checks(job)
        ruled_out = [0] * len(checks)
        for agent in agents:
            fits = True
            for index, (_, check, _) in enumerate(checks):
                if not check(agent):
                    ruled_out[index] += 1
                    fits = False
            eligible += fits and not whole_job_blocked
        blocking.extend(
            Blocker(name, count, detail)
            for (name, _, detail), count in zip(checks, ruled_out, strict=True)
            if count
        )
    if job is not None and job.tasks and not blocking and idle == 0:
        blocking.append(
            Blocker(Constraint.NO_IDLE_AGENTS, 0, _no_idle_agents_detail(counts))
        )
    return Explanation(
        job=row["pk"],
        title=row["title"],
        state=row["state"],
        runnable_tasks=len(job.tasks) if job is not None else 0,
        assigned_agents=job.assigned_agents if job is not None else 0,
        idle_agents=idle,
        eligible_agents=eligible,
        busy_agents=max(counts["available"] - idle, 0),
        offline_agents=counts["offline"],
        disabled_agents=counts["disabled"],
        blocking=blocking,
    )
