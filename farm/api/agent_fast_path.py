"""The agents' hot paths, answered ahead of the middleware stack and DRF.

Agents report their state every few seconds (``POST /agents/<id>``, R2 and
R3) and every change of the tasks they run (``POST /jobs/<job>/tasks/<id>``,
R6 and R9-R11); a farm of thousands of agents lives on these two requests.
`AgentFastPathMiddleware` answers them when they are exactly what the agent
sends (`agent_json`): a JSON object posted without credentials, cookies or
``?query`` from the agent networks (or anything with ``login_disabled``),
with ``Accept`` absent, ``*/*`` or ``application/json``. It calls the same
services as the API's views and renders with the same renderer, so the
answer is byte for byte the view's:

- heartbeats (``state``, ``free_ram``, ``current_assignments``, the agent's
  own ``id``): `report_agent` (one ``UPDATE ... RETURNING``) and
  `AgentSerializer`, its fields built once;
- task reports (`parse_agent_report`'s bodies, on numeric ids):
  `apply_agent_report` (at most 3 statements) and `task_data`.

Anything else (another key or JSON type, a refusal, an unknown agent or
task, a credential, a ``?query``, another ``Accept`` or ``Content-Type``, a
database error) is not answered here: the request goes on to the view,
which answers it, errors included, as it always did. The tests check both
paths give the same answers (``farm/tests/test_api_agent_heartbeat.py``,
``farm/tests/test_task_reports.py``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from farm.api.client_address import is_from_agent_network
from farm.api.parsers import json_value_error
from farm.api.renderers import FarmJSONRenderer
from farm.api.serializers.agents import AgentSerializer
from farm.api.serializers.jobs import task_data
from farm.api.views.base import carries_credentials
from farm.choices import AgentState
from farm.services.agents import AgentReport, report_agent
from farm.services.task_reports import apply_agent_report, parse_agent_report
from farm.validators import parse_id
from pyfarm_site.conf import farm_config

#: The body keys the heartbeat's fast path takes; any other goes to the view.
HEARTBEAT_KEYS = frozenset({"id", "state", "free_ram", "current_assignments"})
#: The headers each view's answer carries besides the body: DRF's ``Allow``
#: and ``Vary``. The task view authenticates every request, which reads the
#: session (``Vary: Cookie``) unless ``login_disabled`` gave the request its
#: user. The tests compare the answers byte for byte.
HEARTBEAT_HEADERS = {"Vary": "Accept", "Allow": "GET, POST, DELETE, HEAD, OPTIONS"}
TASK_HEADERS = {"Vary": "Accept, Cookie", "Allow": "GET, POST, HEAD, OPTIONS"}
TASK_HEADERS_LOGIN_DISABLED = {**TASK_HEADERS, "Vary": "Accept"}
_ACCEPTED = frozenset({None, "*/*", "application/json"})
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_FREE_RAM_RANGE = range(0, 2**31)
_STATES = frozenset(AgentState.values)

_agent_serializer = AgentSerializer()
_renderer = FarmJSONRenderer()


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (DRF's parser refuses them too)."""
    raise ValueError(name)


def agent_json(request: HttpRequest) -> dict[str, Any] | None:
    """The body of a request exactly as the agent sends it, else None.

    None unless the request needs no user (the agent networks, or
    ``login_disabled``), carries no credentials, cookies or query string,
    accepts plain JSON and posts a JSON object DRF's parser takes as it is.
    """
    meta = request.META
    if (
        meta.get("QUERY_STRING")
        or meta.get("CONTENT_TYPE") != "application/json"
        or meta.get("HTTP_ACCEPT") not in _ACCEPTED
        or carries_credentials(request)
    ):
        return None
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or length):
        return None
    if not (farm_config("login_disabled") or is_from_agent_network(request)):
        return None
    try:
        data = json.loads(request.body.decode(), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or json_value_error(data) is not None:
        return None
    return data


def heartbeat_fields(
    data: dict[str, Any], agent_id: uuid.UUID
) -> dict[str, Any] | None:
    """The columns heartbeat ``data`` sets, or None when the view must answer.

    None unless every value is one the API's serializer takes as it is.
    """
    if not data.keys() <= HEARTBEAT_KEYS:
        return None
    state = data.get("state", AgentState.ONLINE)
    free_ram = data.get("free_ram", 0)
    if (
        not isinstance(state, str)
        or state not in _STATES
        or type(free_ram) is not int
        or free_ram not in _FREE_RAM_RANGE
        or not isinstance(data.get("current_assignments", {}), dict)
        or not _is_own_id(data.get("id", str(agent_id)), agent_id)
    ):
        return None
    return {key: data[key] for key in ("state", "free_ram") if key in data}


def _is_own_id(value: Any, agent_id: uuid.UUID) -> bool:
    """Whether ``value`` (the body's ``id``) is a UUID string equal to the URL's."""
    if not isinstance(value, str):
        return False
    try:
        return uuid.UUID(value) == agent_id
    except ValueError:
        return False


def answer_heartbeat(data: dict[str, Any], agent_id: str) -> Any:
    """What the heartbeat view answers to ``data``, or None to let it answer."""
    pk = uuid.UUID(agent_id)
    fields = heartbeat_fields(data, pk)
    if fields is None:
        return None
    agent = report_agent(agent_id=pk, report=AgentReport(fields=fields))
    return None if agent is None else _agent_serializer.to_representation(agent)


def answer_task_report(data: dict[str, Any], job: str, task_id: str) -> Any:
    """What the task view answers to the agent's report ``data``, or None."""
    report = parse_agent_report(data)
    job_pk, task_pk = parse_id(job), parse_id(task_id)
    if report is None or job_pk is None or task_pk is None:
        return None
    task = apply_agent_report(job_id=job_pk, task_id=task_pk, report=report)
    return None if task is None else task_data(task)


def json_answer(data: Any, headers: dict[str, str]) -> HttpResponse:
    """``data`` as DRF's view answers it, with what the middleware after adds."""
    body = _renderer.render(data, "application/json", {})
    response = HttpResponse(body, content_type="application/json")
    for header, value in headers.items():
        response[header] = value
    # What the middleware after this one would add (clickjacking, length).
    response["X-Frame-Options"] = getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()
    response["Content-Length"] = str(len(body))
    return response


class AgentFastPathMiddleware:
    """Answers the agents' plain heartbeats and task reports first (see above).

    Placed after the request guard (NUL characters) and before everything
    else; ``SecurityMiddleware``, before it, adds its headers as to any
    answer.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.paths = re.compile(
            rf"/{re.escape(settings.API_PREFIX)}(?:agents/(?P<agent_id>{_UUID})"
            r"|jobs/(?P<job>[0-9]+)/tasks/(?P<task_id>[0-9]+))"
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """The fast answer to the agent's plain requests; anything else goes on."""
        if request.method == "POST" and (
            match := self.paths.fullmatch(request.path_info)
        ):
            response = self.answer(request, match)
            if response is not None:
                return response
        return self.get_response(request)

    @staticmethod
    def answer(request: HttpRequest, match: re.Match[str]) -> HttpResponse | None:
        """The view's answer to the request ``match`` routed, or None."""
        data = agent_json(request)
        if data is None:
            return None
        try:
            if match["agent_id"] is not None:
                answer = answer_heartbeat(data, match["agent_id"])
                headers = HEARTBEAT_HEADERS
            else:
                answer = answer_task_report(data, match["job"], match["task_id"])
                headers = (
                    TASK_HEADERS_LOGIN_DISABLED
                    if farm_config("login_disabled")
                    else TASK_HEADERS
                )
        except (ValidationError, DatabaseError):
            return None
        return None if answer is None else json_answer(answer, headers)
