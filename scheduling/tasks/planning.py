"""Celery tasks of the scheduler's tick: plan and apply assignments."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from scheduling import tick
from scheduling.debounce import tick_started


@shared_task(name="scheduling.assign_tasks")
def assign_tasks() -> dict[str, Any]:
    """Give idle agents work: one tick of the planner (`scheduling.tick`).

    Idempotent and safe to run concurrently: a tick only hands out tasks
    that are still queued and unassigned to agents that are still idle.
    Returns the tick's counts and times. Clears the mark of a pending
    event-driven tick first (`scheduling.debounce.tick_started`): the
    events from now on enqueue the next tick.
    """
    tick_started()
    return tick.run_tick().as_dict()


@shared_task(name="scheduling.resume_scheduling")
def resume_scheduling() -> dict[str, Any]:
    """Catch up after the broker or the database was unreachable.

    Queued by the worker each time it connects to the broker, and after a
    scheduler task failed for an outage (`scheduling.recovery`): sends the
    assignments whose sending was lost (one worker at a time), then ticks
    for the events and periodic ticks that were lost. Idempotent. Returns
    the agents sent to and the tick's counts.
    """
    from scheduling import recovery
    from scheduling.tasks.sending import send_assignment

    recovery.resume_started()
    unsent = recovery.agents_with_unsent_tasks()
    resent = unsent if unsent and recovery.claim_resend() else []
    for agent_id in resent:
        send_assignment.delay(agent_id)
    return {"resent_to": resent, **assign_tasks()}
