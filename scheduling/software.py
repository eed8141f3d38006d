"""Asking agents to check which software they have (``POST /check_software``).

The original's ``check_software_in_single_agent``: for each software version
of the catalog (or one chosen version) the master posts
``{"software": ..., "version": ...}`` to the agent, which answers 202 with an
empty body and then runs the version's discovery code by itself, reporting
back through the API (agent-protocol.md R13 to R16): the agent's software
list changes when it has finished.

`request_software_check` is what the dashboard and the admin call: it queues
one Celery task per agent after the transaction commits and returns at once.
The task (`scheduling.tasks.software.check_agent_software`) calls
`check_agent_software`, which contacts the agent like sending and polling do
(`scheduling.sending.http_session`, ``agent_request_timeout``). An agent
that answers 404 (pyfarm-agent 0.8.6 has no ``/check_software``) or cannot
be reached is reported, not retried: the outcome is logged and kept in the
cache for the agent's page (`last_software_check`), where the admin can ask
again.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import requests
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from farm.choices import AgentState
from farm.models import SoftwareVersion
from pyfarm_site.conf import farm_config
from scheduling.sending import contactable_agent, http_session

__all__ = [
    "CHECK_SOFTWARE_PATH",
    "SoftwareCheckResult",
    "check_agent_software",
    "last_software_check",
    "request_software_check",
]

logger = logging.getLogger(__name__)

CHECK_SOFTWARE_PATH = "/check_software"
# The agent takes the request and checks in the background.
ACCEPTED_STATUSES = frozenset({200, 202, 204})
# Disabled agents still run and may be checked; offline ones are not reached.
CHECKED_STATES = frozenset(AgentState) - {AgentState.OFFLINE}
# How long the outcome of the last check stays on the agent's page.
RESULT_TIMEOUT = 7 * 24 * 3600


def _cache_key(agent_id: uuid.UUID | str) -> str:
    return f"farm:software-check:{str(agent_id).lower()}"


@dataclass
class SoftwareCheckResult:
    """What one check did, for the log, the Celery result and the agent's page.

    ``asked`` are the "software version" pairs the agent accepted;
    ``refused`` those it answered with another status (and the status).
    ``unsupported`` is set when the agent answered 404 (it has no
    ``/check_software``), ``error`` when it could not be reached, and
    ``skipped`` says why it was not contacted at all.
    """

    agent_id: str
    state: str = "done"
    asked: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    unsupported: bool = False
    error: str | None = None
    skipped: str | None = None
    time: str = field(default_factory=lambda: timezone.now().isoformat())

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-serialisable primitives."""
        return asdict(self)

    @property
    def summary(self) -> str:
        """One sentence for people: what happened."""
        if self.state == "queued":
            return "A software check is queued."
        if self.skipped:
            return f"The agent was not asked: {self.skipped}."
        if self.unsupported:
            return (
                "The agent does not support checking software (it answered 404; "
                "pyfarm-agent 0.8.6 has no /check_software)."
            )
        parts = []
        if self.asked:
            parts.append(f"The agent checks {len(self.asked)} software version(s).")
        if self.refused:
            parts.append(f"It refused: {', '.join(self.refused)}.")
        if self.error:
            parts.append(f"It could not be reached: {self.error}")
        if not parts:
            parts.append("There was no software version to check.")
        return " ".join(parts)


def _versions(version_ids: Iterable[int] | None) -> list[tuple[str, str]]:
    """(software, version) names to check: the chosen ones, else the catalog's."""
    versions = SoftwareVersion.objects.select_related("software").order_by(
        "software__software", "rank"
    )
    if version_ids is not None:
        versions = versions.filter(pk__in=list(version_ids))
    return [(row.software.software, row.version) for row in versions]


def _remember(result: SoftwareCheckResult) -> None:
    """Keep the outcome for the agent's page; a broken cache is only logged."""
    try:
        cache.set(_cache_key(result.agent_id), result.as_dict(), RESULT_TIMEOUT)
    except Exception:  # the check itself happened; the page just will not say
        logger.warning("could not store the software check of %s", result.agent_id)


def last_software_check(agent_id: uuid.UUID | str) -> SoftwareCheckResult | None:
    """The outcome of the agent's last software check, if still remembered."""
    try:
        stored = cache.get(_cache_key(agent_id))
    except Exception:
        return None
    if not isinstance(stored, dict):
        return None
    try:
        return SoftwareCheckResult(**stored)
    except TypeError:
        return None


def check_agent_software(
    *, agent_id: uuid.UUID | str, version_ids: Sequence[int] | None = None
) -> SoftwareCheckResult:
    """Ask one agent to check the given software versions (default: the catalog).

    One ``POST /check_software`` per version, without any database
    transaction held. Stops at the first 404 (the agent lacks the endpoint)
    or connection error; both are reported in the result, which is logged
    and remembered for the agent's page. Safe to repeat.
    """
    result = SoftwareCheckResult(agent_id=str(agent_id))
    agent, result.skipped = contactable_agent(agent_id, states=CHECKED_STATES)
    if agent is not None:
        url = agent.api_url() + CHECK_SOFTWARE_PATH
        with http_session() as session:
            for software, version in _versions(version_ids):
                name = f"{software} {version}"
                try:
                    response = session.post(
                        url,
                        data=json.dumps({"software": software, "version": version}),
                        timeout=farm_config("agent_request_timeout"),
                        allow_redirects=False,
                    )
                except requests.RequestException as error:
                    result.error = str(error)
                    break
                if response.status_code == 404:
                    result.unsupported = True
                    break
                if response.status_code in ACCEPTED_STATUSES:
                    result.asked.append(name)
                else:
                    result.refused.append(f"{name} ({response.status_code})")
        level = logging.WARNING if result.unsupported or result.error else logging.INFO
        logger.log(level, "software check of agent %s: %s", agent, result.summary)
    _remember(result)
    return result


def request_software_check(
    *, agent_ids: Iterable[uuid.UUID | str], version_id: int | None = None
) -> int:
    """Queue a software check of each agent (after commit); returns how many.

    ``version_id`` checks that one version, else every version of the
    catalog. Returns at once: the agents are contacted by a Celery worker.
    """
    from scheduling.tasks.software import check_agent_software as task

    ids = [str(agent_id) for agent_id in agent_ids]
    version_ids = [version_id] if version_id is not None else None
    for agent_id in ids:
        _remember(SoftwareCheckResult(agent_id=agent_id, state="queued"))
        transaction.on_commit(
            lambda agent_id=agent_id: task.delay(agent_id, version_ids)  # type: ignore[misc]
        )
    return len(ids)
