"""Agents API: registration (R1), heartbeats (R2/R3), lists, software, tasks."""

from __future__ import annotations

import copy
import datetime
import json
import uuid
from typing import Any

import pytest
import time_machine

from farm.choices import AgentState, OperatingSystem, UseAddress, WorkState
from farm.models import GPU, Agent, AgentDisk, AgentMacAddress, Task
from farm.tests.factories import (
    AgentFactory,
    GPUFactory,
    JobFactory,
    SoftwareVersionFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db

ENDPOINT = "/api/v1/agents/"
AGENT_ID = "57b72fba-d506-4057-90b4-5e4aa4843915"

# R1 exactly as pyfarm-agent builds it (agent-protocol.md §1.3), with every
# field of the table: id, hostname, version, os_class, os_fullname, ram,
# cpus, cpu_name, port, free_ram, time_offset, state, mac_addresses,
# current_assignments, disks (HEAD only); gpus, remote_ip and farm_name are
# sent only when configured and are tested on their own below.
REGISTRATION = {
    "id": AGENT_ID,
    "hostname": "127.0.0.1",
    "version": "0.8.6",
    "os_class": "linux",
    "os_fullname": "Linux-6.18.0-x86_64-with-debian-12.11",
    "ram": 24105,
    "cpus": 2,
    "cpu_name": "AMD EPYC",
    "port": 50123,
    "free_ram": 23076,
    "time_offset": 0,
    "state": "online",
    "mac_addresses": ["02:95:a1:86:4b:03"],
    "current_assignments": {},
    "disks": [{"mountpoint": "/", "size": 270553174016, "free": 83513454592}],
}
# R2 (HEAD: with disks) and R3 bodies; current_assignments as captured.
ASSIGNMENT_ID = "7e178c94-0f3c-4c55-9c44-6a3f6f1c2b8e"
CURRENT_ASSIGNMENTS = {
    ASSIGNMENT_ID: {
        "id": ASSIGNMENT_ID,
        "job": {"id": 1, "by": 1, "title": "echo job"},
        "jobtype": {"name": "TrivialEcho", "version": 1, "id": str(uuid.uuid4())},
        "tasks": [{"id": 101, "frame": 1.0, "attempt": 1, "local_state": "running"}],
    }
}
HEARTBEAT_RUNNING = {
    "state": "running",
    "current_assignments": CURRENT_ASSIGNMENTS,
    "free_ram": 22000,
    "disks": [{"mountpoint": "/", "size": 270553174016, "free": 80000000000}],
}
HEARTBEAT_ONLINE = {"state": "online", "current_assignments": {}, "free_ram": 23000}
SHUTDOWN = {"state": "offline", "free_ram": 23000, "current_assignments": {}}

AGENT_KEYS = {
    "id",
    "hostname",
    "port",
    "remote_ip",
    "use_address",
    "state",
    "cpus",
    "ram",
    "free_ram",
    "ram_allocation",
    "cpu_allocation",
    "time_offset",
    "os_class",
    "os_fullname",
    "cpu_name",
    "version",
    "upgrade_to",
    "restart_requested",
    "last_heard_from",
    "last_polled",
    "last_success_on",
    "notes",
}
SCHEMA = {
    "ram": "INTEGER",
    "free_ram": "INTEGER",
    "time_offset": "INTEGER",
    "use_address": "UseAgentAddressEnum",
    "hostname": "VARCHAR(255)",
    "cpus": "INTEGER",
    "port": "INTEGER",
    "state": "AgentStateEnum",
    "ram_allocation": "FLOAT",
    "cpu_allocation": "FLOAT",
    "id": "UUIDType",
    "remote_ip": "IPv4Address",
    "os_class": "OperatingSystemEnum",
    "os_fullname": "VARCHAR(128)",
    "cpu_name": "VARCHAR(128)",
    "version": "VARCHAR(16)",
    "upgrade_to": "VARCHAR(16)",
    "restart_requested": "BOOLEAN",
    "last_heard_from": "DATETIME",
    "last_polled": "DATETIME",
    "last_success_on": "DATETIME",
    "notes": "TEXT",
}
# When `registered` registered (its last_heard_from), as the API writes it.
REGISTERED_AT = datetime.datetime(2026, 11, 29, 7, 0, 56, tzinfo=datetime.UTC)
REGISTERED_AT_JSON = "2026-11-29T07:00:56Z"


def _registered_agent(**changes: Any) -> dict[str, Any]:
    """The whole JSON of the agent of `REGISTRATION`, as registered."""
    body = {
        "id": AGENT_ID,
        "hostname": "127.0.0.1",
        "port": 50123,
        "remote_ip": "10.20.30.40",
        "use_address": "remote",
        "state": "online",
        "cpus": 2,
        "ram": 24105,
        "free_ram": 23076,
        "ram_allocation": 0.8,
        "cpu_allocation": 1.0,
        "time_offset": 0,
        "os_class": "linux",
        "os_fullname": "Linux-6.18.0-x86_64-with-debian-12.11",
        "cpu_name": "AMD EPYC",
        "version": "0.8.6",
        "upgrade_to": None,
        "restart_requested": False,
        "last_heard_from": REGISTERED_AT_JSON,
        "last_polled": None,
        "last_success_on": None,
        "notes": "",
    }
    body.update(changes)
    return body


def _error(response: Any) -> str:
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    return body["error"]


def _registration(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(REGISTRATION)
    body.update(changes)
    return body


def _agent_url(agent_id: Any) -> str:
    return f"{ENDPOINT}{agent_id}"


@pytest.fixture
def registered(agent_client: Any) -> Agent:
    """The agent of `REGISTRATION`, registered through the API."""
    with time_machine.travel(REGISTERED_AT, tick=False):
        response = agent_client.post(ENDPOINT, REGISTRATION)
    assert response.status_code == 201, response.content
    return Agent.objects.get(pk=AGENT_ID)


# --- POST /agents/ (R1) ------------------------------------------------------


def test_registration_of_a_new_agent_answers_201_with_the_agent(agent_client) -> None:
    with time_machine.travel(REGISTERED_AT, tick=False):
        response = agent_client.post(ENDPOINT, REGISTRATION)
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    assert response.json() == _registered_agent()


def test_registration_accepts_a_windows_host_name_with_underscores(
    agent_client,
) -> None:
    response = agent_client.post(
        ENDPOINT, _registration(hostname="RENDER_01.studio.local")
    )
    assert response.status_code == 201, response.content
    assert Agent.objects.get(pk=AGENT_ID).hostname == "RENDER_01.studio.local"


def test_registration_stores_every_reported_field(agent_client) -> None:
    agent_client.post(ENDPOINT, REGISTRATION)
    agent = Agent.objects.get(pk=AGENT_ID)
    assert (agent.hostname, agent.port, agent.version) == ("127.0.0.1", 50123, "0.8.6")
    assert (agent.os_class, agent.os_fullname, agent.cpu_name) == (
        OperatingSystem.LINUX,
        "Linux-6.18.0-x86_64-with-debian-12.11",
        "AMD EPYC",
    )
    assert (agent.ram, agent.free_ram, agent.cpus, agent.time_offset) == (
        24105,
        23076,
        2,
        0,
    )
    assert agent.state == AgentState.ONLINE
    assert list(agent.mac_addresses.values_list("mac_address", flat=True)) == [
        "02:95:a1:86:4b:03"
    ]
    assert list(agent.disks.values_list("mountpoint", "size", "free")) == [
        ("/", 270553174016, 83513454592)
    ]


def test_registration_takes_remote_ip_from_the_peer(agent_client) -> None:
    response = agent_client.post(ENDPOINT, REGISTRATION)
    assert response.json()["remote_ip"] == "10.20.30.40"
    assert Agent.objects.get(pk=AGENT_ID).remote_ip == "10.20.30.40"


def test_registration_keeps_a_given_remote_ip(agent_client) -> None:
    response = agent_client.post(ENDPOINT, _registration(remote_ip="10.9.8.7"))
    assert response.json()["remote_ip"] == "10.9.8.7"


def test_registration_records_last_heard_from(agent_client) -> None:
    moment = datetime.datetime(2026, 11, 29, 7, 0, 56, tzinfo=datetime.UTC)
    with time_machine.travel(moment, tick=False):
        agent_client.post(ENDPOINT, REGISTRATION)
    assert Agent.objects.get(pk=AGENT_ID).last_heard_from == moment


def test_registration_accepts_gpus(agent_client) -> None:
    body = _registration(gpus=["NVIDIA GeForce RTX 3090", "NVIDIA GeForce RTX 3090"])
    assert agent_client.post(ENDPOINT, body).status_code == 201
    agent = Agent.objects.get(pk=AGENT_ID)
    assert list(agent.gpus.values_list("fullname", flat=True)) == [
        "NVIDIA GeForce RTX 3090"
    ]


def test_registration_accepts_the_original_integer_codes(agent_client) -> None:
    body = _registration(state=203, use_address=312, os_class=304)
    response = agent_client.post(ENDPOINT, body)
    assert response.status_code == 201
    assert (response.json()["state"], response.json()["use_address"]) == (
        "running",
        "hostname",
    )
    assert Agent.objects.get(pk=AGENT_ID).os_class == OperatingSystem.BSD


def test_registration_without_state_registers_an_online_agent(agent_client) -> None:
    body = _registration()
    del body["state"]
    assert agent_client.post(ENDPOINT, body).json()["state"] == "online"


def test_registration_without_id_creates_an_agent_with_a_new_uuid(
    agent_client,
) -> None:
    body = _registration()
    del body["id"]
    response = agent_client.post(ENDPOINT, body)
    assert response.status_code == 201
    assert Agent.objects.get().pk == uuid.UUID(response.json()["id"])


def test_registration_ignores_current_assignments(agent_client) -> None:
    body = _registration(current_assignments=CURRENT_ASSIGNMENTS)
    assert agent_client.post(ENDPOINT, body).status_code == 201


def test_registration_drops_mac_addresses_that_do_not_parse(agent_client) -> None:
    body = _registration(mac_addresses=["02:95:A1:86:4B:04", "not-a-mac", ""])
    assert agent_client.post(ENDPOINT, body).status_code == 201
    assert list(AgentMacAddress.objects.values_list("mac_address", flat=True)) == [
        "02:95:a1:86:4b:04"
    ]


def test_reregistration_answers_200_with_the_same_id(agent_client, registered) -> None:
    response = agent_client.post(ENDPOINT, REGISTRATION)
    assert response.status_code == 200
    assert set(response.json()) == AGENT_KEYS
    assert response.json()["id"] == AGENT_ID
    assert Agent.objects.count() == 1


def test_reregistration_updates_the_agent_in_place(agent_client, registered) -> None:
    body = _registration(hostname="render-01.farm.local", port=50124, ram=32000)
    agent_client.post(ENDPOINT, body)
    agent = Agent.objects.get()
    assert (agent.pk, agent.hostname, agent.port, agent.ram) == (
        uuid.UUID(AGENT_ID),
        "render-01.farm.local",
        50124,
        32000,
    )


def test_reregistration_replaces_mac_addresses_disks_and_gpus(
    agent_client, registered
) -> None:
    GPUFactory.create(fullname="old card")
    registered.gpus.set(GPU.objects.all())
    body = _registration(
        mac_addresses=["02:00:00:00:00:01"],
        disks=[{"mountpoint": "C:", "size": 10, "free": 5}],
        gpus=["new card"],
    )
    assert agent_client.post(ENDPOINT, body).status_code == 200
    assert list(registered.mac_addresses.values_list("mac_address", flat=True)) == [
        "02:00:00:00:00:01"
    ]
    assert list(registered.disks.values_list("mountpoint", flat=True)) == ["C:"]
    assert list(registered.gpus.values_list("fullname", flat=True)) == ["new card"]


def test_reregistration_updates_last_heard_from(agent_client, registered) -> None:
    later = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    with time_machine.travel(later, tick=False):
        agent_client.post(ENDPOINT, REGISTRATION)
    registered.refresh_from_db()
    assert registered.last_heard_from == later


def test_reregistration_with_the_target_version_completes_the_upgrade(
    agent_client, registered
) -> None:
    Agent.objects.filter(pk=registered.pk).update(upgrade_to="0.9.0")
    agent_client.post(ENDPOINT, _registration(version="0.9.0"))
    registered.refresh_from_db()
    assert (registered.version, registered.upgrade_to) == ("0.9.0", None)


def test_reregistration_with_another_version_keeps_the_upgrade_pending(
    agent_client, registered
) -> None:
    Agent.objects.filter(pk=registered.pk).update(upgrade_to="0.9.0")
    agent_client.post(ENDPOINT, REGISTRATION)
    registered.refresh_from_db()
    assert registered.upgrade_to == "0.9.0"


def test_reregistration_keeps_a_disabled_agent_disabled(
    agent_client, registered
) -> None:
    registered.disable()
    response = agent_client.post(ENDPOINT, REGISTRATION)
    assert response.status_code == 200
    assert response.json()["state"] == "disabled"
    registered.refresh_from_db()
    assert registered.state == AgentState.DISABLED


def test_registration_refuses_loopback_addresses_by_default(agent_client) -> None:
    response = agent_client.post(ENDPOINT, REGISTRATION, REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 400
    assert "allow_agents_from_loopback" in _error(response)
    assert not Agent.objects.exists()


def test_registration_accepts_loopback_addresses_when_allowed(
    agent_client, farm_config
) -> None:
    farm_config(allow_agents_from_loopback=True)
    response = agent_client.post(ENDPOINT, REGISTRATION, REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 201
    assert response.json()["remote_ip"] == "127.0.0.1"


def test_registration_refuses_another_farm(agent_client, farm_config) -> None:
    farm_config(farm_name="studio-a")
    response = agent_client.post(ENDPOINT, _registration(farm_name="studio-b"))
    assert response.status_code == 400
    assert "studio-a" in _error(response)
    assert not Agent.objects.exists()


def test_registration_accepts_its_own_farm(agent_client, farm_config) -> None:
    farm_config(farm_name="studio-a")
    response = agent_client.post(ENDPOINT, _registration(farm_name="studio-a"))
    assert response.status_code == 201


def test_registration_accepts_any_farm_name_without_one_configured(
    agent_client,
) -> None:
    response = agent_client.post(ENDPOINT, _registration(farm_name="anything"))
    assert response.status_code == 201


def test_registration_accepts_values_within_widened_ranges(
    agent_client, farm_config
) -> None:
    farm_config(agent_max_cpus=1024, agent_min_port=1)
    response = agent_client.post(ENDPOINT, _registration(cpus=512, port=80))
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cpus": 0}, "cpus"),
        ({"ram": 1}, "ram"),
        ({"port": 80}, "port"),
        ({"ram_allocation": 1.5}, "ram_allocation"),
        ({"hostname": "bad host!"}, "hostname"),
        ({"remote_ip": "not-an-ip"}, "remote_ip"),
        ({"disks": [{"mountpoint": "x" * 300, "size": 1, "free": 1}]}, "mountpoint"),
    ],
)
def test_registration_refuses_values_outside_the_configured_ranges(
    agent_client, changes, field
) -> None:
    response = agent_client.post(ENDPOINT, _registration(**changes))
    assert response.status_code == 400
    assert field in _error(response)
    assert not Agent.objects.exists()


def test_registration_refuses_unknown_columns(agent_client) -> None:
    response = agent_client.post(ENDPOINT, _registration(colour="blue"))
    assert response.status_code == 400
    assert "colour" in _error(response)
    assert not Agent.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cpus": "2"}, "cpus"),
        ({"ram": 1.5}, "ram"),
        ({"hostname": 12}, "hostname"),
        ({"state": "asleep"}, "state"),
        ({"id": 12}, "id"),
        ({"mac_addresses": "02:95:a1:86:4b:03"}, "mac_addresses"),
        ({"disks": [{"mountpoint": "/", "size": -1, "free": 0}]}, "disks"),
        ({"disks": [{"mountpoint": "/", "size": 1}]}, "disks"),
        ({"current_assignments": []}, "current_assignments"),
        ({"ram_allocation": "0.5"}, "ram_allocation"),
    ],
)
def test_registration_refuses_wrong_json_types(agent_client, changes, field) -> None:
    response = agent_client.post(ENDPOINT, _registration(**changes))
    assert response.status_code == 400
    assert field in _error(response)
    assert not Agent.objects.exists()


@pytest.mark.parametrize("field", ["hostname", "port", "cpus", "ram", "free_ram"])
def test_registration_refuses_missing_required_fields(agent_client, field) -> None:
    body = _registration()
    del body[field]
    response = agent_client.post(ENDPOINT, body)
    assert response.status_code == 400
    assert field in _error(response)


def test_registration_refuses_malformed_json(agent_client) -> None:
    response = agent_client.post(ENDPOINT, b'{"id": ', content_type="application/json")
    assert response.status_code == 400
    assert _error(response)
    assert not Agent.objects.exists()


def test_registration_refuses_a_json_list(agent_client) -> None:
    response = agent_client.post(ENDPOINT, [REGISTRATION])
    assert response.status_code == 400
    assert "object" in _error(response)


def test_registration_refuses_a_malformed_id(agent_client) -> None:
    response = agent_client.post(ENDPOINT, _registration(id="agent-1"))
    assert response.status_code == 400
    assert "id" in _error(response)


def test_registration_refuses_requests_from_outside_without_a_user(
    anonymous_client,
) -> None:
    response = anonymous_client.post(ENDPOINT, REGISTRATION, format="json")
    assert response.status_code == 401
    assert _error(response)
    assert not Agent.objects.exists()


def test_admins_may_register_agents_from_anywhere(admin_api_client) -> None:
    response = admin_api_client.post(ENDPOINT, REGISTRATION, format="json")
    assert response.status_code == 201
    assert response.json()["remote_ip"] == "203.0.113.9"


# --- GET /agents/ ------------------------------------------------------------


def test_list_shows_id_hostname_port_and_address(api_client) -> None:
    agent = AgentFactory.create(hostname="render-01", port=50000, remote_ip="10.1.1.1")
    response = api_client.get(ENDPOINT)
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": str(agent.pk),
            "hostname": "render-01",
            "port": 50000,
            "remote_ip": "10.1.1.1",
        }
    ]


def test_list_filters_with_the_legacy_query_parameters(api_client) -> None:
    AgentFactory.create(ram=2048, cpus=2)
    big = AgentFactory.create(ram=8192, cpus=8)
    response = api_client.get(ENDPOINT, {"min_ram": 4096, "min_cpus": 4})
    assert [agent["id"] for agent in response.json()] == [str(big.pk)]


def test_list_refuses_filters_that_do_not_parse(api_client) -> None:
    response = api_client.get(ENDPOINT, {"min_ram": "lots"})
    assert response.status_code == 400
    assert "min_ram" in _error(response)


@pytest.mark.parametrize("count", [2, 20])
def test_list_runs_a_constant_number_of_queries(
    api_client, django_assert_num_queries, count
) -> None:
    AgentFactory.create_batch(count)
    with django_assert_num_queries(1):
        response = api_client.get(ENDPOINT)
    assert len(response.json()) == count


def test_list_accepts_the_path_without_a_slash(api_client) -> None:
    AgentFactory.create()
    assert len(api_client.get(ENDPOINT.rstrip("/")).json()) == 1


def test_list_needs_a_user(anonymous_client) -> None:
    response = anonymous_client.get(ENDPOINT)
    assert response.status_code == 401
    assert _error(response)


def test_list_is_not_open_to_agent_networks(agent_client) -> None:
    assert agent_client.get(ENDPOINT).status_code == 401


# --- GET /agents/schema ------------------------------------------------------


@pytest.mark.parametrize("url", [f"{ENDPOINT}schema", f"{ENDPOINT}schema/"])
def test_schema_lists_the_documented_columns(api_client, url) -> None:
    response = api_client.get(url)
    assert response.status_code == 200
    assert response.json() == SCHEMA


# --- GET /agents/<id> --------------------------------------------------------


def test_detail_shows_every_column_of_the_agent(agent_client, registered) -> None:
    response = agent_client.get(_agent_url(AGENT_ID))
    assert response.status_code == 200
    assert response.json() == _registered_agent()


def test_detail_shows_the_columns_the_master_sets(agent_client, registered) -> None:
    moment = datetime.datetime(2026, 11, 29, 8, 1, 2, tzinfo=datetime.UTC)
    Agent.objects.filter(pk=AGENT_ID).update(
        upgrade_to="0.9.0",
        restart_requested=True,
        last_polled=moment,
        last_success_on=moment,
        notes="rack 4",
        use_address=UseAddress.PASSIVE,
        state=AgentState.DISABLED,
        os_class=None,
    )
    assert agent_client.get(_agent_url(AGENT_ID)).json() == _registered_agent(
        upgrade_to="0.9.0",
        restart_requested=True,
        last_polled="2026-11-29T08:01:02Z",
        last_success_on="2026-11-29T08:01:02Z",
        notes="rack 4",
        use_address="passive",
        state="disabled",
        os_class=None,
    )


def test_detail_accepts_a_trailing_slash(agent_client, registered) -> None:
    assert agent_client.get(f"{_agent_url(AGENT_ID)}/").status_code == 200


def test_detail_of_an_unknown_agent_is_a_json_404(api_client) -> None:
    response = api_client.get(_agent_url(AGENT_ID))
    assert response.status_code == 404
    assert _error(response) == f"Agent `{AGENT_ID}` not found"


def test_detail_refuses_an_id_that_is_not_a_uuid(api_client) -> None:
    response = api_client.get(_agent_url("12"))
    assert response.status_code == 400
    assert "UUID" in _error(response)


# --- POST /agents/<id> (R2, R3, merges) ----------------------------------------


def test_running_heartbeat_answers_200_with_the_agent(agent_client, registered) -> None:
    later = datetime.datetime(2026, 11, 29, 7, 5, tzinfo=datetime.UTC)
    with time_machine.travel(later, tick=False):
        response = agent_client.post(_agent_url(AGENT_ID), HEARTBEAT_RUNNING)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == _registered_agent(
        state="running", free_ram=22000, last_heard_from="2026-11-29T07:05:00Z"
    )


def test_running_heartbeat_records_state_free_ram_and_disks(
    agent_client, registered
) -> None:
    agent_client.post(_agent_url(AGENT_ID), HEARTBEAT_RUNNING)
    registered.refresh_from_db()
    assert (registered.state, registered.free_ram) == (AgentState.RUNNING, 22000)
    assert list(registered.disks.values_list("free", flat=True)) == [80000000000]


def test_online_heartbeat_marks_the_agent_online(agent_client, registered) -> None:
    Agent.objects.filter(pk=AGENT_ID).update(state=AgentState.RUNNING)
    response = agent_client.post(_agent_url(AGENT_ID), HEARTBEAT_ONLINE)
    assert response.status_code == 200
    registered.refresh_from_db()
    assert (registered.state, registered.free_ram) == (AgentState.ONLINE, 23000)


def test_heartbeat_without_disks_keeps_the_stored_disks(
    agent_client, registered
) -> None:
    agent_client.post(_agent_url(AGENT_ID), HEARTBEAT_ONLINE)
    assert registered.disks.count() == 1


def test_heartbeat_records_last_heard_from(agent_client, registered) -> None:
    later = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    with time_machine.travel(later, tick=False):
        agent_client.post(_agent_url(AGENT_ID), HEARTBEAT_ONLINE)
    registered.refresh_from_db()
    assert registered.last_heard_from == later


def test_shutdown_marks_the_agent_offline(agent_client, registered) -> None:
    response = agent_client.post(_agent_url(AGENT_ID), SHUTDOWN)
    assert response.status_code == 200
    assert response.json()["state"] == "offline"
    registered.refresh_from_db()
    assert registered.state == AgentState.OFFLINE


def test_heartbeat_of_an_unknown_agent_is_a_json_404(agent_client) -> None:
    response = agent_client.post(_agent_url(AGENT_ID), HEARTBEAT_RUNNING)
    assert response.status_code == 404
    assert _error(response) == f"Agent `{AGENT_ID}` not found"
    assert not Agent.objects.exists()


@pytest.mark.parametrize("body", [HEARTBEAT_RUNNING, HEARTBEAT_ONLINE, SHUTDOWN])
def test_a_disabled_agent_stays_disabled_whatever_it_reports(
    agent_client, registered, body
) -> None:
    registered.disable()
    response = agent_client.post(_agent_url(AGENT_ID), body)
    assert response.status_code == 200
    assert response.json()["state"] == "disabled"
    registered.refresh_from_db()
    assert registered.state == AgentState.DISABLED


def test_update_merges_the_given_columns(agent_client, registered) -> None:
    response = agent_client.post(_agent_url(AGENT_ID), {"ram": 1234})
    assert response.status_code == 200
    assert response.json()["ram"] == 1234
    registered.refresh_from_db()
    assert (registered.ram, registered.cpus, registered.hostname) == (
        1234,
        2,
        "127.0.0.1",
    )


def test_update_does_not_move_the_agent_to_the_peer_address(
    api_client, registered
) -> None:
    api_client.post(_agent_url(AGENT_ID), {"ram": 1234}, format="json")
    registered.refresh_from_db()
    assert registered.remote_ip == "10.20.30.40"


def test_update_refuses_the_id_column(agent_client, registered) -> None:
    response = agent_client.post(_agent_url(AGENT_ID), {"id": str(uuid.uuid4())})
    assert response.status_code == 400
    assert "id" in _error(response)


def test_update_refuses_unknown_columns(agent_client, registered) -> None:
    response = agent_client.post(_agent_url(AGENT_ID), {"colour": "blue"})
    assert response.status_code == 400
    assert "colour" in _error(response)


def test_update_refuses_out_of_range_values_and_changes_nothing(
    agent_client, registered
) -> None:
    response = agent_client.post(_agent_url(AGENT_ID), {"cpus": 0, "free_ram": 5})
    assert response.status_code == 400
    assert "cpus" in _error(response)
    registered.refresh_from_db()
    assert (registered.cpus, registered.free_ram) == (2, 23076)


def test_update_refuses_wrong_json_types(agent_client, registered) -> None:
    response = agent_client.post(_agent_url(AGENT_ID), {"free_ram": "lots"})
    assert response.status_code == 400
    assert "free_ram" in _error(response)


def test_heartbeat_is_not_refused_for_a_value_stored_earlier(
    agent_client, farm_config
) -> None:
    AgentFactory.create(id=AGENT_ID, remote_ip="127.0.0.1")
    response = agent_client.post(_agent_url(AGENT_ID), HEARTBEAT_RUNNING)
    assert response.status_code == 200


def test_update_refuses_requests_from_outside_without_a_user(
    anonymous_client, registered
) -> None:
    response = anonymous_client.post(_agent_url(AGENT_ID), SHUTDOWN, format="json")
    assert response.status_code == 401
    registered.refresh_from_db()
    assert registered.state == AgentState.ONLINE


# --- DELETE /agents/<id> ------------------------------------------------------


def test_delete_removes_the_agent(admin_api_client, registered) -> None:
    response = admin_api_client.delete(_agent_url(AGENT_ID))
    assert response.status_code == 204
    assert not Agent.objects.exists()
    assert not AgentDisk.objects.exists()


def test_delete_of_an_unknown_agent_answers_204(admin_api_client) -> None:
    assert admin_api_client.delete(_agent_url(AGENT_ID)).status_code == 204


def test_delete_gives_the_agents_open_tasks_back(admin_api_client) -> None:
    task = TaskFactory.create(running=True)
    admin_api_client.delete(_agent_url(task.agent_id))
    task.refresh_from_db()
    assert (task.state, task.agent_id) == (WorkState.QUEUED, None)


def test_delete_is_for_admins_only(api_client, registered) -> None:
    response = api_client.delete(_agent_url(AGENT_ID))
    assert response.status_code == 403
    assert _error(response)
    assert Agent.objects.exists()


def test_delete_is_not_open_to_agent_networks(agent_client, registered) -> None:
    assert agent_client.delete(_agent_url(AGENT_ID)).status_code == 401
    assert Agent.objects.exists()


def test_delete_refuses_an_id_that_is_not_a_uuid(admin_api_client) -> None:
    response = admin_api_client.delete(_agent_url("12"))
    assert response.status_code == 400
    assert "UUID" in _error(response)


# --- /agents/<id>/software/ (R15, R16) -------------------------------------------


def _software_url(agent_id: Any) -> str:
    return f"{ENDPOINT}{agent_id}/software/"


def test_software_list_shows_name_and_version(api_client, registered) -> None:
    version = SoftwareVersionFactory.create(
        software__software="Blender", version="2.72"
    )
    registered.software_versions.add(version)
    response = api_client.get(_software_url(AGENT_ID))
    assert response.status_code == 200
    assert response.json() == [{"software": "Blender", "version": "2.72"}]


@pytest.mark.parametrize("count", [2, 20])
def test_software_list_runs_a_constant_number_of_queries(
    api_client, registered, django_assert_num_queries, count
) -> None:
    registered.software_versions.add(*SoftwareVersionFactory.create_batch(count))
    with django_assert_num_queries(2):
        response = api_client.get(_software_url(AGENT_ID))
    assert len(response.json()) == count


def test_software_list_of_an_unknown_agent_is_a_json_404(api_client) -> None:
    response = api_client.get(_software_url(AGENT_ID))
    assert response.status_code == 404
    assert AGENT_ID in _error(response)


def test_agent_reports_a_software_version_it_has(agent_client, registered) -> None:
    version = SoftwareVersionFactory.create(
        software__software="Blender", version="2.72"
    )
    response = agent_client.post(
        _software_url(AGENT_ID), {"software": "Blender", "version": "2.72"}
    )
    assert response.status_code == 200
    assert response.json() == {"software": "Blender", "version": "2.72"}
    assert list(registered.software_versions.all()) == [version]


def test_reporting_a_software_version_twice_keeps_one(agent_client, registered) -> None:
    SoftwareVersionFactory.create(software__software="Blender", version="2.72")
    body = {"software": "Blender", "version": "2.72"}
    agent_client.post(_software_url(AGENT_ID), body)
    assert agent_client.post(_software_url(AGENT_ID), body).status_code == 200
    assert registered.software_versions.count() == 1


def test_reporting_an_unknown_software_version_is_a_json_404(
    agent_client, registered
) -> None:
    SoftwareVersionFactory.create(software__software="Blender", version="2.72")
    response = agent_client.post(
        _software_url(AGENT_ID), {"software": "Blender", "version": "9.9"}
    )
    assert response.status_code == 404
    assert "9.9" in _error(response)
    assert not registered.software_versions.exists()


def test_reporting_software_of_an_unknown_agent_is_a_json_404(agent_client) -> None:
    response = agent_client.post(
        _software_url(AGENT_ID), {"software": "Blender", "version": "2.72"}
    )
    assert response.status_code == 404
    assert AGENT_ID in _error(response)


@pytest.mark.parametrize(
    "body",
    [{"software": "Blender"}, {"software": "Blender", "version": 2.72}, {"x": 1}],
)
def test_reporting_software_refuses_bad_bodies(agent_client, registered, body) -> None:
    response = agent_client.post(_software_url(AGENT_ID), body)
    assert response.status_code == 400
    assert _error(response)


def test_agent_reports_a_software_version_it_lacks(agent_client, registered) -> None:
    version = SoftwareVersionFactory.create(
        software__software="Blender", version="2.72"
    )
    registered.software_versions.add(version)
    response = agent_client.delete(f"{_software_url(AGENT_ID)}Blender/versions/2.72")
    assert response.status_code == 204
    assert not registered.software_versions.exists()


def test_removing_a_software_version_the_agent_never_had_answers_204(
    agent_client, registered
) -> None:
    response = agent_client.delete(f"{_software_url(AGENT_ID)}Blender/versions/2.72")
    assert response.status_code == 204


def test_removing_software_of_an_unknown_agent_is_a_json_404(agent_client) -> None:
    response = agent_client.delete(f"{_software_url(AGENT_ID)}Blender/versions/2.72")
    assert response.status_code == 404
    assert AGENT_ID in _error(response)


def test_software_list_is_not_open_to_agent_networks(agent_client, registered) -> None:
    assert agent_client.get(_software_url(AGENT_ID)).status_code == 401


# --- /agents/<id>/tasks/ --------------------------------------------------------

SUBMITTED_AT = datetime.datetime(2026, 11, 29, 7, 0, tzinfo=datetime.UTC)


def _task_columns(task: Task, **changes: Any) -> dict[str, Any]:
    """Every column of a task submitted at `SUBMITTED_AT`, as JSON."""
    body = {
        "id": task.pk,
        "job_id": task.job_id,
        "agent_id": None if task.agent_id is None else str(task.agent_id),
        "frame": float(task.frame),
        "tile": None,
        "state": "queued",
        "priority": 0,
        "hidden": False,
        "attempts": 0,
        "failures": 0,
        "progress": 0.0,
        "sent_to_agent": False,
        "last_error": None,
        "time_submitted": "2026-11-29T07:00:00Z",
        "time_started": None,
        "time_finished": None,
    }
    body.update(changes)
    return body


def _tasks_url(agent_id: Any) -> str:
    return f"{ENDPOINT}{agent_id}/tasks/"


def test_task_list_shows_the_agents_tasks_with_their_job(api_client) -> None:
    with time_machine.travel(SUBMITTED_AT, tick=False):
        task = TaskFactory.create(running=True, frame=2)
    TaskFactory.create(running=True)
    response = api_client.get(_tasks_url(task.agent_id))
    assert response.status_code == 200
    version = task.job.jobtype_version
    assert response.json() == [
        _task_columns(
            task,
            state="running",
            attempts=1,
            job={
                "id": task.job_id,
                "title": task.job.title,
                "jobtype": version.jobtype.name,
                "jobtype_id": version.jobtype_id,
                "jobtype_version": version.version,
            },
        )
    ]


@pytest.mark.parametrize("count", [2, 20])
def test_task_list_runs_a_constant_number_of_queries(
    api_client, django_assert_num_queries, count
) -> None:
    agent = AgentFactory.create()
    for job in JobFactory.create_batch(count):
        TaskFactory.create(job=job, agent=agent)
    with django_assert_num_queries(2):
        response = api_client.get(_tasks_url(agent.pk))
    assert len(response.json()) == count


def test_task_list_of_an_unknown_agent_is_a_json_404(api_client) -> None:
    response = api_client.get(_tasks_url(AGENT_ID))
    assert response.status_code == 404
    assert AGENT_ID in _error(response)


def test_admin_gives_a_queued_task_to_an_agent(admin_api_client) -> None:
    agent = AgentFactory.create()
    task = TaskFactory.create()
    response = admin_api_client.post(
        _tasks_url(agent.pk), {"id": task.pk}, format="json"
    )
    assert response.status_code == 200
    task.refresh_from_db()
    assert response.json() == _task_columns(
        task,
        time_submitted=task.time_submitted.isoformat().replace("+00:00", "Z"),
        job={"id": task.job_id, "title": task.job.title},
        agent={
            "id": str(agent.pk),
            "hostname": agent.hostname,
            "port": agent.port,
            "ip": agent.remote_ip,
        },
    )
    assert (task.agent_id, task.sent_to_agent) == (agent.pk, False)


def test_giving_a_running_task_to_an_agent_is_a_conflict(admin_api_client) -> None:
    agent = AgentFactory.create()
    task = TaskFactory.create(running=True)
    response = admin_api_client.post(
        _tasks_url(agent.pk), {"id": task.pk}, format="json"
    )
    assert response.status_code == 409
    assert "running" in _error(response)
    task.refresh_from_db()
    assert task.agent_id != agent.pk


def test_giving_an_unknown_task_is_a_json_404(admin_api_client) -> None:
    agent = AgentFactory.create()
    response = admin_api_client.post(_tasks_url(agent.pk), {"id": 999}, format="json")
    assert response.status_code == 404
    assert "999" in _error(response)


def test_giving_a_task_to_an_unknown_agent_is_a_json_404(admin_api_client) -> None:
    task = TaskFactory.create()
    response = admin_api_client.post(
        _tasks_url(AGENT_ID), {"id": task.pk}, format="json"
    )
    assert response.status_code == 404
    assert Task.objects.get().agent_id is None


@pytest.mark.parametrize("body", [{}, {"id": "2"}, {"id": 2, "agent": "x"}])
def test_giving_a_task_refuses_bad_bodies(admin_api_client, body) -> None:
    agent = AgentFactory.create()
    response = admin_api_client.post(_tasks_url(agent.pk), body, format="json")
    assert response.status_code == 400
    assert _error(response)


def test_giving_a_task_is_for_admins_only(api_client) -> None:
    agent = AgentFactory.create()
    task = TaskFactory.create()
    response = api_client.post(_tasks_url(agent.pk), {"id": task.pk}, format="json")
    assert response.status_code == 403
    task.refresh_from_db()
    assert task.agent_id is None


# --- OpenAPI -------------------------------------------------------------------


def test_the_agents_endpoints_are_described_in_the_openapi_schema(
    anonymous_client,
) -> None:
    response = anonymous_client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/agents/{agent_id}", "/api/v1/agents/updates/{version}"} <= set(
        paths
    )


def test_detail_renders_use_address_by_name(api_client) -> None:
    agent = AgentFactory.create(use_address=UseAddress.PASSIVE)
    response = api_client.get(_agent_url(agent.pk))
    assert response.json()["use_address"] == "passive"
