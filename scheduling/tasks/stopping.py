"""Celery task that tells an agent to stop tasks taken back from it."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from scheduling import stopping


@shared_task(name="scheduling.stop_tasks")
def stop_tasks(agent_id: str, task_ids: list[int]) -> dict[str, Any]:
    """Send ``DELETE /tasks/<id>`` to one agent for each of ``task_ids``.

    Queued after a job was paused, when its tasks were already given back
    to the queue (`scheduling.stopping`). Not retried: an agent that cannot
    be told is logged, and its next poll stops the tasks that are no longer
    its own. Idempotent: the agent answers 204 for a task it no longer has.
    """
    return stopping.stop_tasks_on_agent(agent_id=agent_id, task_ids=task_ids).as_dict()


def on_tasks_to_stop(stops: dict[str, list[int]], **kwargs: Any) -> None:
    """Receiver of `farm.signals.tasks_to_stop`: one `stop_tasks` per agent."""
    for agent_id, task_ids in stops.items():
        stop_tasks.delay(agent_id, task_ids)
