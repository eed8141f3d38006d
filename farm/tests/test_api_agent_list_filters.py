"""``GET /agents/`` refuses filters that the filtered column could not hold."""

from __future__ import annotations

import json

import pytest

from farm.tests.factories import AgentFactory

pytestmark = pytest.mark.django_db

ENDPOINT = "/api/v1/agents/"


@pytest.mark.parametrize("hostname", ["!", "render 01", "x" * 256])
def test_an_invalid_hostname_filter_is_a_json_400(api_client, hostname) -> None:
    AgentFactory.create(hostname="render-01")
    response = api_client.get(ENDPOINT, {"hostname": hostname})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"} and "hostname" in body["error"]


def test_a_valid_hostname_filter_lists_the_agent(api_client) -> None:
    agent = AgentFactory.create(hostname="render-01")
    AgentFactory.create(hostname="render-02")
    response = api_client.get(ENDPOINT, {"hostname": "RENDER-01"})
    assert response.status_code == 200
    assert [row["id"] for row in response.json()] == [str(agent.pk)]
