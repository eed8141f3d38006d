"""Polling agents: liveness, state, and what they really run.

Agents never send a heartbeat (agent-protocol.md §1.4): once idle they say
nothing until they are given work or stop. So the master reaches out, as the
original did, to the agents it has not heard from for a while:

- busy agents (running, or holding open tasks) after ``poll_busy_agents_interval``;
- idle agents after ``poll_idle_agents_interval``;
- offline agents after ``poll_offline_agents_interval``, to notice they are back.

`agents_due_for_poll` picks them in one query; `claim_due_agents` stamps their
``last_polled`` so that the next periodic run does not pick them again while
a poll is under way. Each agent is then polled on its own (`poll_agent`, one
Celery task per agent, so a slow agent delays nobody else):

1. ``GET /status``: the agent answers with its id, state and free RAM. The id
   must be the agent's own: another agent may now listen at that address.
2. ``GET /tasks/``: what the agent runs, reconciled with what the master
   thinks it sent: tasks the agent lost are sent again (``send_assignment``);
   tasks it runs that are no longer its own (requeued, reassigned, deleted)
   are stopped with ``DELETE /tasks/<id>``.
3. An idle agent that an admin set to upgrade (``upgrade_to``, with its
   package uploaded) is sent ``POST /update``; else, one an admin asked to
   restart is sent ``POST /restart``. Agents with such a request pending are
   polled on every periodic run, not only after the intervals above.

An agent that cannot be reached raises `AgentUnavailableError`; the Celery
task retries and then gives up on the agent (offline, open tasks requeued).
Silence alone never makes an agent offline: only a failed poll does.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import requests
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from farm.choices import ACTIVE_WORK_STATES, AgentState, UseAddress, WorkState
from farm.models import Agent, Task
from farm.services.agents import agent_update_path
from farm.signals import notify_work_changed
from pyfarm_site.conf import farm_config
from pyfarm_site.config import as_timedelta
from scheduling.sending import (
    AgentUnavailableError,
    contactable_agent,
    give_up_on_agent,
    http_session,
    json_body,
)

__all__ = [
    "PollResult",
    "agents_due_for_poll",
    "claim_due_agents",
    "poll_agent",
]

logger = logging.getLogger(__name__)

#: An agent with a pending restart or upgrade is polled again once this share
#: of ``agent_poll_interval`` has passed: on every periodic run, give or take
#: the run's own jitter.
POLL_RUN_SHARE = 0.5
# The states of the agents a poll contacts: all but disabled.
_POLLED_STATES = frozenset(AgentState) - {AgentState.DISABLED}
# States an agent reports in GET /status that the master stores as they are.
_REPORTED_STATES = {AgentState.ONLINE.value, AgentState.RUNNING.value}


@dataclass
class PollResult:
    """What one poll found and did (for logs and the Celery result).

    ``resent`` are tasks the agent had lost, handed to ``send_assignment``
    again; ``stopped`` are tasks the agent ran that were not its own any more.
    """

    agent_id: str
    skipped: str | None = None
    state: str | None = None
    came_back: bool = False
    resent: list[int] = field(default_factory=list)
    stopped: list[int] = field(default_factory=list)
    restarted: bool = False
    upgrading: bool = False
    gave_up: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-serialisable primitives."""
        return asdict(self)


def _interval(key: str) -> Any:
    return as_timedelta(key, farm_config(key))


def agents_due_for_poll(now: datetime | None = None) -> QuerySet[Agent]:
    """The agents to poll now, by how long the master has not heard from them.

    Busy agents (state running, or holding open tasks), idle agents and
    offline agents each have their interval; an agent polled within that
    interval is not due either, so an unreachable one is not polled on every
    run. Passive and disabled agents are never polled.
    """
    now = now or timezone.now()
    busy = now - _interval("poll_busy_agents_interval")
    idle = now - _interval("poll_idle_agents_interval")
    offline = now - _interval("poll_offline_agents_interval")

    def quiet_since(moment: datetime) -> Q:
        return (Q(last_heard_from__isnull=True) | Q(last_heard_from__lt=moment)) & (
            Q(last_polled__isnull=True) | Q(last_polled__lt=moment)
        )

    has_open_tasks = Exists(
        Task.objects.filter(agent=OuterRef("pk"), state__in=ACTIVE_WORK_STATES)
    )
    is_busy = Q(state=AgentState.RUNNING) | Q(has_open_tasks=True)
    # Requests an admin is waiting for: checked on every periodic run.
    steering = Q(restart_requested=True) | upgrade_pending()
    not_polled_this_run = Q(last_polled__isnull=True) | Q(
        last_polled__lt=now - _interval("agent_poll_interval") * POLL_RUN_SHARE
    )
    online = ~Q(state=AgentState.OFFLINE)
    return (
        Agent.objects.exclude(use_address=UseAddress.PASSIVE)
        .exclude(state=AgentState.DISABLED)
        .alias(has_open_tasks=has_open_tasks)
        .filter(
            (Q(state=AgentState.OFFLINE) & quiet_since(offline))
            | (online & is_busy & quiet_since(busy))
            | (online & ~is_busy & quiet_since(idle))
            | (online & steering & not_polled_this_run)
        )
    )


def upgrade_pending() -> Q:
    """Agents an admin set to upgrade to a version they do not run yet."""
    return Q(upgrade_to__isnull=False) & ~Q(upgrade_to="") & ~Q(upgrade_to=F("version"))


def claim_due_agents(now: datetime | None = None) -> list[str]:
    """Stamp ``last_polled`` on the agents due for a poll; returns their ids.

    Two queries whatever the farm size. Two runs at once may both claim an
    agent; polling it twice is harmless.
    """
    now = now or timezone.now()
    ids = [str(pk) for pk in agents_due_for_poll(now).values_list("pk", flat=True)]
    if ids:
        Agent.objects.filter(pk__in=ids).update(last_polled=now)
    return ids


def _get(session: requests.Session, url: str, agent: Agent) -> requests.Response:
    """GET one of the agent's URLs; AgentUnavailableError if it does not answer."""
    try:
        response = session.get(
            url, timeout=farm_config("agent_request_timeout"), allow_redirects=False
        )
    except requests.RequestException as error:
        raise AgentUnavailableError(
            f"agent {agent} ({agent.pk}) could not be reached at {url}: {error}"
        ) from error
    if response.status_code != 200:
        raise AgentUnavailableError(
            f"agent {agent} ({agent.pk}) answered {response.status_code} at {url}"
        )
    return response


def _reported_task_ids(body: Any) -> set[int]:
    """The task ids of a ``GET /tasks/`` body; entries without an int id are ignored."""
    if not isinstance(body, list):
        return set()
    ids: set[int] = set()
    for entry in body:
        value = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            ids.add(value)
    return ids


def _store_status(agent: Agent, status: dict[str, Any], result: PollResult) -> None:
    """Record a successful poll: heard from now, the reported state and free RAM.

    A disabled agent stays disabled (the UPDATE excludes it).
    """
    changes: dict[str, Any] = {"last_heard_from": timezone.now()}
    reported = status.get("state")
    if reported in _REPORTED_STATES:
        changes["state"] = reported
    elif agent.state == AgentState.OFFLINE:
        changes["state"] = AgentState.ONLINE
    free_ram = status.get("free_ram")
    if isinstance(free_ram, int) and not isinstance(free_ram, bool) and free_ram >= 0:
        changes["free_ram"] = free_ram
    Agent.objects.filter(pk=agent.pk).exclude(state=AgentState.DISABLED).update(
        **changes
    )
    result.state = changes.get("state", agent.state)
    if agent.state == AgentState.OFFLINE:
        result.came_back = True
        notify_work_changed("agent back online")


def _reconcile(
    agent: Agent, sent_before: set[int], running: set[int], result: PollResult
) -> None:
    """Resend the tasks the agent lost; list the ones it runs but should not.

    ``sent_before`` are the agent's open, sent tasks read *before* asking the
    agent, so an assignment sent meanwhile is not taken for a lost one. The
    resend is one conditional UPDATE (the task must still be the agent's and
    open) and a ``send_assignment`` after commit.
    """
    from scheduling.tasks.sending import send_assignment

    lost = sorted(sent_before - running)
    if lost:
        with transaction.atomic():
            still_lost = Task.objects.filter(
                pk__in=lost,
                agent=agent,
                sent_to_agent=True,
                state__in=ACTIVE_WORK_STATES,
            )
            resent = list(still_lost.select_for_update().values_list("pk", flat=True))
            still_lost.filter(pk__in=resent).update(
                state=WorkState.QUEUED,
                sent_to_agent=False,
                progress=0.0,
                time_started=None,
            )
            if resent:
                agent_id = str(agent.pk)
                transaction.on_commit(lambda: send_assignment.delay(agent_id))  # type: ignore[attr-defined]
        result.resent = resent

    unknown = running - sent_before
    if unknown:
        own = set(
            Task.objects.filter(pk__in=unknown, agent=agent).values_list(
                "pk", flat=True
            )
        )
        result.stopped = sorted(unknown - own)


def poll_agent(*, agent_id: uuid.UUID | str) -> PollResult:
    """Poll one agent: its status, its tasks, a pending upgrade or restart.

    Raises AgentUnavailableError when the agent does not answer both GETs
    with a 200 (the Celery task retries, then gives up on the agent). An
    agent answering with another id is given up on at once: the address now
    belongs to someone else. Six queries or fewer whatever the task count.
    """
    result = PollResult(agent_id=str(agent_id))
    agent, result.skipped = contactable_agent(agent_id, states=_POLLED_STATES)
    if agent is None:
        return result

    sent_before = set(
        Task.objects.filter(
            agent=agent, sent_to_agent=True, state__in=ACTIVE_WORK_STATES
        ).values_list("pk", flat=True)
    )
    base = agent.api_url()
    with http_session() as session:
        status = json_body(_get(session, base + "/status", agent))
        if not isinstance(status, dict):
            raise AgentUnavailableError(f"agent {agent} sent a status that is not JSON")
        if str(status.get("agent_id", "")).lower() != str(agent.pk).lower():
            logger.warning(
                "agent %s (%s): %s answers as agent %r; giving up on it",
                agent,
                agent.pk,
                base,
                status.get("agent_id"),
            )
            give_up_on_agent(agent_id=agent.pk, reason="answers with another id")
            result.gave_up = True
            return result
        running = _reported_task_ids(json_body(_get(session, base + "/tasks/", agent)))
        _store_status(agent, status, result)
        _reconcile(agent, sent_before, running, result)
        for task_id in result.stopped:
            _stop_task(session, base, agent, task_id)
        idle = not running and not sent_before
        if idle and _wants_upgrade(agent):
            result.upgrading = _upgrade(session, agent)
        elif idle and agent.restart_requested:
            result.restarted = _restart(session, agent)
    if result.resent or result.stopped:
        logger.warning(
            "agent %s: resent lost tasks %s, stopped tasks %s",
            agent,
            result.resent,
            result.stopped,
        )
    return result


def _stop_task(
    session: requests.Session, base: str, agent: Agent, task_id: int
) -> None:
    """``DELETE /tasks/<id>``: the agent stops the assignment running it.

    Failures are logged only: the next poll tries again.
    """
    try:
        response = session.delete(
            f"{base}/tasks/{task_id}", timeout=farm_config("agent_request_timeout")
        )
    except requests.RequestException as error:
        logger.warning("agent %s: could not stop task %s: %s", agent, task_id, error)
        return
    if response.status_code not in (200, 202, 204):
        logger.warning(
            "agent %s: stopping task %s answered %s",
            agent,
            task_id,
            response.status_code,
        )


def _wants_upgrade(agent: Agent) -> bool:
    """Whether the agent should upgrade now: a version is set and its package exists.

    The agent fetches the package from ``GET /agents/updates/<version>``
    (served from ``agent_updates_dir`` or redirected to
    ``agent_updates_webdir``); without a package the request would only
    fail on the agent, which does not retry.
    """
    version = agent.upgrade_to
    if not version or version == agent.version:
        return False
    if farm_config("agent_updates_webdir"):
        return True
    try:
        return agent_update_path(version).is_file()
    except ValidationError:
        return False


def _command(
    session: requests.Session, agent: Agent, path: str, body: dict[str, Any]
) -> bool:
    """POST a command (``/update``, ``/restart``) to the agent; whether it took it.

    The agent answers 202 with an empty body. Failures are logged only: the
    request stays pending and the next poll sends it again.
    """
    url = agent.api_url() + path
    try:
        response = session.post(
            url, data=json.dumps(body), timeout=farm_config("agent_request_timeout")
        )
    except requests.RequestException as error:
        logger.warning("agent %s: %s failed: %s", agent, path, error)
        return False
    if response.status_code not in (200, 202):
        logger.warning("agent %s: %s answered %s", agent, path, response.status_code)
        return False
    logger.info("agent %s: %s %s accepted", agent, path, body)
    return True


def _upgrade(session: requests.Session, agent: Agent) -> bool:
    """``POST /update {"version": ...}`` to an idle agent an admin set to upgrade.

    The agent downloads the package, stops, and its supervisor starts the
    new version, which registers with it; the registration clears
    ``upgrade_to``.
    """
    return _command(session, agent, "/update", {"version": agent.upgrade_to})


def _restart(session: requests.Session, agent: Agent) -> bool:
    """``POST /restart`` to an idle agent an admin asked to restart.

    The request is cleared when the agent accepts; it then stops, its
    supervisor starts it again, and it registers anew.
    """
    if not _command(session, agent, "/restart", {}):
        return False
    Agent.objects.filter(pk=agent.pk).update(restart_requested=False)
    return True
