"""Asking agents to check their software: the service, its Celery task, the admin.

The agent is a real HTTP server on 127.0.0.1 (`scheduling.tests.fake_agent`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest
from django.urls import reverse

from farm.choices import UseAddress
from farm.models import Agent
from farm.tests.factories import AgentFactory, SoftwareFactory, SoftwareVersionFactory
from scheduling.software import (
    check_agent_software,
    last_software_check,
    request_software_check,
)
from scheduling.tasks import software as software_tasks
from scheduling.tests.fake_agent import FakeAgent
from tests.support.processes import free_port

if TYPE_CHECKING:
    from django.test import Client

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/check_software"


@pytest.fixture
def catalog() -> list[Any]:
    """Two software with three versions in all."""
    blender = SoftwareFactory.create(software="blender")
    maya = SoftwareFactory.create(software="maya")
    return [
        SoftwareVersionFactory.create(software=blender, version="2.79", rank=1),
        SoftwareVersionFactory.create(software=blender, version="2.80", rank=2),
        SoftwareVersionFactory.create(software=maya, version="2024", rank=1),
    ]


def test_it_asks_the_agent_for_every_version_of_the_catalog(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], catalog: list[Any]
) -> None:
    agent = make_agent()
    fake_agent.answer(202, b"", "text/html")
    result = check_agent_software(agent_id=agent.pk)
    bodies = [request.body for request in fake_agent.requests("POST", CHECK)]
    assert bodies == [
        {"software": "blender", "version": "2.79"},
        {"software": "blender", "version": "2.80"},
        {"software": "maya", "version": "2024"},
    ]
    assert result.asked == ["blender 2.79", "blender 2.80", "maya 2024"]
    assert not result.unsupported


def test_it_sends_the_masters_headers(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], catalog: list[Any]
) -> None:
    agent = make_agent()
    check_agent_software(agent_id=agent.pk, version_ids=[catalog[0].pk])
    headers = fake_agent.requests("POST", CHECK)[0].headers
    assert headers["Accept"] == "application/json"
    assert headers["Content-Type"] == "application/json"


def test_it_asks_only_for_the_chosen_version(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], catalog: list[Any]
) -> None:
    agent = make_agent()
    result = check_agent_software(agent_id=agent.pk, version_ids=[catalog[2].pk])
    assert [r.body for r in fake_agent.requests("POST", CHECK)] == [
        {"software": "maya", "version": "2024"}
    ]
    assert result.asked == ["maya 2024"]


def test_an_agent_answering_404_is_reported_as_unsupported(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], catalog: list[Any]
) -> None:
    agent = make_agent()
    fake_agent.answer(404, b"<html>No Such Resource</html>", "text/html")
    result = check_agent_software(agent_id=agent.pk)
    assert result.unsupported
    assert len(fake_agent.requests("POST", CHECK)) == 1  # stops at the first
    assert "does not support checking software" in result.summary
    remembered = last_software_check(agent.pk)
    assert remembered is not None
    assert remembered.unsupported


def test_other_refusals_are_listed(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], catalog: list[Any]
) -> None:
    agent = make_agent()
    fake_agent.answers = [(400, "application/json", b"{}")]
    result = check_agent_software(agent_id=agent.pk)
    assert result.refused == ["blender 2.79 (400)"]
    assert result.asked == ["blender 2.80", "maya 2024"]


def test_an_unreachable_agent_is_reported_not_raised(
    catalog: list[Any], farm_config: Callable[..., None]
) -> None:
    farm_config(agent_request_timeout=1)
    agent = AgentFactory.create(remote_ip="127.0.0.1", port=free_port())
    result = check_agent_software(agent_id=agent.pk)
    assert result.error
    assert result.asked == []
    assert "could not be reached" in result.summary


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"state": "offline"}, "agent is offline"),
        ({"use_address": UseAddress.PASSIVE}, "passive agent"),
    ],
)
def test_agents_that_cannot_be_contacted_are_skipped(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    catalog: list[Any],
    fields: dict[str, Any],
    reason: str,
) -> None:
    agent = make_agent(**fields)
    result = check_agent_software(agent_id=agent.pk)
    assert result.skipped == reason
    assert fake_agent.received == []


def test_a_disabled_agent_is_still_checked(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], catalog: list[Any]
) -> None:
    agent = make_agent(state="disabled")
    assert check_agent_software(agent_id=agent.pk).asked


def test_an_unknown_agent_is_skipped(catalog: list[Any]) -> None:
    result = check_agent_software(agent_id="0b5a6f2e-0000-4000-8000-000000000000")
    assert result.skipped == "unknown agent"


def test_request_queues_one_task_per_agent_after_commit(
    django_capture_on_commit_callbacks: Any,
) -> None:
    agents = AgentFactory.create_batch(2)
    with mock.patch.object(software_tasks.check_agent_software, "delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            count = request_software_check(
                agent_ids=[a.pk for a in agents], version_id=7
            )
        delay.assert_not_called()
        for callback in callbacks:
            callback()
    assert count == 2
    assert sorted(call.args for call in delay.call_args_list) == sorted(
        (str(a.pk), [7]) for a in agents
    )
    queued = last_software_check(agents[0].pk)
    assert queued is not None
    assert queued.state == "queued"


def test_the_celery_task_returns_the_result_as_primitives(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], catalog: list[Any]
) -> None:
    agent = make_agent()
    fake_agent.answer(404, b"", "text/html")
    result = software_tasks.check_agent_software(str(agent.pk), None)
    assert result["unsupported"] is True
    assert result["agent_id"] == str(agent.pk)


def test_the_celery_task_runs_in_celery(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], catalog: list[Any]
) -> None:
    agent = make_agent()
    outcome = software_tasks.check_agent_software.apply(args=(str(agent.pk), None))
    assert outcome.get()["asked"] == ["blender 2.79", "blender 2.80", "maya 2024"]


def test_the_agents_page_shows_the_last_check(
    admin_client: Client,
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    catalog: list[Any],
) -> None:
    agent = make_agent()
    fake_agent.answer(404, b"", "text/html")
    check_agent_software(agent_id=agent.pk)
    page = admin_client.get(reverse("web:agent", args=[agent.pk])).content.decode()
    assert "does not support checking software" in page


def test_the_admin_action_queues_a_check(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    agents = AgentFactory.create_batch(2)
    with (
        mock.patch.object(software_tasks.check_agent_software, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = admin_client.post(
            reverse("admin:farm_agent_changelist"),
            {
                "action": "check_software",
                "_selected_action": [str(a.pk) for a in agents],
            },
            follow=True,
        )
    assert delay.call_count == 2
    assert "Asked 2 agents to check their software." in response.content.decode()
