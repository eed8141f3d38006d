"""``POST /agents/<id>`` accepts the agent's own id in the body, no other."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from farm.models import Agent
from farm.tests.test_api_agents import AGENT_ID, ENDPOINT, REGISTRATION

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered(agent_client: Any) -> Agent:
    response = agent_client.post(ENDPOINT, REGISTRATION, format="json")
    assert response.status_code == 201, response.content
    return Agent.objects.get(pk=AGENT_ID)


def test_a_report_with_the_registration_data_and_its_own_id_is_accepted(
    agent_client, registered
) -> None:
    body = {**REGISTRATION, "free_ram": 1234}
    response = agent_client.post(f"{ENDPOINT}{AGENT_ID}", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == AGENT_ID
    registered.refresh_from_db()
    assert registered.free_ram == 1234


def test_a_report_with_another_agents_id_is_a_json_400(
    agent_client, registered
) -> None:
    other = str(uuid.uuid4())
    body = {"id": other, "free_ram": 1234}
    response = agent_client.post(f"{ENDPOINT}{AGENT_ID}", body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = json.loads(response.content)
    assert set(error) == {"error"} and other in error["error"]
    registered.refresh_from_db()
    assert registered.free_ram != 1234


def test_a_report_with_an_id_that_is_no_uuid_is_a_json_400(
    agent_client, registered
) -> None:
    response = agent_client.post(f"{ENDPOINT}{AGENT_ID}", {"id": "nope"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"error"}
