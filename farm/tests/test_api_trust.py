"""Who may act as an agent: the trust model of the agent-facing endpoints.

The agent networks change agents and report on tasks without credentials;
from elsewhere, farm admins may do all of it, a plain user only reports on
the tasks of their own jobs, and nobody else changes an agent. Each change
is tried by each kind of client; a refusal is a JSON 403 that changes
nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from accounts.tests.factories import UserFactory
from farm.api.permissions import TaskReportPermission
from farm.choices import AgentState, WorkState
from farm.models import Agent, Task, TaskLog, TaskTaskLogAssociation
from farm.tests.factories import (
    AgentFactory,
    JobFactory,
    SoftwareVersionFactory,
    TaskFactory,
    TaskLogFactory,
    TaskTaskLogAssociationFactory,
)

pytestmark = pytest.mark.django_db

# As in conftest: an agent network's address, and one outside them all.
AGENT_ADDRESS = "10.20.30.40"
OUTSIDE_ADDRESS = "203.0.113.9"
AGENT_ID = "57b72fba-d506-4057-90b4-5e4aa4843915"
NEW_AGENT_ID = "0b0b0b0b-d506-4057-90b4-5e4aa4843915"
LOG_ID = "2026-11-29_07-00-57_1_84e148ca5f264a45bd150360c2386176.csv"
ORIGINAL_LOG = b"the agent's log\n"
REGISTRATION = {
    "hostname": "render-01",
    "port": 50123,
    "cpus": 8,
    "ram": 16384,
    "free_ram": 12000,
}


@dataclass
class World:
    """An agent with software, and a task (with a registered, uploaded log)."""

    agent: Agent
    task: Task
    log: TaskLog
    logs_dir: Path


@pytest.fixture
def world(tmp_path: Path, farm_config: Any) -> Callable[[Any], World]:
    """Builds the world with the task's job owned by the given user."""
    logs_dir = tmp_path / "task_logs"
    logs_dir.mkdir()
    farm_config(tasklogs_dir=str(logs_dir))

    def build(owner: Any) -> World:
        agent = AgentFactory.create(id=AGENT_ID, remote_ip="10.20.30.41", port=50000)
        agent.software_versions.add(
            SoftwareVersionFactory.create(software__software="Blender", version="1")
        )
        SoftwareVersionFactory.create(software__software="Maya", version="2")
        task = TaskFactory.create(job=JobFactory.create(user=owner))
        log = TaskLogFactory.create(identifier=LOG_ID, agent=agent)
        TaskTaskLogAssociationFactory.create(task=task, log=log, attempt=1)
        (logs_dir / LOG_ID).write_bytes(ORIGINAL_LOG)
        return World(agent=agent, task=task, log=log, logs_dir=logs_dir)

    return build


@dataclass(frozen=True)
class Change:
    """One state-changing request of the agent protocol and what it touches."""

    method: str
    url: Callable[[World], str]
    body: Any = None
    content_type: str = "application/json"


def _task(world: World) -> str:
    return f"/api/v1/jobs/{world.task.job_id}/tasks/{world.task.pk}"


def _logs(world: World) -> str:
    return f"{_task(world)}/attempts/1/logs/"


AGENT_CHANGES = {
    "register a new agent": Change(
        "post", lambda w: "/api/v1/agents/", {**REGISTRATION, "id": NEW_AGENT_ID}
    ),
    "re-register an agent at another address": Change(
        "post",
        lambda w: "/api/v1/agents/",
        {**REGISTRATION, "id": AGENT_ID, "remote_ip": "10.66.66.66", "port": 6666},
    ),
    "disable an agent": Change(
        "post", lambda w: f"/api/v1/agents/{AGENT_ID}", {"state": "disabled"}
    ),
    "re-point an agent's address and port": Change(
        "post",
        lambda w: f"/api/v1/agents/{AGENT_ID}",
        {"remote_ip": "10.66.66.66", "port": 6666},
    ),
    "report an agent's software": Change(
        "post",
        lambda w: f"/api/v1/agents/{AGENT_ID}/software/",
        {"software": "Maya", "version": "2"},
    ),
    "remove an agent's software": Change(
        "delete", lambda w: f"/api/v1/agents/{AGENT_ID}/software/Blender/versions/1"
    ),
}

TASK_REPORTS = {
    "mark a task done": Change("post", _task, {"state": "done"}),
    "mark a task failed": Change(
        "post", _task, {"state": "failed", "last_error": "sabotage"}
    ),
    "report a task's progress": Change("post", _task, {"progress": 0.5}),
    "add a failed-on agent": Change(
        "post", lambda w: f"{_task(w)}/failed_on_agents/", {"id": AGENT_ID}
    ),
    "register a log": Change(
        "post", _logs, {"identifier": "other.csv", "agent_id": AGENT_ID}
    ),
    "set a log's state": Change("post", lambda w: _logs(w) + LOG_ID, {"state": "done"}),
    "overwrite a task's log": Change(
        "put",
        lambda w: _logs(w) + LOG_ID + "/logfile",
        b"forged log\n",
        content_type="text/csv",
    ),
}


def _send(client: APIClient, change: Change, world: World) -> Any:
    body = change.body
    if change.content_type == "application/json" and body is not None:
        body = json.dumps(body)
    return getattr(client, change.method)(
        change.url(world), data=body, content_type=change.content_type
    )


def _state(world: World) -> tuple[Any, ...]:
    """Everything the changes above could touch."""
    agents = tuple(
        Agent.objects.order_by("pk").values_list("pk", "state", "remote_ip", "port")
    )
    software = tuple(
        Agent.objects.filter(pk=AGENT_ID).values_list(
            "software_versions__software__software", flat=True
        )
    )
    task = Task.objects.filter(pk=world.task.pk).values(
        "state", "progress", "last_error", "failures", "agent_id"
    )[0]
    failed_on = tuple(world.task.failed_in_agents.values_list("pk", flat=True))
    logs = tuple(
        TaskTaskLogAssociation.objects.order_by("pk").values_list(
            "log__identifier", "state"
        )
    )
    log_file = (world.logs_dir / LOG_ID).read_bytes()
    return agents, software, tuple(task.items()), failed_on, logs, log_file


def _user_client(user: Any, address: str = OUTSIDE_ADDRESS) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.force_authenticate(user)
    return client


def _error(response: Any) -> str:
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    return str(body["error"])


# --- refusals ----------------------------------------------------------------


@pytest.mark.parametrize("change", AGENT_CHANGES.values(), ids=AGENT_CHANGES.keys())
def test_plain_users_from_outside_cannot_change_agents(
    api_client, user, world, change
) -> None:
    # Even the owner of a job the agent works on.
    state = world(owner=user)
    before = _state(state)
    response = _send(api_client, change, state)
    assert response.status_code == 403
    assert "agent networks" in _error(response)
    assert _state(state) == before


@pytest.mark.parametrize("change", TASK_REPORTS.values(), ids=TASK_REPORTS.keys())
def test_plain_users_from_outside_cannot_report_on_tasks_of_others_jobs(
    api_client, world, change
) -> None:
    state = world(owner=UserFactory.create(username="victim"))
    before = _state(state)
    response = _send(api_client, change, state)
    assert response.status_code == 403
    assert "owner" in _error(response)
    assert _state(state) == before


def test_tasks_of_jobs_without_an_owner_are_nobodys_to_report_on(
    api_client, world
) -> None:
    state = world(owner=None)
    before = _state(state)
    response = _send(api_client, TASK_REPORTS["mark a task done"], state)
    assert response.status_code == 403
    assert _state(state) == before


class _UncheckedReportView(APIView):
    """A task report that forgets to check the task's owner."""

    permission_classes = [TaskReportPermission]

    def post(self, request: Request) -> Response:
        return Response({"changed": True})


def _report_unchecked(user: Any) -> Any:
    request = APIRequestFactory().post(
        "/api/v1/jobs/1/tasks/1", {}, format="json", REMOTE_ADDR=OUTSIDE_ADDRESS
    )
    force_authenticate(request, user=user)
    return _UncheckedReportView.as_view()(request)


def test_task_reports_that_do_not_check_the_owner_refuse_plain_users(user) -> None:
    response = _report_unchecked(user)
    response.render()
    assert response.status_code == 403
    assert "owner" in _error(response)


def test_task_reports_that_do_not_check_the_owner_admit_admins(admin_user) -> None:
    assert _report_unchecked(admin_user).status_code == 200


def test_owners_cannot_hand_their_tasks_to_an_agent(api_client, user, world) -> None:
    state = world(owner=user)
    before = _state(state)
    response = _send(api_client, Change("post", _task, {"agent_id": AGENT_ID}), state)
    assert response.status_code == 403
    assert "assign a task to an agent" in _error(response)
    assert _state(state) == before


def test_anonymous_requests_from_outside_change_nothing(
    anonymous_client, world
) -> None:
    state = world(owner=None)
    before = _state(state)
    for change in (*AGENT_CHANGES.values(), *TASK_REPORTS.values()):
        response = _send(anonymous_client, change, state)
        assert response.status_code == 401
        _error(response)
    assert _state(state) == before


# --- what is allowed -------------------------------------------------------------


@pytest.mark.parametrize("change", TASK_REPORTS.values(), ids=TASK_REPORTS.keys())
def test_owners_may_report_on_the_tasks_of_their_own_jobs(
    api_client, user, world, change
) -> None:
    state = world(owner=user)
    before = _state(state)
    response = _send(api_client, change, state)
    assert response.status_code in (200, 201)
    assert _state(state) != before


def test_owners_may_give_their_task_back_to_the_queue(api_client, user, world) -> None:
    state = world(owner=user)
    Task.objects.filter(pk=state.task.pk).update(
        agent=state.agent, state=WorkState.RUNNING
    )
    response = _send(
        api_client, Change("post", _task, {"state": "queued", "agent_id": None}), state
    )
    assert response.status_code == 200
    assert response.json()["agent_id"] is None


ALL_CHANGES = {**AGENT_CHANGES, **TASK_REPORTS}


@pytest.mark.parametrize("change", ALL_CHANGES.values(), ids=ALL_CHANGES.keys())
def test_agent_networks_need_no_credentials(agent_client, world, change) -> None:
    state = world(owner=UserFactory.create(username="someone"))
    before = _state(state)
    response = _send(agent_client, change, state)
    assert response.status_code in (200, 201, 204)
    assert _state(state) != before


@pytest.mark.parametrize("change", ALL_CHANGES.values(), ids=ALL_CHANGES.keys())
def test_plain_users_in_the_agent_networks_are_trusted_as_agents(
    user, world, change
) -> None:
    state = world(owner=UserFactory.create(username="someone"))
    before = _state(state)
    response = _send(_user_client(user, AGENT_ADDRESS), change, state)
    assert response.status_code in (200, 201, 204)
    assert _state(state) != before


@pytest.mark.parametrize("change", ALL_CHANGES.values(), ids=ALL_CHANGES.keys())
def test_farm_admins_may_do_it_all_from_anywhere(
    admin_api_client, world, change
) -> None:
    state = world(owner=UserFactory.create(username="someone"))
    before = _state(state)
    response = _send(admin_api_client, change, state)
    assert response.status_code in (200, 201, 204)
    assert _state(state) != before


def test_login_disabled_opens_the_changes(anonymous_client, world, farm_config) -> None:
    farm_config(login_disabled=True)
    state = world(owner=None)
    response = _send(anonymous_client, AGENT_CHANGES["disable an agent"], state)
    assert response.status_code == 200
    assert Agent.objects.get(pk=AGENT_ID).state == AgentState.DISABLED


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/agents/",
        f"/api/v1/agents/{AGENT_ID}",
        f"/api/v1/agents/{AGENT_ID}/software/",
        "TASK",
        "TASK/failed_on_agents/",
        "TASK/attempts/1/logs/",
        f"TASK/attempts/1/logs/{LOG_ID}",
    ],
)
def test_plain_users_from_outside_still_read(api_client, world, url) -> None:
    state = world(owner=None)
    response = api_client.get(url.replace("TASK", _task(state)))
    assert response.status_code == 200


# --- behind a reverse proxy -------------------------------------------------------

PROXY = "198.51.100.7"


def _via_proxy(forwarded_for: str | None, peer: str = PROXY) -> APIClient:
    client = APIClient(REMOTE_ADDR=peer)
    if forwarded_for is not None:
        client.credentials(HTTP_X_FORWARDED_FOR=forwarded_for)
    return client


def _register(client: APIClient) -> Any:
    return client.post(
        "/api/v1/agents/", {**REGISTRATION, "id": NEW_AGENT_ID}, format="json"
    )


def test_behind_a_trusted_proxy_the_forwarded_agent_address_counts(
    farm_config,
) -> None:
    farm_config(trusted_proxies=["198.51.100.0/24"])
    response = _register(_via_proxy(AGENT_ADDRESS))
    assert response.status_code == 201
    assert Agent.objects.get(pk=NEW_AGENT_ID).remote_ip == AGENT_ADDRESS


def test_forwarded_addresses_from_an_untrusted_peer_are_ignored(db) -> None:
    response = _register(_via_proxy(AGENT_ADDRESS, peer=OUTSIDE_ADDRESS))
    assert response.status_code == 401
    assert not Agent.objects.exists()


def test_an_agent_network_peer_that_is_no_trusted_proxy_is_the_client(
    farm_config,
) -> None:
    # The header names an outside host; the peer itself is an agent.
    response = _register(_via_proxy(OUTSIDE_ADDRESS, peer=AGENT_ADDRESS))
    assert response.status_code == 201
    assert Agent.objects.get(pk=NEW_AGENT_ID).remote_ip == AGENT_ADDRESS


def test_a_client_cannot_prepend_an_agent_address_past_the_proxy(
    farm_config,
) -> None:
    farm_config(trusted_proxies=["198.51.100.0/24"])
    # The client sent "X-Forwarded-For: 10.20.30.40"; the proxy appended
    # the address it saw.
    response = _register(_via_proxy(f"{AGENT_ADDRESS}, {OUTSIDE_ADDRESS}"))
    assert response.status_code == 401
    assert not Agent.objects.exists()


def test_a_chain_of_trusted_proxies_is_skipped(farm_config) -> None:
    farm_config(trusted_proxies=["198.51.100.0/24", "192.0.2.0/24"])
    response = _register(_via_proxy(f"{AGENT_ADDRESS}, 192.0.2.5"))
    assert response.status_code == 201
    assert Agent.objects.get(pk=NEW_AGENT_ID).remote_ip == AGENT_ADDRESS


def test_a_trusted_proxy_in_the_agent_networks_is_no_agent_itself(
    farm_config,
) -> None:
    # A proxy on 10.0.0.1 forwards for the whole world: without the header
    # the client is unknown, not the proxy.
    farm_config(trusted_proxies=["10.0.0.1/32"])
    response = _register(_via_proxy(None, peer="10.0.0.1"))
    assert response.status_code == 401
    assert not Agent.objects.exists()


def test_a_malformed_forwarded_header_trusts_nobody(farm_config) -> None:
    farm_config(trusted_proxies=["198.51.100.0/24"])
    response = _register(_via_proxy(f"{AGENT_ADDRESS}, not-an-address"))
    assert response.status_code == 401
    assert not Agent.objects.exists()
