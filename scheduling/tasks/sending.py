"""Celery tasks that send agents the tasks the scheduler assigned them.

A tick publishes one ``scheduling.send_assignments`` message per chunk of
agents it assigned work to; an agent of the chunk that cannot be reached
then gets a ``scheduling.send_assignment`` of its own, which retries it with
backoff and finally gives up on it. The resumes after an outage send agent
by agent (``scheduling.send_assignment``).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval

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


def _retry_alone(agent_id: str) -> bool:
    """Hand an unavailable agent to `send_assignment`, as its first retry.

    The attempt made here counts as the first try: the agent's own task
    starts at retry 1, after the backoff ``send_assignment`` would have
    waited, so an agent is tried as often as when it was sent alone. With
    no retry allowed, it is given up on at once. Returns whether it was
    given up on.
    """
    task = send_assignment
    if task.max_retries is not None and task.max_retries < 1:
        sending.give_up_on_agent(agent_id=agent_id)
        return True
    # As Celery's autoretry computes a first retry's wait.
    countdown = get_exponential_backoff_interval(
        factor=int(max(1.0, float(getattr(task, "retry_backoff", 1)))),
        retries=0,
        maximum=int(getattr(task, "retry_backoff_max", 600)),
        full_jitter=bool(getattr(task, "retry_jitter", True)),
    )
    task.apply_async(args=[agent_id], countdown=countdown, retries=1)
    return False


@shared_task(name="scheduling.send_assignments")
def send_assignments(agent_ids: list[str]) -> dict[str, Any]:
    """Post each of these agents its assigned, unsent tasks, several at once.

    One message per chunk of agents a tick assigned work to
    (`scheduling.sending.send_assignments`). An agent that answers 503 or
    cannot be reached is retried on its own (`send_assignment`, with its
    backoff, then giving up on it). Any other error fails the task once
    every other agent was sent its tasks (an outage then schedules a
    resume, which sends what is left). Idempotent.
    """
    outcome = sending.send_assignments(agent_ids=agent_ids)
    gave_up = [agent_id for agent_id in outcome.unavailable if _retry_alone(agent_id)]
    if outcome.errors:
        raise next(iter(outcome.errors.values()))
    return {
        "agents": len(agent_ids),
        "sent": sum(len(result.sent) for result in outcome.results),
        "unassigned": sum(len(result.unassigned) for result in outcome.results),
        "retrying": [a for a in outcome.unavailable if a not in gave_up],
        "gave_up": gave_up,
    }
