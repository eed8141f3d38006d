"""``POST /jobs/<job>/tasks/<task>`` changes a task's priority, as the original did."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.tests.factories import UserFactory
from farm.models import Task
from farm.tests.test_api_job_tasks import TASK, _error, _job, _tasks

pytestmark = pytest.mark.django_db


def _post(client: Any, task: Task, body: Any) -> Any:
    return client.post(TASK.format(job=task.job_id, task=task.pk), body, format="json")


def _priority(task: Task) -> int:
    task.refresh_from_db()
    return task.priority


def test_the_jobs_owner_changes_a_tasks_priority(api_client, user) -> None:
    task = _tasks(_job(owner=user))[0]
    response = _post(api_client, task, {"priority": 7})
    assert response.status_code == 200
    assert response.json()["priority"] == 7
    assert _priority(task) == 7


def test_agents_and_admins_change_a_tasks_priority(
    agent_client, admin_api_client
) -> None:
    task = _tasks(_job())[0]
    assert _post(agent_client, task, {"priority": 3}).status_code == 200
    assert _priority(task) == 3
    assert _post(admin_api_client, task, {"priority": -3}).status_code == 200
    assert _priority(task) == -3


def test_other_users_may_not_change_a_tasks_priority(api_client) -> None:
    task = _tasks(_job(owner=UserFactory.create()))[0]
    response = _post(api_client, task, {"priority": 7})
    assert response.status_code == 403
    _error(response)
    assert _priority(task) == 0


def test_priority_changes_leave_the_tasks_state_and_the_other_tasks(
    agent_client,
) -> None:
    first, second = _tasks(_job())
    response = _post(agent_client, first, {"priority": 5})
    assert response.json()["state"] == "queued"
    assert _priority(second) == 0


def test_priorities_beyond_the_configured_range_are_a_400(
    agent_client, farm_config
) -> None:
    farm_config(queue_min_priority=-10, queue_max_priority=10)
    task = _tasks(_job())[0]
    for priority in (11, -11):
        response = _post(agent_client, task, {"priority": priority})
        assert response.status_code == 400
        assert "priority" in _error(response)
    assert _priority(task) == 0


@pytest.mark.parametrize("priority", ["high", 1.5, None, True])
def test_priorities_that_are_no_whole_numbers_are_a_400(agent_client, priority) -> None:
    task = _tasks(_job())[0]
    response = _post(agent_client, task, {"priority": priority})
    assert response.status_code == 400
    _error(response)
    assert _priority(task) == 0
