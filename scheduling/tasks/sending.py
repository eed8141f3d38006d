"""Celery task that sends an agent the tasks the scheduler assigned it."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from scheduling import sending
from scheduling.sending import AgentUnavailableError


@shared_task(
    bind=True,
    name="scheduling.send_assignment",
    autoretry_for=(AgentUnavailableError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
)
def send_assignment(self: Any, agent_id: str) -> dict[str, Any]:
    """Post an agent its assigned, unsent tasks (`scheduling.sending`).

    A 503 or an unreachable agent is retried with exponential backoff; when
    the last retry fails too, the agent is marked offline and its tasks are
    requeued. Idempotent: only tasks not yet sent are posted.
    """
    try:
        result = sending.send_assignment(agent_id=agent_id)
    except AgentUnavailableError:
        if self.max_retries is None or self.request.retries < self.max_retries:
            raise
        result = sending.give_up_on_agent(agent_id=agent_id)
    return result.as_dict()
