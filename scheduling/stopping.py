"""Stopping work on agents: ``DELETE /api/v1/tasks/<id>`` (agent-protocol.md §1.5).

The agent answers 202 and kills the whole assignment holding the task, then
reports its unfinished tasks as ``{"state": "queued", "agent_id": null}``
(R6) and uploads the log; it answers 204 for a task it does not know. The
master stops work in two cases:

- a job is paused (`farm.services.pause_jobs`): its tasks are taken back
  from their agents at once, in the request, and this module's Celery task
  (`scheduling.tasks.stopping.stop_tasks`, queued after commit through
  `farm.signals.tasks_to_stop`) tells each agent to stop them;
- jobs flagged for deletion are deleted (`scheduling.maintenance.delete_jobs`):
  their running tasks are stopped before the rows go.

An agent that cannot be reached, or answers anything but 200, 202 or 204, is
logged and left alone: the task was taken back (or deleted) anyway, and the
agent's next poll (`scheduling.polling`) stops any task it still runs that is
no longer its own. The agent's later reports for a deleted task get the API's
JSON 404, for a task taken back they change nothing that matters (the task
is queued already; "running" and progress of the ended attempt are ignored).
No database transaction is held while an agent is contacted.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import requests
from django.db.models import Q

from farm.choices import ACTIVE_WORK_STATES, AgentState, WorkState
from farm.models import Task
from farm.models.tasks import TaskQuerySet
from pyfarm_site.conf import farm_config
from scheduling.sending import contactable_agent, http_session

__all__ = [
    "STOPPED_STATUSES",
    "StopResult",
    "stop_tasks_on_agent",
    "stop_tasks_on_agents",
    "stops_by_agent",
]

logger = logging.getLogger(__name__)

#: Answers by which the agent stopped the task (202), or did not have it (204).
STOPPED_STATUSES = frozenset({200, 202, 204})
# Offline agents are not contacted: polls found them unreachable already.
_CONTACTED_STATES = frozenset(AgentState) - {AgentState.OFFLINE}


@dataclass
class StopResult:
    """What stopping an agent's tasks did, for logs and the Celery result.

    ``stopped`` are the ids the agent answered 200/202/204 for, ``failed``
    those it could not be told about (unreachable, or another answer);
    ``skipped`` says why the agent was not contacted at all, ``kept`` are
    ids that are the agent's own work again (reassigned meanwhile) and were
    left running.
    """

    agent_id: str
    stopped: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-serialisable primitives."""
        return asdict(self)


def stops_by_agent(tasks: TaskQuerySet) -> dict[str, list[int]]:
    """The ids of ``tasks`` an agent has (running, or sent), grouped by agent.

    Tasks assigned but not sent yet are not on the agent; finished ones are
    over. One query.
    """
    rows = (
        tasks.filter(agent__isnull=False, state__in=ACTIVE_WORK_STATES)
        .filter(Q(state=WorkState.RUNNING) | Q(sent_to_agent=True))
        .order_by("agent_id", "pk")
        .values_list("agent_id", "pk")
    )
    stops: dict[str, list[int]] = {}
    for agent_id, pk in rows:
        stops.setdefault(str(agent_id), []).append(pk)
    return stops


def _delete(
    session: requests.Session, base: str, agent_name: str, task_id: int
) -> bool | None:
    """``DELETE /tasks/<id>`` on the agent.

    True when it stopped (or did not have) the task, False for another
    answer, None when the agent could not be reached.
    """
    url = f"{base}/tasks/{task_id}"
    try:
        response = session.delete(
            url, timeout=farm_config("agent_request_timeout"), allow_redirects=False
        )
    except requests.RequestException as error:
        logger.warning(
            "agent %s: could not stop task %s at %s: %s",
            agent_name,
            task_id,
            url,
            error,
        )
        return None
    if response.status_code not in STOPPED_STATUSES:
        logger.warning(
            "agent %s: stopping task %s answered %s: %s",
            agent_name,
            task_id,
            response.status_code,
            response.text[:200],
        )
        return False
    return True


def stop_tasks_on_agent(
    *, agent_id: uuid.UUID | str, task_ids: Iterable[int], keep_own: bool = True
) -> StopResult:
    """Tell one agent to stop ``task_ids``; no database change.

    With ``keep_own``, tasks that are the agent's open work again (the job
    was resumed and the task given to the same agent before this ran) are
    not stopped. Passive, offline and unknown agents are not contacted.
    After a connection error the agent's remaining tasks are not tried: it
    is unreachable. Two queries at most, whatever the number of tasks.
    """
    result = StopResult(agent_id=str(agent_id))
    ids = sorted(set(task_ids))
    agent, result.skipped = contactable_agent(agent_id, states=_CONTACTED_STATES)
    if agent is None or not ids:
        return result
    if keep_own:
        result.kept = sorted(
            Task.objects.filter(
                pk__in=ids, agent=agent, state__in=ACTIVE_WORK_STATES
            ).values_list("pk", flat=True)
        )
        ids = [pk for pk in ids if pk not in set(result.kept)]
    base = agent.api_url()
    with http_session() as session:
        for index, task_id in enumerate(ids):
            answer = _delete(session, base, str(agent), task_id)
            if answer:
                result.stopped.append(task_id)
                continue
            result.failed.append(task_id)
            if answer is None:
                result.failed.extend(ids[index + 1 :])
                break
    if result.stopped:
        logger.info("agent %s: stopped tasks %s", agent, result.stopped)
    return result


def stop_tasks_on_agents(stops: dict[str, list[int]]) -> list[StopResult]:
    """`stop_tasks_on_agent` for each agent of ``stops``, without ``keep_own``."""
    return [
        stop_tasks_on_agent(agent_id=agent_id, task_ids=task_ids, keep_own=False)
        for agent_id, task_ids in stops.items()
    ]
