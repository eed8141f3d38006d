"""The lean path of the agents' heartbeat (``POST /agents/<id>``, R2 and R3).

Agents report their state every few seconds, and a farm of thousands of
agents lives on this one request. `HeartbeatMiddleware` answers the plain
heartbeat ahead of the middleware stack and of DRF: a JSON object with
``state``, ``free_ram``, ``current_assignments`` (and the agent's own
``id``), posted without credentials from the agent networks. It calls the
same service as the API's view (`report_agent`: one ``UPDATE ... RETURNING``)
and renders the same serializer (`AgentSerializer`, its fields built once)
with the same renderer, so the answer is byte for byte the view's.

Anything else (another key or JSON type, a refusal, an unknown agent, a
credential, a ``?query``, another ``Accept`` or ``Content-Type``, a
database error) is not answered here: the request goes on to the view,
which answers it, errors included, as it always did. The tests check both
paths give the same answers (``farm/tests/test_api_agent_heartbeat.py``).
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
from farm.api.views.base import carries_credentials
from farm.choices import AgentState
from farm.services.agents import AgentReport, report_agent
from pyfarm_site.conf import farm_config

#: The body keys the lean path takes; any other sends the request to the view.
HEARTBEAT_KEYS = frozenset({"id", "state", "free_ram", "current_assignments"})
#: What the view answers besides the body (DRF's ``Allow`` and ``Vary``).
ANSWER_HEADERS = {"Vary": "Accept", "Allow": "GET, POST, DELETE, HEAD, OPTIONS"}
_ACCEPTED = frozenset({None, "*/*", "application/json"})
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_FREE_RAM_RANGE = range(0, 2**31)
_STATES = frozenset(AgentState.values)

_agent_serializer = AgentSerializer()
_renderer = FarmJSONRenderer()


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (DRF's parser refuses them too)."""
    raise ValueError(name)


def heartbeat_fields(
    request: HttpRequest, agent_id: uuid.UUID
) -> dict[str, Any] | None:
    """The columns a plain heartbeat sets, or None when the view must answer.

    None unless the request is exactly what the agent sends, needs no user
    (the agent networks, or ``login_disabled``) and holds values the API's
    serializer takes as they are.
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
    if (
        not isinstance(data, dict)
        or not data.keys() <= HEARTBEAT_KEYS
        or json_value_error(data) is not None
    ):
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


def answer_heartbeat(request: HttpRequest, agent_id: str) -> HttpResponse | None:
    """The view's answer to a plain heartbeat, or None to let the view answer."""
    pk = uuid.UUID(agent_id)
    fields = heartbeat_fields(request, pk)
    if fields is None:
        return None
    try:
        agent = report_agent(agent_id=pk, report=AgentReport(fields=fields))
    except (ValidationError, DatabaseError):
        return None
    if agent is None:
        return None
    body = _renderer.render(
        _agent_serializer.to_representation(agent), "application/json", {}
    )
    response = HttpResponse(body, content_type="application/json")
    for header, value in ANSWER_HEADERS.items():
        response[header] = value
    # What the middleware after this one would add (clickjacking, length).
    response["X-Frame-Options"] = getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()
    response["Content-Length"] = str(len(body))
    return response


class HeartbeatMiddleware:
    """Answers plain agent heartbeats before the rest of the stack (see above).

    Placed after the request guard (NUL characters) and before everything
    else; ``SecurityMiddleware``, before it, adds its headers as to any
    answer.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.path = re.compile(
            rf"/{re.escape(settings.API_PREFIX)}agents/(?P<agent_id>{_UUID})"
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """The lean answer to a plain heartbeat; anything else goes on."""
        if request.method == "POST" and (
            match := self.path.fullmatch(request.path_info)
        ):
            response = answer_heartbeat(request, match["agent_id"])
            if response is not None:
                return response
        return self.get_response(request)
