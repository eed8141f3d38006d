"""Sending agents the tasks the scheduler assigned them (``POST /api/v1/assign``).

The planner only writes ``task.agent``; this module turns an agent's assigned,
not yet sent tasks into one assignment per job (agent-protocol.md §1.6), posts
each to the agent and applies the answer (§1.5):

- 200, 201, 202: the agent took the tasks, they are marked ``sent_to_agent``;
- 409: the agent refused the ``rejected_task_ids`` of the body, which go back
  to the queue; it took the others;
- 503, a connection error or a timeout: `AgentUnavailableError`, which the
  Celery task retries with backoff before giving up on the agent
  (`give_up_on_agent`);
- anything else (400, 415, ...): the agent refused the whole assignment, its
  tasks go back to the queue; the free RAM or CPUs a "not enough" refusal
  names are stored on the agent, so the planner does not offer it the same
  job again.

Tasks given back keep their ``attempts``: an attempt is counted when the agent
reports the task running, which a refused task never was. Every change is one
conditional UPDATE over the batch, on the task still being assigned to this
agent, so a requeue or a reassignment that happened meanwhile wins. No
database transaction is held while the agent is being contacted.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Collection, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import requests
from django.db import connections, transaction
from django.db.models import Prefetch

from farm.choices import (
    ACTIVE_WORK_STATES,
    AVAILABLE_AGENT_STATES,
    UseAddress,
    WorkState,
)
from farm.models import Agent, Job, JobNotifiedUser, Task
from farm.services.agents import requeue_agent_tasks
from pyfarm_site.conf import farm_config

__all__ = [
    "SEND_CONCURRENCY",
    "AgentUnavailableError",
    "SendResult",
    "SendsResult",
    "accepts_tiles",
    "build_assignment_payload",
    "contactable_agent",
    "give_up_on_agent",
    "http_session",
    "json_body",
    "send_assignment",
    "send_assignments",
]

logger = logging.getLogger(__name__)

# Answers by which the agent took every task of the assignment.
ACCEPTED_STATUSES = frozenset({200, 201, 202})
# The agent took some tasks and lists the others in ``rejected_task_ids``.
PARTIAL_STATUS = 409
# The agent is busy (re-announcing, restarting, shutting down): try again.
RETRY_STATUS = 503

#: Agents one ``send_assignments`` call contacts at once (threads of its own).
SEND_CONCURRENCY = 8

# The first agent version whose assignment schema has ``tile`` and
# ``num_tiles``; 0.8.6 (the last release) refuses the keys with a 400.
TILES_SINCE_VERSION = (0, 8, 7)
_VERSION_PREFIX = re.compile(r"\d+(?:\.\d+)*")


class AgentUnavailableError(Exception):
    """The agent could not take an assignment now; sending again may work.

    Raised for a 503 and for connection errors and timeouts, after the tasks
    of earlier jobs in the same send were handled. Nothing changed for the
    assignment that failed: its tasks stay assigned and unsent.
    """


@dataclass
class SendResult:
    """What one send did, for logs and the Celery result.

    ``sent`` are the ids of the tasks the agent took, ``unassigned`` those it
    refused; ``skipped`` says why the agent was not contacted at all. After
    giving up on the agent, ``gave_up`` is set and ``requeued`` counts the
    tasks taken back from it.
    """

    agent_id: str
    sent: list[int] = field(default_factory=list)
    unassigned: list[int] = field(default_factory=list)
    skipped: str | None = None
    gave_up: bool = False
    requeued: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-serialisable primitives."""
        return asdict(self)


def accepts_tiles(version: str | None) -> bool:
    """Whether an agent of this registered version accepts tile keys.

    Unknown or unparsable versions get the payload every version accepts:
    without the keys (they are optional where they exist).
    """
    match = _VERSION_PREFIX.match(version or "")
    if match is None:
        return False
    numbers = tuple(int(part) for part in match.group().split("."))
    return numbers >= TILES_SINCE_VERSION


def _job_payload(job: Job, *, tiles: bool) -> dict[str, Any]:
    """The ``job`` object of an assignment.

    The agent's schema allows no null for its int and str keys (and 0.8.6 no
    ``num_tiles``): keys without a value are left out rather than sent as
    null. ``title`` is always sent; the agent indexes it.
    """
    payload: dict[str, Any] = {
        "id": job.pk,
        "title": job.title,
        "by": float(job.by),
        "batch": job.batch,
        "priority": job.priority,
        "cpus": job.cpus,
        "ram": job.ram,
        "data": job.data if job.data is not None else {},
        "environ": job.environ if job.environ is not None else {},
        "notes": job.notes or "",
        "tags": [tag.tag for tag in job.tags.all()],
        "notified_users": [
            {
                "username": notified.user.username,
                "on_success": notified.on_success,
                "on_failure": notified.on_failure,
                "on_deletion": notified.on_deletion,
            }
            for notified in job.notified_users.all()
        ],
    }
    optional = {
        "ram_warning": job.ram_warning,
        "ram_max": job.ram_max,
        "user": job.user.username if job.user is not None else None,
        "job_group": job.group.title if job.group is not None else None,
        "job_group_id": job.group_id,
    }
    if tiles:
        optional["num_tiles"] = job.num_tiles
    payload.update({key: value for key, value in optional.items() if value is not None})
    return payload


def build_assignment_payload(agent: Agent, tasks: Sequence[Task]) -> dict[str, Any]:
    """The body of ``POST /assign`` giving ``tasks`` (all of one job) to ``agent``.

    Exactly the keys of agent-protocol.md §1.6. Each task carries the attempt
    the agent is about to run, ``attempts + 1``: the task's ``attempts``
    counts the runs that started (the agent's "running" report adds one), and
    the agent names this run in its log URLs (R5, R7, R8) before it reports
    "running". Frames are sent as numbers (floats).

    The job is read from ``tasks[0].job`` with its job type version, user,
    group, tags and notified users; load them in advance to avoid queries.
    """
    if not tasks:
        raise ValueError("an assignment needs at least one task")
    job = tasks[0].job
    if any(task.job_id != job.pk for task in tasks):
        raise ValueError("the tasks of one assignment must belong to one job")
    tiles = accepts_tiles(agent.version)
    task_payloads = []
    for task in tasks:
        entry: dict[str, Any] = {
            "id": task.pk,
            "frame": float(task.frame),
            "attempt": task.attempts + 1,
        }
        if tiles and task.tile is not None:
            entry["tile"] = task.tile
        task_payloads.append(entry)
    return {
        "job": _job_payload(job, tiles=tiles),
        "jobtype": {
            "name": job.jobtype_version.jobtype.name,
            "version": job.jobtype_version.version,
        },
        "tasks": task_payloads,
    }


def _pending_tasks(agent: Agent) -> dict[int, list[Task]]:
    """The agent's assigned, unsent, queued tasks grouped by job, jobs loaded.

    Three queries (tasks with their jobs, the jobs' tags, their notified
    users), whatever the number of tasks and jobs.
    """
    tasks = (
        Task.objects.filter(agent=agent, sent_to_agent=False, state=WorkState.QUEUED)
        .select_related("job__jobtype_version__jobtype", "job__user", "job__group")
        .prefetch_related(
            "job__tags",
            Prefetch(
                "job__notified_users",
                queryset=JobNotifiedUser.objects.select_related("user"),
            ),
        )
        .order_by("job_id", "frame", "tile", "pk")
    )
    by_job: dict[int, list[Task]] = {}
    for task in tasks:
        by_job.setdefault(task.job_id, []).append(task)
    return by_job


def json_body(response: requests.Response) -> Any:
    """The body parsed as JSON whatever its Content-Type; None if it is not JSON.

    Agent 0.8.6 labels its JSON ``text/html``, and some answers are empty.
    """
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _rejected_ids(body: Any, task_ids: Sequence[int]) -> list[int]:
    """The ids of ``task_ids`` a 409 body lists in ``rejected_task_ids``.

    A 409 without a usable list is read as a refusal of every task: the agent
    said it did not take the assignment, and sending it again as is would
    only conflict again.
    """
    rejected = body.get("rejected_task_ids") if isinstance(body, dict) else None
    if not isinstance(rejected, list):
        return list(task_ids)
    wanted = {str(value) for value in rejected}
    return [task_id for task_id in task_ids if str(task_id) in wanted]


def _mark_sent(agent: Agent, task_ids: Sequence[int]) -> None:
    """Mark tasks the agent took as sent, if they are still its open tasks.

    A task may already be running: the agent can report "running" before
    this update, and it still was sent.
    """
    if task_ids:
        Task.objects.filter(
            pk__in=task_ids,
            agent=agent,
            state__in=ACTIVE_WORK_STATES,
        ).update(sent_to_agent=True)


def _unassign(agent: Agent, task_ids: Sequence[int]) -> None:
    """Give tasks the agent refused back to the queue (``attempts`` unchanged)."""
    if task_ids:
        Task.objects.filter(
            pk__in=task_ids,
            agent=agent,
            state=WorkState.QUEUED,
            sent_to_agent=False,
        ).update(agent=None, sent_to_agent=False)


def _learn_capacity(agent: Agent, body: Any) -> None:
    """Take the free RAM and CPUs an agent gave as its reason for a refusal.

    0.8.6 answers ``400 {"error": "Not enough ram", "agent_ram": free, ...}``
    (or ``"agent_cpus"``). The agent knows its own state better than its last
    report: storing it keeps the planner from offering the same job to the
    same agent on every tick. One UPDATE, only when there is something to
    learn.
    """
    if not isinstance(body, dict):
        return
    changes: dict[str, int] = {}
    for key, column in (("agent_ram", "free_ram"), ("agent_cpus", "cpus")):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            changes[column] = value
    if changes.get("cpus") == 0:
        del changes["cpus"]  # an agent always has a CPU; keep the registered count
    if changes:
        Agent.objects.filter(pk=agent.pk).update(**changes)


def _post(
    session: requests.Session, url: str, payload: dict[str, Any], agent: Agent
) -> requests.Response:
    """Post one assignment; AgentUnavailableError when the agent cannot be reached."""
    try:
        return session.post(
            url,
            data=json.dumps(payload),
            timeout=farm_config("agent_request_timeout"),
            allow_redirects=False,
        )
    except requests.RequestException as error:
        raise AgentUnavailableError(
            f"agent {agent} ({agent.pk}) could not be reached at {url}: {error}"
        ) from error


def http_session() -> requests.Session:
    """An HTTP session with the headers the agent expects from the master.

    ``Accept: application/json`` matters: with ``*/*`` the agent answers its
    errors with a 415 instead of the real status.
    """
    session = requests.Session()
    session.headers.update(
        {
            "User-Agent": farm_config("master_user_agent"),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
    )
    return session


def contactable_agent(
    agent_id: uuid.UUID | str, *, states: Collection[str]
) -> tuple[Agent | None, str | None]:
    """The agent to contact, or None and why not (unknown, passive, its state).

    Passive agents are never contacted; ``states`` are those the caller
    contacts. One query.
    """
    agent = Agent.objects.filter(pk=agent_id).first()
    if agent is None:
        return None, "unknown agent"
    if agent.use_address == UseAddress.PASSIVE:
        return None, "passive agent"
    if agent.state not in states:
        return None, f"agent is {agent.state}"
    return agent, None


def send_assignment(*, agent_id: uuid.UUID | str) -> SendResult:
    """Send an agent its assigned tasks that it was not sent yet, one POST per job.

    Passive, offline and disabled agents (and unknown ids) are not contacted;
    their tasks stay as they are. Raises AgentUnavailableError on a 503 or
    when the agent cannot be reached; the jobs handled before stay handled,
    so calling again sends only what is left. Safe to call repeatedly.
    """
    result = SendResult(agent_id=str(agent_id))
    agent, result.skipped = contactable_agent(agent_id, states=AVAILABLE_AGENT_STATES)
    if agent is None:
        return result
    pending = _pending_tasks(agent)
    if not pending:
        return result

    url = agent.api_url() + "/assign"
    with http_session() as session:
        for tasks in pending.values():
            task_ids = [task.pk for task in tasks]
            payload = build_assignment_payload(agent, tasks)
            response = _post(session, url, payload, agent)
            status = response.status_code
            if status == RETRY_STATUS:
                raise AgentUnavailableError(
                    f"agent {agent} ({agent.pk}) is busy (503): {response.text[:200]}"
                )
            if status in ACCEPTED_STATUSES:
                rejected: list[int] = []
            elif status == PARTIAL_STATUS:
                rejected = _rejected_ids(json_body(response), task_ids)
            else:
                rejected = task_ids
                _learn_capacity(agent, json_body(response))
            if rejected:
                logger.warning(
                    "agent %s refused tasks %s of job %s (%s): %s",
                    agent,
                    rejected,
                    tasks[0].job_id,
                    status,
                    json_body(response) or response.text[:200],
                )
            refused = set(rejected)
            accepted = [task_id for task_id in task_ids if task_id not in refused]
            # Both changes or neither; a single UPDATE needs no transaction.
            with transaction.atomic() if rejected and accepted else nullcontext():
                _unassign(agent, rejected)
                _mark_sent(agent, accepted)
            result.sent.extend(accepted)
            result.unassigned.extend(rejected)
    return result


def give_up_on_agent(
    *, agent_id: uuid.UUID | str, reason: str = "could not be sent its tasks"
) -> SendResult:
    """After contacting the agent failed for good: mark it offline, requeue its tasks.

    ``reason`` goes to the log. A disabled agent stays disabled. Idempotent.
    """
    requeued = requeue_agent_tasks(agent_ids=[agent_id])
    logger.warning(
        "agent %s %s: marked offline, %d tasks requeued", agent_id, reason, requeued
    )
    return SendResult(agent_id=str(agent_id), requeued=requeued, gave_up=True)


@dataclass
class SendsResult:
    """What sending a group of agents their assignments did.

    ``results`` holds one `SendResult` per agent that was handled (in the
    order given); ``unavailable`` the agents that could not take their
    assignment now (`AgentUnavailableError`), whose sending the caller
    retries; ``errors`` any other error, per agent.
    """

    results: list[SendResult] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    errors: dict[str, BaseException] = field(default_factory=dict)


def _send_one(agent_id: str) -> SendResult | BaseException:
    """`send_assignment` for one agent; the error instead of raising it."""
    try:
        return send_assignment(agent_id=agent_id)
    except Exception as error:  # handed back: the other agents go on
        return error


def _in_threads(
    work: Callable[[str], SendResult | BaseException],
    items: Sequence[str],
    concurrency: int,
) -> list[SendResult | BaseException]:
    """``work`` of each item, up to ``concurrency`` at once; results in order.

    With one thread (or one item) it runs in the caller's thread. Each
    thread closes its own database connections when it is done.
    """
    if concurrency <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    outcomes: list[SendResult | BaseException | None] = [None] * len(items)
    pending = iter(enumerate(items))
    lock = threading.Lock()

    def worker() -> None:
        try:
            while True:
                with lock:
                    entry = next(pending, None)
                if entry is None:
                    return
                index, item = entry
                outcomes[index] = work(item)
        finally:
            connections.close_all()  # this thread's connections only

    threads = [
        threading.Thread(target=worker, name=f"send-assignments-{number}")
        for number in range(min(concurrency, len(items)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [
        RuntimeError("not sent") if outcome is None else outcome for outcome in outcomes
    ]


def send_assignments(
    *, agent_ids: Sequence[str], concurrency: int | None = None
) -> SendsResult:
    """Send each of these agents its assigned, unsent tasks (`send_assignment`).

    One tick's chunk of agents in one call, up to ``concurrency`` agents
    contacted at once (`SEND_CONCURRENCY` by default): a slow or
    unreachable agent delays only its own thread. An agent that cannot take
    its assignment now is listed in ``unavailable`` for the caller to retry
    on its own; any other error is kept per agent, after which the other
    agents are still sent theirs.
    """
    outcome = SendsResult()
    ids = [str(agent_id) for agent_id in agent_ids]
    for agent_id, sent in zip(
        ids,
        _in_threads(_send_one, ids, concurrency or SEND_CONCURRENCY),
        strict=True,
    ):
        if isinstance(sent, SendResult):
            outcome.results.append(sent)
        elif isinstance(sent, AgentUnavailableError):
            logger.info(
                "agent %s is unavailable, retrying on its own: %s", agent_id, sent
            )
            outcome.unavailable.append(agent_id)
        else:
            logger.error(
                "sending agent %s its assignment failed", agent_id, exc_info=sent
            )
            outcome.errors[agent_id] = sent
    return outcome
