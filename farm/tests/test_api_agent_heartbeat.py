"""The heartbeat's lean path (`farm.api.agent_fast_path`) and its SQL statements.

``POST /agents/<id>`` from an agent: the lean path answers plain heartbeats
ahead of the middleware stack and DRF, exactly as the view would; anything
else goes on to the view. Issue #12: at most 3 SQL statements per heartbeat.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from farm.api.views.agents import AgentViewSet
from farm.choices import AgentState
from farm.models import Agent
from farm.services.agents import AGENT_REPORT_FIELDS, AgentReport, report_agent
from farm.signals import work_changed
from farm.tests.factories import AgentFactory
from farm.tests.fast_path import NOT_THE_AGENTS_REQUEST

pytestmark = pytest.mark.django_db

ENDPOINT = "/api/v1/agents/"
AGENT_ID = "57b72fba-d506-4057-90b4-5e4aa4843915"
URL = f"{ENDPOINT}{AGENT_ID}"
NOW = datetime.datetime(2026, 11, 29, 7, 5, 1, 123456, tzinfo=datetime.UTC)
# What pyfarm-agent 0.8.6 sends (agent-protocol.md R2 and R3).
HEARTBEAT = {"state": "online", "free_ram": 60000, "current_assignments": {}}
RUNNING = {
    "state": "running",
    "free_ram": 22000,
    "current_assignments": {"7e178c94": {"id": "7e178c94", "tasks": [{"id": 1}]}},
}
SHUTDOWN = {"state": "offline", "free_ram": 23000, "current_assignments": {}}
WITH_OWN_ID = {**HEARTBEAT, "id": AGENT_ID}
LEAN_BODIES = [HEARTBEAT, RUNNING, SHUTDOWN, WITH_OWN_ID, {"free_ram": 1}]
# Bodies the lean path leaves to the view: other keys, other spellings, or
# refused.
VIEW_BODIES = [
    {**HEARTBEAT, "disks": [{"mountpoint": "/", "size": 10, "free": 5}]},
    {**HEARTBEAT, "state": "RUNNING"},
    {**HEARTBEAT, "state": 104},
    {**HEARTBEAT, "free_ram": 60000.0},
    {**HEARTBEAT, "ram": 1234},
    {**HEARTBEAT, "free_ram": -1},
    {**HEARTBEAT, "free_ram": True},
    {**HEARTBEAT, "state": "paused"},
    {**HEARTBEAT, "current_assignments": []},
    {**HEARTBEAT, "id": "4f6e2c1a-0000-4000-8000-000000000000"},
    {**HEARTBEAT, "id": 12},
    {**HEARTBEAT, "colour": "blue"},
    {**HEARTBEAT, "current_assignments": {"a": "\u0000"}},
    [HEARTBEAT],
]


@pytest.fixture
def agent() -> Agent:
    """The agent of `AGENT_ID`, online and heard from an hour ago."""
    return AgentFactory.create(
        id=AGENT_ID,
        remote_ip="10.20.30.41",
        last_heard_from=NOW - datetime.timedelta(hours=1),
    )


@pytest.fixture
def without_lean_path(settings: Any) -> None:
    """The site without `AgentFastPathMiddleware`: the view answers every request."""
    settings.MIDDLEWARE = [
        name
        for name in settings.MIDDLEWARE
        if not name.endswith("AgentFastPathMiddleware")
    ]


@pytest.fixture
def lean_path_must_not_answer() -> Iterator[None]:
    """Fail the test if the lean path updates the agent (the view must answer)."""
    with mock.patch(
        "farm.api.agent_fast_path.report_agent",
        side_effect=AssertionError("the lean path answered"),
    ):
        yield


@pytest.fixture
def view_must_not_answer() -> Iterator[None]:
    """Fail the test if the view answers a heartbeat."""
    with mock.patch.object(
        AgentViewSet, "report", side_effect=AssertionError("the view answered")
    ):
        yield


def _answer(client: Any, body: Any, **extra: Any) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a heartbeat posted at `NOW`."""
    with time_machine.travel(NOW, tick=False):
        response = client.post(
            URL, json.dumps(body), content_type="application/json", **extra
        )
    return response.status_code, dict(response.headers), response.content


def _send(client: Any, body: Any = HEARTBEAT) -> Any:
    return client.post(URL, json.dumps(body), content_type="application/json")


def test_settings_place_the_lean_path_after_the_request_guard() -> None:
    middleware = settings.MIDDLEWARE
    assert middleware.index("farm.api.agent_fast_path.AgentFastPathMiddleware") == (
        middleware.index("farm.api.middleware.RequestGuardMiddleware") + 1
    )


@pytest.mark.parametrize("body", LEAN_BODIES)
def test_the_lean_path_answers_plain_heartbeats_without_the_view(
    agent_client, agent, view_must_not_answer, body
) -> None:
    status, _headers, content = _answer(agent_client, body)
    assert status == 200
    assert json.loads(content)["id"] == AGENT_ID


@pytest.mark.parametrize("body", LEAN_BODIES + VIEW_BODIES)
@pytest.mark.parametrize("state", [AgentState.ONLINE, AgentState.DISABLED])
def test_the_lean_path_answers_what_the_view_answers(
    agent_client, agent_view_client, agent, body, state
) -> None:
    Agent.objects.filter(pk=agent.pk).update(state=state)
    lean = _answer(agent_client, body)
    Agent.objects.filter(pk=agent.pk).update(state=state)
    assert _answer(agent_view_client, body) == lean


@pytest.mark.parametrize("body", LEAN_BODIES)
def test_the_view_client_is_answered_by_the_view(
    agent_view_client, agent, lean_path_must_not_answer, body
) -> None:
    assert _answer(agent_view_client, body)[0] == 200


@pytest.mark.parametrize("body", VIEW_BODIES)
def test_other_bodies_go_to_the_view(
    agent_client, agent, lean_path_must_not_answer, body
) -> None:
    assert _send(agent_client, body).status_code in (200, 400)


@NOT_THE_AGENTS_REQUEST
def test_requests_with_credentials_or_options_go_to_the_view(
    agent_client, agent, lean_path_must_not_answer, extra
) -> None:
    response = agent_client.post(
        URL, json.dumps(HEARTBEAT), content_type="application/json", **extra
    )
    assert response.status_code in (200, 401)


def test_a_bad_token_is_refused_even_from_an_agent_network(agent_client, agent) -> None:
    response = agent_client.post(
        URL,
        json.dumps(HEARTBEAT),
        content_type="application/json",
        HTTP_AUTHORIZATION="Token pfk_nonsense",
    )
    assert response.status_code == 401


def test_a_request_from_outside_the_agent_networks_goes_to_the_view(
    anonymous_client, agent
) -> None:
    assert _send(anonymous_client).status_code == 401


def test_a_heartbeat_of_an_unknown_agent_is_the_views_json_404(agent_client) -> None:
    response = _send(agent_client)
    assert response.status_code == 404
    assert response.json() == {"error": f"Agent `{AGENT_ID}` not found"}


def test_the_lean_path_records_the_heartbeat(agent_client, agent) -> None:
    with time_machine.travel(NOW, tick=False):
        _send(agent_client, RUNNING)
    agent.refresh_from_db()
    assert (agent.state, agent.free_ram, agent.last_heard_from) == (
        AgentState.RUNNING,
        22000,
        NOW,
    )


def test_the_lean_path_keeps_a_disabled_agent_disabled(agent_client, agent) -> None:
    agent.disable()
    assert _send(agent_client).json()["state"] == "disabled"
    agent.refresh_from_db()
    assert agent.state == AgentState.DISABLED


def test_an_agent_back_online_signals_work_changed(
    agent_client, agent, django_capture_on_commit_callbacks
) -> None:
    Agent.objects.filter(pk=agent.pk).update(state=AgentState.OFFLINE)
    receiver = mock.Mock()
    work_changed.connect(receiver, dispatch_uid="test_api_agent_heartbeat")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            _send(agent_client)
            _send(agent_client)
    finally:
        work_changed.disconnect(dispatch_uid="test_api_agent_heartbeat")
    assert [call.kwargs["reason"] for call in receiver.call_args_list] == [
        "agent back online"
    ]


# --- SQL statements per heartbeat (issue #12: at most 3) -------------------------


def test_a_heartbeat_is_one_statement(
    agent_client, agent, django_assert_num_queries
) -> None:
    with django_assert_num_queries(1):
        assert _send(agent_client).status_code == 200


def test_a_heartbeat_with_login_disabled_is_one_statement(
    agent_client, agent, farm_config, django_assert_num_queries
) -> None:
    UserFactory.create(is_superuser=True)
    farm_config(login_disabled=True)
    with django_assert_num_queries(1):
        assert _send(agent_client).status_code == 200


def test_a_heartbeat_from_offline_is_two_statements(
    agent_client, agent, django_assert_num_queries
) -> None:
    Agent.objects.filter(pk=agent.pk).update(state=AgentState.OFFLINE)
    with django_assert_num_queries(2):
        assert _send(agent_client).json()["state"] == "online"


def test_a_heartbeat_the_view_answers_is_one_statement(
    agent_client, agent, without_lean_path, django_assert_num_queries
) -> None:
    with django_assert_num_queries(1):
        assert _send(agent_client).status_code == 200


def test_a_heartbeat_the_view_answers_with_login_disabled_is_one_statement(
    agent_client, agent, without_lean_path, farm_config, django_assert_num_queries
) -> None:
    UserFactory.create(is_superuser=True)
    farm_config(login_disabled=True)
    with django_assert_num_queries(1):
        assert _send(agent_client).status_code == 200


def test_a_refused_heartbeat_looks_the_agent_up_for_its_404(
    agent_client, django_assert_num_queries
) -> None:
    with django_assert_num_queries(1):
        response = _send(agent_client, {**HEARTBEAT, "free_ram": -1})
    assert response.status_code == 404


# --- the first superuser with login_disabled ---------------------------------------


def test_login_disabled_looks_the_superuser_up_once_per_api_request(
    anonymous_client, farm_config
) -> None:
    UserFactory.create(is_superuser=True)
    farm_config(login_disabled=True)
    with CaptureQueriesContext(connection) as queries:
        assert anonymous_client.get("/api/v1/jobs/").status_code == 200
    users = [q for q in queries.captured_queries if '"users"' in q["sql"]]
    assert len(users) == 1


def test_login_disabled_looks_no_user_up_for_agent_facing_requests(
    anonymous_client, agent, farm_config, without_lean_path
) -> None:
    UserFactory.create(is_superuser=True)
    farm_config(login_disabled=True)
    with CaptureQueriesContext(connection) as queries:
        assert anonymous_client.get(URL).status_code == 200
        assert _send(anonymous_client).status_code == 200
    assert [q for q in queries.captured_queries if '"users"' in q["sql"]] == []


# --- the service ------------------------------------------------------------------


def test_report_agent_answers_none_for_an_unknown_agent() -> None:
    unknown = uuid.UUID(AGENT_ID)
    assert report_agent(agent_id=unknown, report=AgentReport(fields={})) is None


def test_report_agent_answers_the_stored_row(agent) -> None:
    Agent.objects.filter(pk=agent.pk).update(notes="kept")
    updated = report_agent(agent_id=agent.pk, report=AgentReport(fields={"ram": 99}))
    assert updated is not None
    assert (updated.ram, updated.notes, updated.hostname) == (
        99,
        "kept",
        agent.hostname,
    )


def test_report_agent_completes_the_upgrade_to_the_reported_version(agent) -> None:
    Agent.objects.filter(pk=agent.pk).update(upgrade_to="0.9.0")
    updated = report_agent(
        agent_id=agent.pk, report=AgentReport(fields={"version": "0.9.0"})
    )
    assert updated is not None
    assert (updated.version, updated.upgrade_to) == ("0.9.0", None)


def test_report_agent_keeps_the_upgrade_for_another_version(agent) -> None:
    Agent.objects.filter(pk=agent.pk).update(upgrade_to="0.9.0")
    updated = report_agent(
        agent_id=agent.pk, report=AgentReport(fields={"version": "0.8.6"})
    )
    assert updated is not None
    assert updated.upgrade_to == "0.9.0"


def test_report_agent_sets_every_column_an_agent_reports(agent) -> None:
    columns = {
        "hostname": "render-01.example.com",
        "port": 50124,
        "remote_ip": "10.1.2.3",
        "use_address": "hostname",
        "state": "running",
        "cpus": 8,
        "ram": 32768,
        "free_ram": 1024,
        "ram_allocation": 0.5,
        "cpu_allocation": 0.25,
        "time_offset": -3,
        "version": "0.8.7",
        "os_class": "linux",
        "os_fullname": "Linux-6.1",
        "cpu_name": "Xeon",
    }
    assert set(columns) == AGENT_REPORT_FIELDS
    with time_machine.travel(NOW, tick=False):
        updated = report_agent(agent_id=agent.pk, report=AgentReport(fields=columns))
    stored = Agent.objects.get(pk=agent.pk)
    assert updated is not None
    for instance in (updated, stored):
        assert {name: getattr(instance, name) for name in columns} == columns
        assert instance.last_heard_from == NOW
