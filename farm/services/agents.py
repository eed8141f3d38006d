"""Agent workflows: enabling, disabling, restarts, and taking back their work."""

from __future__ import annotations

from django.db import transaction

from farm.choices import AgentState, WorkState
from farm.models import Agent, Task
from farm.models.agents import AgentQuerySet
from farm.services.jobs import refresh_job_states


def enable_agents(*, agents: AgentQuerySet) -> int:
    """Bring disabled agents back as online; returns how many changed."""
    return agents.filter(state=AgentState.DISABLED).update(state=AgentState.ONLINE)


def disable_agents(*, agents: AgentQuerySet) -> int:
    """Take agents out of the farm; returns how many changed.

    Their running tasks finish; the scheduler gives them nothing new.
    """
    return agents.set_state(AgentState.DISABLED)


def request_agent_restart(*, agents: AgentQuerySet) -> int:
    """Flag agents to restart the next time the master talks to them."""
    return agents.filter(restart_requested=False).update(restart_requested=True)


def requeue_agent_tasks(*, agent_ids: list, offline: bool = True) -> int:
    """Give the open tasks of lost agents back to the queue.

    With ``offline`` the agents are marked offline as well (disabled agents
    stay disabled). Returns the number of tasks requeued.
    """
    with transaction.atomic():
        tasks = Task.objects.filter(
            agent_id__in=agent_ids, state__in=[WorkState.QUEUED, WorkState.RUNNING]
        )
        job_ids = list(tasks.values_list("job_id", flat=True).distinct())
        count = tasks.requeue()
        if offline:
            Agent.objects.filter(pk__in=agent_ids).exclude(
                state=AgentState.DISABLED
            ).set_state(AgentState.OFFLINE)
        refresh_job_states(job_ids=job_ids)
    return count
