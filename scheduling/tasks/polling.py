"""Celery tasks that poll agents (`scheduling.polling`).

Beat runs ``scheduling.poll_agents`` every ``agent_poll_interval``; it picks
the agents due for a poll and queues one ``scheduling.poll_agent`` per agent,
so that a slow or dead agent delays no other.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import transaction

from scheduling import polling
from scheduling.sending import AgentUnavailableError, give_up_on_agent


@shared_task(name="scheduling.poll_agents")
def poll_agents() -> int:
    """Queue a poll of every agent due for one; returns how many were queued."""
    with transaction.atomic():
        agent_ids = polling.claim_due_agents()
        for agent_id in agent_ids:
            transaction.on_commit(
                lambda agent_id=agent_id: poll_agent.delay(agent_id)  # type: ignore[misc]
            )
    return len(agent_ids)


@shared_task(
    bind=True,
    name="scheduling.poll_agent",
    autoretry_for=(AgentUnavailableError,),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=2,
)
def poll_agent(self: Any, agent_id: str) -> dict[str, Any]:
    """Poll one agent (`scheduling.polling.poll_agent`).

    An agent that does not answer is retried with backoff; when the last
    retry fails too, it is marked offline and its open tasks are requeued
    (an agent already offline just stays so).
    """
    try:
        result = polling.poll_agent(agent_id=agent_id)
    except AgentUnavailableError:
        if self.max_retries is None or self.request.retries < self.max_retries:
            raise
        gave_up = give_up_on_agent(agent_id=agent_id, reason="did not answer polls")
        return polling.PollResult(agent_id=agent_id, gave_up=gave_up.gave_up).as_dict()
    return result.as_dict()
