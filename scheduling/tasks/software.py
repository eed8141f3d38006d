"""Celery task that asks an agent to check its software (`scheduling.software`)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from scheduling import software


@shared_task(name="scheduling.check_agent_software")
def check_agent_software(
    agent_id: str, version_ids: list[int] | None = None
) -> dict[str, Any]:
    """Ask one agent to check software versions (all of the catalog by default).

    Not retried: an agent that is unreachable or too old to check software
    (404) is reported in the result and on its page, and the admin asks
    again. Idempotent: the agent only checks again.
    """
    return software.check_agent_software(
        agent_id=agent_id, version_ids=version_ids
    ).as_dict()
