"""Task endpoints of the jobs API: lists, the agent's reports (R6, R9-R12)."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from farm.choices import WorkState
from farm.models import Job, Task
from farm.services.submission import create_job
from farm.tests.factories import AgentFactory, JobTypeVersionFactory

pytestmark = pytest.mark.django_db

TASKS = "/api/v1/jobs/{job}/tasks/"
TASK = "/api/v1/jobs/{job}/tasks/{task}"
FAILED_ON_AGENTS = "/api/v1/jobs/{job}/tasks/{task}/failed_on_agents/"
FAILED_ON_AGENT = "/api/v1/jobs/{job}/tasks/{task}/failed_on_agents/{agent}"

TASK_LIST_KEYS = {
    "id",
    "job_id",
    "agent_id",
    "frame",
    "tile",
    "state",
    "priority",
    "hidden",
    "attempts",
    "failures",
    "progress",
    "sent_to_agent",
    "last_error",
    "time_submitted",
    "time_started",
    "time_finished",
}
TASK_KEYS = TASK_LIST_KEYS | {"job", "agent"}
SUBMITTED_AT = datetime.datetime(2026, 11, 29, 7, 0, tzinfo=datetime.UTC)


def _task_json(task: Task, **changes: Any) -> dict[str, Any]:
    """A queued task of a job submitted at `SUBMITTED_AT`, as a list row."""
    body = {
        "id": task.pk,
        "job_id": task.job_id,
        "agent_id": None,
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


def _job(frames: int = 2, owner: Any = None, **fields: Any) -> Job:
    return create_job(
        jobtype_version=JobTypeVersionFactory.create(),
        title=fields.pop("title", "Test Job"),
        start=1,
        end=frames,
        user=owner,
        **fields,
    )


def _tasks(job: Job) -> list[Task]:
    return list(Task.objects.for_job(job.pk).order_by("frame"))


def _error(response: Any) -> str:
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    return str(body["error"])


def _snapshot(task: Task) -> tuple[Any, ...]:
    task.refresh_from_db()
    return (
        task.state,
        task.attempts,
        task.failures,
        task.progress,
        task.agent_id,
        task.last_error,
        task.time_started,
    )


def _assign(task: Task, agent: Any) -> None:
    """What the scheduler does before an attempt: give the task to an agent."""
    Task.objects.filter(pk=task.pk).update(agent=agent, sent_to_agent=True)


# --- GET jobs/<job>/tasks/ ----------------------------------------------------


def test_it_lists_the_tasks_of_a_job_in_frame_order(api_client) -> None:
    with time_machine.travel(SUBMITTED_AT, tick=False):
        job = _job(frames=3)
    response = api_client.get(TASKS.format(job=job.pk))
    assert response.status_code == 200
    assert response.json() == [_task_json(task) for task in _tasks(job)]
    assert [task["frame"] for task in response.json()] == [1.0, 2.0, 3.0]


def test_a_task_list_row_shows_every_column_of_the_task(api_client) -> None:
    with time_machine.travel(SUBMITTED_AT, tick=False):
        job = _job(frames=1)
    task = _tasks(job)[0]
    agent = AgentFactory.create()
    Task.objects.filter(pk=task.pk).update(
        agent=agent,
        sent_to_agent=True,
        state=WorkState.FAILED,
        attempts=2,
        failures=2,
        progress=0.5,
        last_error="out of memory",
        time_started=SUBMITTED_AT,
        time_finished=SUBMITTED_AT,
    )
    assert api_client.get(TASKS.format(job=job.pk)).json() == [
        _task_json(
            task,
            agent_id=str(agent.pk),
            sent_to_agent=True,
            state="failed",
            attempts=2,
            failures=2,
            progress=0.5,
            last_error="out of memory",
            time_started="2026-11-29T07:00:00Z",
            time_finished="2026-11-29T07:00:00Z",
        )
    ]


def test_it_lists_the_tasks_of_a_job_named_by_title(api_client) -> None:
    job = _job(title="Test Job 2")
    response = api_client.get(TASKS.format(job="Test%20Job%202"))
    assert response.status_code == 200
    assert {task["job_id"] for task in response.json()} == {job.pk}


def test_it_lists_tasks_without_the_trailing_slash(api_client) -> None:
    job = _job()
    response = api_client.get(TASKS.format(job=job.pk).rstrip("/"))
    assert response.status_code == 200
    assert len(response.json()) == 2


def test_it_answers_404_for_the_tasks_of_an_unknown_job(api_client) -> None:
    response = api_client.get(TASKS.format(job="no such job"))
    assert response.status_code == 404
    assert "not found" in _error(response)


@pytest.mark.parametrize("frames", [2, 20])
def test_the_task_list_runs_a_constant_number_of_queries(
    api_client, django_assert_num_queries, frames
) -> None:
    job = _job(frames=frames)
    Task.objects.filter(job=job).update(agent=AgentFactory.create())
    with django_assert_num_queries(2):
        response = api_client.get(TASKS.format(job=job.pk))
    assert len(response.json()) == frames


def test_anonymous_users_cannot_list_tasks(anonymous_client) -> None:
    job = _job()
    response = anonymous_client.get(TASKS.format(job=job.pk))
    assert response.status_code == 401
    _error(response)


# --- GET jobs/<job>/tasks/<task> ----------------------------------------------


def test_it_returns_a_task_with_every_column_its_job_and_agent(agent_client) -> None:
    with time_machine.travel(SUBMITTED_AT, tick=False):
        job = _job()
    task = _tasks(job)[1]
    agent = AgentFactory.create(hostname="agent1")
    _assign(task, agent)
    response = agent_client.get(TASK.format(job=job.pk, task=task.pk))
    assert response.status_code == 200
    assert response.json() == _task_json(
        task,
        frame=2.0,
        agent_id=str(agent.pk),
        sent_to_agent=True,
        job={"id": job.pk, "title": "Test Job"},
        agent={"id": str(agent.pk), "hostname": "agent1"},
    )


def test_a_task_without_agent_shows_a_null_agent(agent_client) -> None:
    with time_machine.travel(SUBMITTED_AT, tick=False):
        job = _job()
    task = _tasks(job)[0]
    response = agent_client.get(TASK.format(job=job.pk, task=task.pk))
    assert response.json() == _task_json(
        task, frame=1.0, job={"id": job.pk, "title": "Test Job"}, agent=None
    )


def test_it_returns_a_task_of_a_job_named_by_title(api_client) -> None:
    job = _job(title="Test Job 2")
    task = _tasks(job)[0]
    response = api_client.get(TASK.format(job="Test%20Job%202", task=task.pk))
    assert response.status_code == 200
    assert response.json()["id"] == task.pk


def test_it_answers_404_for_a_task_of_another_job(agent_client) -> None:
    job, other = _job(), _job(title="other")
    task = _tasks(other)[0]
    response = agent_client.get(TASK.format(job=job.pk, task=task.pk))
    assert response.status_code == 404
    assert "not found" in _error(response)


@pytest.mark.parametrize("task_id", ["abc", "999999", "1.5"])
def test_it_answers_404_for_unknown_task_ids(agent_client, task_id) -> None:
    job = _job()
    response = agent_client.get(TASK.format(job=job.pk, task=task_id))
    assert response.status_code == 404
    _error(response)


def test_it_answers_404_for_a_task_id_of_superscript_digits(agent_client) -> None:
    job = _job()
    response = agent_client.get(TASK.format(job=job.pk, task="²"))
    assert response.status_code == 404
    _error(response)


def test_it_answers_404_for_a_task_id_in_digits_of_another_script(
    agent_client,
) -> None:
    task = _tasks(_job())[0]
    arabic_indic = str(task.pk).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    response = agent_client.get(TASK.format(job=task.job_id, task=arabic_indic))
    assert response.status_code == 404
    _error(response)


def test_it_answers_404_for_the_task_of_an_unknown_job(agent_client) -> None:
    response = agent_client.get(TASK.format(job=424242, task=1))
    assert response.status_code == 404
    _error(response)


def test_requests_from_outside_the_agent_networks_need_a_user(
    anonymous_client,
) -> None:
    job = _job()
    task = _tasks(job)[0]
    response = anonymous_client.post(
        TASK.format(job=job.pk, task=task.pk), {"state": "running"}, format="json"
    )
    assert response.status_code == 401
    _error(response)
    assert _snapshot(task)[0] == WorkState.QUEUED


def test_owners_may_report_on_the_tasks_of_their_jobs(api_client, user) -> None:
    job = _job(owner=user)
    task = _tasks(job)[0]
    response = api_client.post(
        TASK.format(job=job.pk, task=task.pk), {"state": "running"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["state"] == "running"


# --- POST jobs/<job>/tasks/<task>: the agent's reports --------------------------


def _report(client: Any, task: Task, body: Any) -> Any:
    return client.post(TASK.format(job=task.job_id, task=task.pk), body, format="json")


def test_running_starts_an_attempt_and_answers_200(agent_client) -> None:
    task = _tasks(_job())[0]
    response = _report(agent_client, task, {"state": "running"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == TASK_KEYS
    assert (body["state"], body["attempts"]) == ("running", 1)
    assert body["time_started"] is not None
    task.job.refresh_from_db()
    assert task.job.state == WorkState.RUNNING


def test_done_finishes_the_task_with_full_progress(agent_client) -> None:
    job = _job(frames=1)
    task = _tasks(job)[0]
    _report(agent_client, task, {"state": "running"})
    response = _report(agent_client, task, {"state": "done"})
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["progress"]) == ("done", 1.0)
    job.refresh_from_db()
    assert job.state == WorkState.DONE


def test_failed_records_the_error(agent_client) -> None:
    task = _tasks(_job(requeue=0))[0]
    _report(agent_client, task, {"state": "running"})
    response = _report(
        agent_client, task, {"state": "failed", "last_error": "Traceback ..."}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["failures"], body["last_error"]) == (
        "failed",
        1,
        "Traceback ...",
    )


def test_failed_requeues_the_task_while_the_job_allows(agent_client) -> None:
    agent = AgentFactory.create()
    task = _tasks(_job(requeue=3))[0]
    _assign(task, agent)
    _report(agent_client, task, {"state": "running"})
    response = _report(agent_client, task, {"state": "failed"})
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["failures"]) == ("queued", 1)
    assert list(task.failed_in_agents.all()) == [agent]


def test_queued_without_agent_gives_the_task_back(agent_client) -> None:
    task = _tasks(_job())[0]
    _assign(task, AgentFactory.create())
    _report(agent_client, task, {"state": "running"})
    response = _report(agent_client, task, {"state": "queued", "agent_id": None})
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["agent_id"], body["agent"]) == ("queued", None, None)
    task.refresh_from_db()
    assert task.sent_to_agent is False


def test_progress_is_recorded(agent_client) -> None:
    task = _tasks(_job())[0]
    _report(agent_client, task, {"state": "running"})
    response = _report(agent_client, task, {"progress": 0.5})
    assert response.status_code == 200
    assert response.json()["progress"] == 0.5


def test_time_started_now_is_recorded(agent_client) -> None:
    task = _tasks(_job())[0]
    response = _report(agent_client, task, {"time_started": "now"})
    assert response.status_code == 200
    assert response.json()["time_started"] is not None


def test_an_agent_id_assigns_the_task(agent_client) -> None:
    agent = AgentFactory.create()
    task = _tasks(_job())[0]
    response = _report(agent_client, task, {"agent_id": str(agent.pk)})
    assert response.status_code == 200
    assert response.json()["agent_id"] == str(agent.pk)


@pytest.mark.parametrize(
    ("state", "expected"),
    [("running", "running"), ("RUNNING", "running"), (105, "running"), (106, "done")],
)
def test_states_are_accepted_as_names_and_original_codes(
    agent_client, state, expected
) -> None:
    task = _tasks(_job())[0]
    response = _report(agent_client, task, {"state": state})
    assert response.status_code == 200
    assert response.json()["state"] == expected


def test_a_null_state_means_queued(agent_client) -> None:
    task = _tasks(_job())[0]
    _report(agent_client, task, {"state": "running"})
    response = _report(agent_client, task, {"state": None})
    assert response.status_code == 200
    assert response.json()["state"] == "queued"


def test_the_agents_whole_sequence_finishes_the_job(agent_client) -> None:
    """HEAD's order: progress 0.0, time_started, running, done (R10, R11, R6)."""
    job = _job(frames=1)
    task = _tasks(job)[0]
    for body in (
        {"progress": 0.0},
        {"time_started": "now"},
        {"state": "running"},
        {"state": "done"},
    ):
        assert _report(agent_client, task, body).status_code == 200
    job.refresh_from_db()
    assert job.state == WorkState.DONE


@pytest.mark.parametrize(
    "body",
    [
        {"state": "paused"},
        {"state": "bogus"},
        {"state": 999},
        {"state": True},
        {"progress": 1.5},
        {"progress": -0.1},
        {"progress": "0.5"},
        {"progress": True},
        {"last_error": 12},
        {"agent_id": "not-a-uuid"},
        {"agent_id": 12},
        {"time_started": "yesterday"},
        {"time_started": 12},
        {"frame": 3.0},
        {"attempts": 5},
        {"colour": "red"},
        [],
        "running",
    ],
)
def test_it_refuses_invalid_reports_and_changes_nothing(agent_client, body) -> None:
    task = _tasks(_job())[0]
    before = _snapshot(task)
    response = _report(agent_client, task, body)
    assert response.status_code == 400
    _error(response)
    assert _snapshot(task) == before


def test_it_refuses_malformed_json(agent_client) -> None:
    task = _tasks(_job())[0]
    response = agent_client.post(
        TASK.format(job=task.job_id, task=task.pk),
        data='{"state": "running"',
        content_type="application/json",
    )
    assert response.status_code == 400
    _error(response)
    assert _snapshot(task)[0] == WorkState.QUEUED


def test_it_answers_404_for_an_unknown_agent_id(agent_client) -> None:
    task = _tasks(_job())[0]
    before = _snapshot(task)
    response = _report(agent_client, task, {"agent_id": str(uuid.uuid4())})
    assert response.status_code == 404
    assert "agent" in _error(response)
    assert _snapshot(task) == before


def test_a_report_on_a_task_of_another_job_is_404(agent_client) -> None:
    job, other = _job(), _job(title="other")
    task = _tasks(other)[0]
    response = agent_client.post(
        TASK.format(job=job.pk, task=task.pk), {"state": "running"}
    )
    assert response.status_code == 404
    _error(response)
    assert _snapshot(task)[0] == WorkState.QUEUED


# --- out-of-order delivery (agent-protocol §1.7) --------------------------------


def test_running_after_done_is_accepted_and_ignored(agent_client) -> None:
    job = _job(frames=1)
    task = _tasks(job)[0]
    _report(agent_client, task, {"state": "running"})
    _report(agent_client, task, {"state": "done"})
    response = _report(agent_client, task, {"state": "running"})
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["attempts"], body["progress"]) == ("done", 1, 1.0)
    job.refresh_from_db()
    assert job.state == WorkState.DONE


def test_progress_after_done_is_accepted_and_ignored(agent_client) -> None:
    task = _tasks(_job(frames=1))[0]
    _report(agent_client, task, {"state": "running"})
    _report(agent_client, task, {"state": "done"})
    response = _report(agent_client, task, {"progress": 0.3})
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["progress"]) == ("done", 1.0)


def test_running_after_failed_is_accepted_and_ignored(agent_client) -> None:
    """0.8.6, job 4: "failed" arrived before "running"."""
    job = _job(frames=1, requeue=0)
    task = _tasks(job)[0]
    _report(agent_client, task, {"state": "failed"})
    response = _report(agent_client, task, {"state": "running"})
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["failures"]) == ("failed", 1)
    job.refresh_from_db()
    assert job.state == WorkState.FAILED


def test_running_after_a_requeueing_failure_does_not_start_an_attempt(
    agent_client,
) -> None:
    """With requeues left the failed task is queued again; the late "running"
    belongs to the attempt that failed and must not restart it."""
    job = _job(frames=1, requeue=3)
    task = _tasks(job)[0]
    _assign(task, AgentFactory.create())
    _report(agent_client, task, {"state": "failed"})
    response = _report(agent_client, task, {"state": "running"})
    assert response.status_code == 200
    body = response.json()
    # The failed attempt counts; the late "running" starts no other.
    assert (body["state"], body["attempts"], body["failures"]) == ("queued", 1, 1)
    assert _report(agent_client, task, {"progress": 0.4}).json()["progress"] == 0.0
    job.refresh_from_db()
    assert job.state == WorkState.QUEUED


def test_running_after_a_stop_does_not_start_an_attempt(agent_client) -> None:
    task = _tasks(_job(frames=1))[0]
    _assign(task, AgentFactory.create())
    _report(agent_client, task, {"state": "running"})
    _report(agent_client, task, {"state": "queued", "agent_id": None})
    response = _report(agent_client, task, {"state": "running"})
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["attempts"]) == ("queued", 1)


def test_a_reassigned_task_starts_its_next_attempt(agent_client) -> None:
    task = _tasks(_job(frames=1, requeue=3))[0]
    _assign(task, AgentFactory.create())
    _report(agent_client, task, {"state": "running"})
    _report(agent_client, task, {"state": "failed"})
    _assign(task, AgentFactory.create())
    response = _report(agent_client, task, {"state": "running"})
    assert (response.json()["state"], response.json()["attempts"]) == ("running", 2)


def test_a_job_ends_failed_after_its_requeues(agent_client) -> None:
    job = _job(frames=2, requeue=2)
    task, other = _tasks(job)
    _report(agent_client, other, {"state": "running"})
    _report(agent_client, other, {"state": "done"})
    for attempt in range(3):
        _assign(task, AgentFactory.create())
        assert _report(agent_client, task, {"state": "running"}).status_code == 200
        response = _report(
            agent_client, task, {"state": "failed", "last_error": f"try {attempt}"}
        )
        assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["attempts"], body["failures"]) == ("failed", 3, 3)
    assert body["last_error"] == "try 2"
    assert task.failed_in_agents.count() == 3
    job.refresh_from_db()
    assert job.state == WorkState.FAILED


def test_a_task_report_runs_a_bounded_number_of_queries(agent_client) -> None:
    task = _tasks(_job(frames=50))[0]
    with CaptureQueriesContext(connection) as queries:
        response = _report(agent_client, task, {"state": "running"})
    assert response.status_code == 200
    assert len(queries) <= 15


# --- failed_on_agents (R12) ----------------------------------------------------


def _failed_url(task: Task, agent: Any = None) -> str:
    if agent is None:
        return FAILED_ON_AGENTS.format(job=task.job_id, task=task.pk)
    return FAILED_ON_AGENT.format(job=task.job_id, task=task.pk, agent=agent)


def test_it_lists_the_agents_a_task_failed_on(agent_client) -> None:
    task = _tasks(_job())[0]
    agent = AgentFactory.create(hostname="agent1")
    task.failed_in_agents.add(agent)
    response = agent_client.get(_failed_url(task))
    assert response.status_code == 200
    assert response.json() == [{"id": str(agent.pk), "hostname": "agent1"}]


@pytest.mark.parametrize("agents", [2, 20])
def test_the_failed_agent_list_runs_a_constant_number_of_queries(
    agent_client, django_assert_num_queries, agents
) -> None:
    task = _tasks(_job())[0]
    task.failed_in_agents.add(*AgentFactory.create_batch(agents))
    # The task (with its job, in one query), then its agents.
    with django_assert_num_queries(2):
        response = agent_client.get(_failed_url(task))
    assert len(response.json()) == agents


def test_the_agent_adds_itself_to_the_failed_agents(agent_client) -> None:
    task = _tasks(_job())[0]
    agent = AgentFactory.create(hostname="agent1")
    response = agent_client.post(_failed_url(task), {"id": str(agent.pk)})
    assert response.status_code == 201
    assert response.json() == {"id": str(agent.pk), "hostname": "agent1"}
    assert list(task.failed_in_agents.all()) == [agent]


def test_adding_a_listed_agent_again_answers_200(agent_client) -> None:
    task = _tasks(_job())[0]
    agent = AgentFactory.create()
    task.failed_in_agents.add(agent)
    response = agent_client.post(_failed_url(task), {"id": str(agent.pk)})
    assert response.status_code == 200
    assert task.failed_in_agents.count() == 1


def test_failed_agents_are_reached_without_the_trailing_slash(agent_client) -> None:
    task = _tasks(_job())[0]
    response = agent_client.get(_failed_url(task).rstrip("/"))
    assert response.status_code == 200
    assert response.json() == []


def test_adding_an_unknown_agent_is_404(agent_client) -> None:
    task = _tasks(_job())[0]
    response = agent_client.post(_failed_url(task), {"id": str(uuid.uuid4())})
    assert response.status_code == 404
    _error(response)
    assert task.failed_in_agents.count() == 0


@pytest.mark.parametrize(
    "body", [{"id": "nope"}, {"id": 5}, {}, {"id": None}, {"agent": "x"}, ["x"]]
)
def test_adding_a_failed_agent_refuses_invalid_bodies(agent_client, body) -> None:
    task = _tasks(_job())[0]
    AgentFactory.create()
    response = agent_client.post(_failed_url(task), body)
    assert response.status_code == 400
    _error(response)
    assert task.failed_in_agents.count() == 0


def test_failed_agents_of_an_unknown_task_are_404(agent_client) -> None:
    job = _job()
    response = agent_client.get(FAILED_ON_AGENTS.format(job=job.pk, task=999999))
    assert response.status_code == 404
    _error(response)


def test_the_owner_removes_a_failed_agent(api_client, user) -> None:
    task = _tasks(_job(owner=user))[0]
    agent = AgentFactory.create()
    task.failed_in_agents.add(agent)
    response = api_client.delete(_failed_url(task, agent.pk))
    assert response.status_code == 204
    assert task.failed_in_agents.count() == 0


def test_removing_an_agent_that_is_not_listed_answers_204(admin_api_client) -> None:
    task = _tasks(_job())[0]
    response = admin_api_client.delete(_failed_url(task, AgentFactory.create().pk))
    assert response.status_code == 204


@pytest.mark.parametrize(
    "agent", ["not-a-uuid", "02f08241-c556-4355-9e5e-33243d8c4577"]
)
def test_removing_an_unknown_agent_is_404(admin_api_client, agent) -> None:
    task = _tasks(_job())[0]
    response = admin_api_client.delete(_failed_url(task, agent))
    assert response.status_code == 404
    _error(response)


def test_other_users_cannot_remove_failed_agents(api_client) -> None:
    task = _tasks(_job(owner=UserFactory.create(username="someone")))[0]
    agent = AgentFactory.create()
    task.failed_in_agents.add(agent)
    response = api_client.delete(_failed_url(task, agent.pk))
    assert response.status_code == 403
    _error(response)
    assert task.failed_in_agents.count() == 1


def test_agents_cannot_remove_failed_agents(agent_client) -> None:
    task = _tasks(_job())[0]
    agent = AgentFactory.create()
    task.failed_in_agents.add(agent)
    response = agent_client.delete(_failed_url(task, agent.pk))
    assert response.status_code == 401
    _error(response)
    assert task.failed_in_agents.count() == 1


@pytest.mark.parametrize(
    ("body", "queries"),
    [
        # One UPDATE ... RETURNING the answer, outside a transaction.
        ({"progress": 0.5}, {"postgresql": 1, "sqlite": 1}),
        # In a transaction (SAVEPOINT and RELEASE here): the UPDATE, which on
        # PostgreSQL also locks the job's row, and on SQLite reads its task
        # counts; on PostgreSQL the counts (read once the lock is held, so
        # that two reports ending its last tasks together cannot both miss
        # the other's); the job's UPDATE (queued -> running).
        ({"state": "running"}, {"postgresql": 5, "sqlite": 4}),
    ],
)
def test_an_agent_report_costs_a_fixed_number_of_queries(
    agent_client, django_assert_num_queries, body, queries
) -> None:
    task = _tasks(_job(frames=50))[0]
    _assign(task, AgentFactory.create())
    with django_assert_num_queries(queries[connection.vendor]):
        response = _report(agent_client, task, body)
    assert response.status_code == 200
