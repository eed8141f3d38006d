"""A big job's progress without every task: counts per state, lists by state."""

from __future__ import annotations

import json
from typing import Any

import pytest

from farm.choices import WorkState
from farm.models import Job, Task
from farm.tests.test_api_job_tasks import TASKS, _job

pytestmark = pytest.mark.django_db

COUNTS = "/api/v1/jobs/{job}/task_counts"


def _with_states(job: Job, *states: WorkState) -> list[Task]:
    """The job's tasks in frame order, given ``states`` in that order."""
    tasks = list(Task.objects.for_job(job.pk).order_by("frame"))
    for task, state in zip(tasks, states, strict=True):
        task.state = state
    Task.objects.bulk_update(tasks, ["state"])
    return tasks


def _error(response: Any) -> str:
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    return str(body["error"])


# --- task_counts ------------------------------------------------------------------


def test_task_counts_answer_how_many_tasks_are_in_each_state(api_client) -> None:
    job = _job(frames=6)
    _with_states(
        job,
        WorkState.QUEUED,
        WorkState.RUNNING,
        WorkState.RUNNING,
        WorkState.DONE,
        WorkState.FAILED,
        WorkState.PAUSED,
    )
    response = api_client.get(COUNTS.format(job=job.pk))
    assert response.status_code == 200
    assert response.json() == {
        "id": job.pk,
        "title": "Test Job",
        "tasks_queued": 1,
        "tasks_paused": 1,
        "tasks_running": 2,
        "tasks_done": 1,
        "tasks_failed": 1,
        "tasks_total": 6,
    }


def test_task_counts_of_a_job_named_by_title_without_tasks(api_client) -> None:
    job = _job(frames=1, title="shot 010")
    Task.objects.for_job(job.pk).delete()
    response = api_client.get("/api/v1/jobs/shot%20010/task_counts/")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == job.pk
    assert {key: value for key, value in body.items() if key.startswith("tasks_")} == {
        "tasks_queued": 0,
        "tasks_paused": 0,
        "tasks_running": 0,
        "tasks_done": 0,
        "tasks_failed": 0,
        "tasks_total": 0,
    }


@pytest.mark.parametrize("frames", [2, 50])
def test_task_counts_take_one_query_whatever_the_number_of_tasks(
    api_client, django_assert_num_queries, frames
) -> None:
    job = _job(frames=frames)
    with django_assert_num_queries(1):
        response = api_client.get(COUNTS.format(job=job.pk))
    assert response.json()["tasks_total"] == frames


def test_task_counts_of_an_unknown_job_are_a_json_404(api_client) -> None:
    response = api_client.get(COUNTS.format(job="nothing"))
    assert response.status_code == 404
    _error(response)


def test_task_counts_need_a_user(anonymous_client) -> None:
    job = _job()
    assert anonymous_client.get(COUNTS.format(job=job.pk)).status_code == 401


# --- ?state= on the task list -----------------------------------------------------


def test_the_task_list_filtered_by_state_has_only_those_tasks(api_client) -> None:
    job = _job(frames=4)
    tasks = _with_states(
        job, WorkState.RUNNING, WorkState.DONE, WorkState.RUNNING, WorkState.QUEUED
    )
    response = api_client.get(TASKS.format(job=job.pk), {"state": "running"})
    assert response.status_code == 200
    assert [row["id"] for row in response.json()] == [tasks[0].pk, tasks[2].pk]
    assert {row["state"] for row in response.json()} == {"running"}


@pytest.mark.parametrize("state", ["RUNNING", "105"])
def test_the_state_filter_takes_names_in_any_case_and_original_codes(
    api_client, state
) -> None:
    job = _job(frames=2)
    tasks = _with_states(job, WorkState.RUNNING, WorkState.DONE)
    response = api_client.get(TASKS.format(job=job.pk), {"state": state})
    assert [row["id"] for row in response.json()] == [tasks[0].pk]


@pytest.mark.parametrize("state", ["stopped", "999", "1.5"])
def test_an_unknown_state_is_a_json_400(api_client, state) -> None:
    job = _job()
    response = api_client.get(TASKS.format(job=job.pk), {"state": state})
    assert response.status_code == 400
    assert "state" in _error(response)


def test_without_a_state_the_list_is_unchanged(api_client) -> None:
    job = _job(frames=3)
    _with_states(job, WorkState.RUNNING, WorkState.DONE, WorkState.QUEUED)
    whole = api_client.get(TASKS.format(job=job.pk))
    empty = api_client.get(TASKS.format(job=job.pk), {"state": ""})
    assert len(whole.json()) == 3
    assert empty.content == whole.content


def test_the_state_filter_combines_with_pagination(api_client) -> None:
    job = _job(frames=5)
    tasks = _with_states(
        job,
        WorkState.DONE,
        WorkState.DONE,
        WorkState.RUNNING,
        WorkState.DONE,
        WorkState.DONE,
    )
    url = TASKS.format(job=job.pk)
    response = api_client.get(url, {"state": "done", "limit": 2, "offset": 1})
    assert response.status_code == 200
    assert [row["id"] for row in response.json()] == [tasks[1].pk, tasks[3].pk]
    assert response["X-Total-Count"] == "4"
    link = response["Link"]
    assert "state=done" in link and "offset=3" in link and "limit=2" in link


def test_the_filtered_list_takes_a_constant_number_of_queries(
    api_client, django_assert_num_queries
) -> None:
    job = _job(frames=20)
    url = TASKS.format(job=job.pk)
    api_client.get(url)
    with django_assert_num_queries(2):
        response = api_client.get(url, {"state": "queued"})
    assert len(response.json()) == 20


def test_the_schema_documents_the_counts_and_the_state_filter(client) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    counts = schema["paths"]["/api/v1/jobs/{job}/task_counts"]["get"]
    assert counts["operationId"] == "jobs_task_counts"
    tasks = schema["paths"]["/api/v1/jobs/{job}/tasks/"]["get"]
    state = next(p for p in tasks["parameters"] if p["name"] == "state")
    assert state["in"] == "query"
    assert set(state["schema"]["enum"]) == set(WorkState.values)
