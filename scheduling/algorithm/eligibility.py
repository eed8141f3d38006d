"""Whether an agent may run a job: resources, tags and software.

Public so that an explainer (`scheduling.explain`) can name the blocking
constraint; the planner uses the private helpers on classes of agents.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from scheduling.algorithm.data import AgentSnapshot, JobSnapshot, SoftwareRequirement

__all__ = ["resources_fit", "software_fit", "tags_fit"]


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
