"""Celery task of the scheduler's tick: plan and apply assignments."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from scheduling import services


@shared_task(name="scheduling.assign_tasks")
def assign_tasks() -> dict[str, Any]:
    """Give idle agents work: one tick of the planner (`scheduling.services`).

    Idempotent and safe to run concurrently: a tick only hands out tasks
    that are still queued and unassigned to agents that are still idle.
    Returns the tick's counts and times. Closes the event debounce window
    first: events from now on are for the next tick.
    """
    from scheduling.triggers import close_window  # triggers imports this module

    close_window()
    return services.run_tick().as_dict()
