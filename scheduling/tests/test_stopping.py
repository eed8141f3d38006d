"""Stopping tasks on agents: the paused job's tasks, ``DELETE /api/v1/tasks/<id>``.

The agent is a real HTTP server on 127.0.0.1 (`scheduling.tests.fake_agent`)
answering as pyfarm-agent 0.8.6 does: 202 with an empty ``text/html`` body
when it stops an assignment, 204 for a task it does not know.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest

from farm.choices import AgentState, UseAddress, WorkState
from farm.models import Agent, Job, Task
from farm.services import pause_jobs, update_task
from farm.tests.factories import AgentFactory, JobFactory, TaskFactory
from scheduling import stopping
from scheduling.stopping import stop_tasks_on_agent, stops_by_agent
from scheduling.tasks import stopping as stopping_tasks
from scheduling.tests.fake_agent import FakeAgent
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db

STOPPED = (202, b"", "text/html")


@pytest.fixture
def stop_delay() -> Iterator[mock.Mock]:
    """``stop_tasks.delay``, mocked."""
    with mock.patch.object(stopping_tasks.stop_tasks, "delay") as patched:
        yield patched


def _paused_job_on(agent: Agent, tasks: int = 2) -> tuple[Job, list[Task]]:
    job = JobFactory(state=WorkState.RUNNING)
    held = [
        TaskFactory(
            job=job,
            agent=agent,
            state=WorkState.RUNNING,
            attempts=1,
            sent_to_agent=True,
        )
        for _ in range(tasks)
    ]
    return job, held


def test_pausing_queues_one_stop_per_agent_after_commit(
    make_agent: Callable[..., Agent],
    stop_delay: mock.Mock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent, other = make_agent(), make_agent()
    job, tasks = _paused_job_on(agent)
    elsewhere = TaskFactory(job=job, agent=other, state=WorkState.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        pause_jobs(jobs=Job.objects.filter(pk=job.pk))
        stop_delay.assert_not_called()
    assert sorted(call.args for call in stop_delay.call_args_list) == sorted(
        [
            (str(agent.pk), sorted(t.pk for t in tasks)),
            (str(other.pk), [elsewhere.pk]),
        ]
    )


def test_the_agent_is_asked_to_stop_each_task(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent(state=AgentState.RUNNING)
    fake_agent.answer(*STOPPED)
    result = stopping_tasks.stop_tasks(str(agent.pk), [12, 11])
    assert result == {
        "agent_id": str(agent.pk),
        "stopped": [11, 12],
        "failed": [],
        "kept": [],
        "skipped": None,
    }
    deletes = fake_agent.requests("DELETE")
    assert [r.path for r in deletes] == ["/api/v1/tasks/11", "/api/v1/tasks/12"]
    assert deletes[0].headers["User-Agent"] == "PyFarm/1.0 (master)"
    assert deletes[0].headers["Accept"] == "application/json"


def test_a_task_the_agent_does_not_know_counts_as_stopped(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    fake_agent.answer(204, b"", "text/html")
    assert stop_tasks_on_agent(agent_id=agent.pk, task_ids=[5]).stopped == [5]


def test_an_error_answer_is_logged_and_the_task_stays_queued(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    stop_delay: mock.Mock,
    caplog: Any,
) -> None:
    agent = make_agent(state=AgentState.RUNNING)
    job, tasks = _paused_job_on(agent, tasks=1)
    pause_jobs(jobs=Job.objects.filter(pk=job.pk))
    fake_agent.answer(500, {"error": "no jobtype instance"})
    result = stop_tasks_on_agent(agent_id=agent.pk, task_ids=[tasks[0].pk])
    assert result.failed == [tasks[0].pk]
    assert f"stopping task {tasks[0].pk} answered 500" in caplog.text
    tasks[0].refresh_from_db()
    assert (tasks[0].state, tasks[0].agent_id) == (WorkState.QUEUED, None)


def test_an_unreachable_agent_is_logged_and_tried_once(
    stop_delay: mock.Mock, caplog: Any
) -> None:
    agent = AgentFactory(
        state=AgentState.RUNNING, remote_ip="127.0.0.1", port=free_port()
    )
    job, tasks = _paused_job_on(agent, tasks=3)
    pause_jobs(jobs=Job.objects.filter(pk=job.pk))
    ids = sorted(t.pk for t in tasks)
    result = stop_tasks_on_agent(agent_id=agent.pk, task_ids=ids)
    assert result.failed == ids
    assert caplog.text.count("could not stop task") == 1
    assert Task.objects.filter(pk__in=ids, state=WorkState.QUEUED).count() == 3


@pytest.mark.parametrize(
    "fields",
    [{"use_address": UseAddress.PASSIVE}, {"state": AgentState.OFFLINE}],
)
def test_passive_and_offline_agents_are_not_contacted(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], fields: dict[str, Any]
) -> None:
    agent = make_agent(**fields)
    result = stop_tasks_on_agent(agent_id=agent.pk, task_ids=[1])
    assert result.skipped
    assert fake_agent.received == []


def test_a_task_given_to_the_same_agent_again_is_not_stopped(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent(state=AgentState.RUNNING)
    again = TaskFactory(agent=agent, state=WorkState.QUEUED, sent_to_agent=True)
    fake_agent.answer(*STOPPED)
    result = stop_tasks_on_agent(agent_id=agent.pk, task_ids=[again.pk, 77])
    assert (result.kept, result.stopped) == ([again.pk], [77])
    assert [r.path for r in fake_agent.requests("DELETE")] == ["/api/v1/tasks/77"]


def test_stopping_costs_two_queries_whatever_the_task_count(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    django_assert_num_queries: Any,
) -> None:
    agent = make_agent(state=AgentState.RUNNING)
    fake_agent.answer(*STOPPED)
    with django_assert_num_queries(2):
        result = stop_tasks_on_agent(agent_id=agent.pk, task_ids=range(1, 31))
    assert len(result.stopped) == 30


def test_the_agents_report_after_a_stop_keeps_the_task_queued_without_failure(
    make_agent: Callable[..., Agent], stop_delay: mock.Mock
) -> None:
    # After DELETE the agent reports the task queued with no agent (R6); a
    # late "running" of the stopped attempt is ignored.
    agent = make_agent(state=AgentState.RUNNING)
    job, (task,) = _paused_job_on(agent, tasks=1)
    pause_jobs(jobs=Job.objects.filter(pk=job.pk))
    update_task(task=task, state=WorkState.QUEUED, agent=None, agent_report=True)
    update_task(task=task, state=WorkState.RUNNING, agent_report=True)
    task.refresh_from_db()
    assert (task.state, task.agent_id, task.attempts, task.failures) == (
        WorkState.QUEUED,
        None,
        1,
        0,
    )


def test_stops_by_agent_lists_only_what_agents_hold(
    django_assert_num_queries: Any,
) -> None:
    agent = AgentFactory()
    running = TaskFactory(agent=agent, state=WorkState.RUNNING)
    sent = TaskFactory(agent=agent, state=WorkState.QUEUED, sent_to_agent=True)
    TaskFactory(agent=agent, state=WorkState.QUEUED)
    TaskFactory(agent=agent, state=WorkState.DONE, sent_to_agent=True)
    TaskFactory(state=WorkState.QUEUED)
    with django_assert_num_queries(1):
        stops = stops_by_agent(Task.objects.all())
    assert stops == {str(agent.pk): sorted([running.pk, sent.pk])}


def test_the_task_has_its_registered_name() -> None:
    from pyfarm_site.celery import app

    assert stopping_tasks.stop_tasks.name == "scheduling.stop_tasks"
    assert app.tasks["scheduling.stop_tasks"] == stopping_tasks.stop_tasks


def test_the_receiver_is_connected_to_the_signal(stop_delay: mock.Mock) -> None:
    from farm.signals import tasks_to_stop

    tasks_to_stop.send(sender=None, stops={"a": [1], "b": [2, 3]})
    assert stop_delay.call_args_list == [mock.call("a", [1]), mock.call("b", [2, 3])]


def test_the_statuses_that_mean_stopped() -> None:
    assert {200, 202, 204} == stopping.STOPPED_STATUSES
