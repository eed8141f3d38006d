"""The agent's task reports on the lean path (`farm.services.task_reports`).

Each report the agent sends is applied twice, to twin jobs: once on the lean
path (answered by `farm.api.agent_fast_path` before the middleware and DRF),
once by the view on the ORM path (`update_task`, as before the lean path
existed); the answers, the rows and the signals must be the same, and the
answers byte for byte.
"""

from __future__ import annotations

import datetime
import json
import threading
from typing import Any
from unittest import mock

import pytest
import time_machine
from django.db import connection, connections, transaction

from accounts.tests.factories import UserFactory
from farm.api.serializers.jobs import TaskSerializer, task_data
from farm.api.views.jobs import SingleTaskView
from farm.choices import WorkState
from farm.models import Agent, Job, Task
from farm.services.submission import create_job
from farm.services.task_reports import (
    AgentReport,
    apply_agent_report,
    parse_agent_report,
)
from farm.signals import jobs_ended, work_changed
from farm.tests.factories import AgentFactory, JobTypeVersionFactory
from farm.tests.fast_path import NOT_THE_AGENTS_REQUEST

TASK = "/api/v1/jobs/{job}/tasks/{task}"
NOW = datetime.datetime(2026, 11, 30, 7, 0, 0, 123456, tzinfo=datetime.UTC)
#: What the transaction statements are called in captured queries.
TRANSACTION_CONTROL = {"BEGIN", "BEGIN IMMEDIATE", "COMMIT"}


def _job(frames: int = 2, **fields: Any) -> Job:
    with time_machine.travel(NOW - datetime.timedelta(hours=1), tick=False):
        return create_job(
            jobtype_version=JobTypeVersionFactory.create(),
            title=fields.pop("title", "Test Job"),
            start=1,
            end=frames,
            **fields,
        )


def _tasks(job: Job) -> list[Task]:
    return list(Task.objects.for_job(job.pk).order_by("frame"))


def _report(client: Any, task: Task, body: Any) -> Any:
    return client.post(TASK.format(job=task.job_id, task=task.pk), body, format="json")


# --- parsing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "report"),
    [
        ({"progress": 0.5}, AgentReport("progress", progress=0.5)),
        ({"progress": 1}, AgentReport("progress", progress=1.0)),
        ({"progress": 0}, AgentReport("progress", progress=0.0)),
        ({"time_started": "now"}, AgentReport("time_started")),
        ({"state": "running"}, AgentReport("running")),
        ({"state": "done"}, AgentReport("done")),
        ({"state": "failed"}, AgentReport("failed")),
        ({"state": "failed", "last_error": "boom"}, AgentReport("failed", 0.0, "boom")),
        ({"state": "failed", "last_error": None}, AgentReport("failed")),
        ({"state": "queued", "agent_id": None}, AgentReport("queued")),
    ],
)
def test_the_agents_bodies_are_lean_reports(body: Any, report: AgentReport) -> None:
    assert parse_agent_report(body) == report


@pytest.mark.parametrize(
    "body",
    [
        {"progress": True},
        {"progress": 1.5},
        {"progress": -0.1},
        {"progress": "0.5"},
        {"progress": float("nan")},
        {"time_started": "later"},
        {"state": "RUNNING"},
        {"state": 105},
        {"state": "paused"},
        {"state": None},
        {"state": "queued"},
        {"state": "queued", "agent_id": "02f08241-c556-4355-9e5e-33243d8c4577"},
        {"state": "done", "last_error": "x"},
        {"state": "failed", "last_error": 5},
        {"state": "running", "progress": 0.0},
        {"priority": 5},
        {},
        [],
        "done",
    ],
)
def test_other_bodies_take_the_serializer_path(body: Any) -> None:
    assert parse_agent_report(body) is None


# --- the answer ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("with_agent", [False, True])
def test_task_data_is_the_task_serializers_answer(with_agent: bool) -> None:
    job = _job(frames=1, title="Shot ü")
    task = _tasks(job)[0]
    agent = AgentFactory.create(hostname="render-01") if with_agent else None
    Task.objects.filter(pk=task.pk).update(
        agent=agent,
        frame="12.5",
        tile=3,
        state=WorkState.FAILED,
        priority=-4,
        attempts=2,
        failures=1,
        progress=0.25,
        hidden=True,
        sent_to_agent=True,
        last_error="Traceback ...\n",
        time_started=NOW,
        time_finished=NOW.replace(microsecond=0),
    )
    task = Task.objects.select_related("job", "agent").get(pk=task.pk)
    expected = TaskSerializer(task).data
    assert json.dumps(task_data(task)) == json.dumps(expected)


# --- lean path and ORM path side by side -------------------------------------------

# Where a task starts: (state, with its agent, attempts, failures).
STARTS = {
    "queued": ("queued", False, 0, 0),
    "assigned": ("queued", True, 0, 0),
    "running": ("running", True, 1, 0),
    "done": ("done", True, 1, 0),
    "failed": ("failed", True, 1, 1),
    "given back": ("queued", False, 1, 1),
}
BODIES = [
    {"progress": 0.5},
    {"time_started": "now"},
    {"state": "running"},
    {"state": "done"},
    {"state": "failed"},
    {"state": "failed", "last_error": "Traceback"},
    {"state": "queued", "agent_id": None},
]


def _setup(start: str, *, requeue: int, others: str, title: str) -> tuple[Task, Agent]:
    """A job of two tasks: the reported one in ``start``, the other in ``others``."""
    agent = AgentFactory.create()
    job = _job(frames=2, requeue=requeue, title=title)
    task, other = _tasks(job)
    state, assigned, attempts, failures = STARTS[start]
    started = NOW - datetime.timedelta(minutes=5)
    Task.objects.filter(pk=task.pk).update(
        state=state,
        agent=agent if assigned else None,
        sent_to_agent=assigned,
        attempts=attempts,
        failures=failures,
        time_started=started if state != "queued" else None,
        time_finished=started if state in ("done", "failed") else None,
    )
    Task.objects.filter(pk=other.pk).update(
        state=others,
        agent=agent if others == "running" else None,
        attempts=0 if others == "queued" else 1,
        time_started=None if others == "queued" else started,
        time_finished=started if others == "done" else None,
    )
    from farm.services.jobs import refresh_job_states

    refresh_job_states(job_ids=[job.pk])
    task.refresh_from_db()
    return task, agent


def _outcome(task: Task, agent: Agent, answer: dict[str, Any]) -> dict[str, Any]:
    """What a report did, without the ids that differ between the twins."""
    task.refresh_from_db()
    job = Job.objects.get(pk=task.job_id)
    agent.refresh_from_db()
    answer = {**answer, "id": 0, "job_id": 0, "job": {**answer["job"], "id": 0}}
    for key in ("agent_id",):
        answer[key] = answer[key] is not None
    if answer["agent"] is not None:
        answer["agent"] = {**answer["agent"], "id": 0, "hostname": ""}
    return {
        "answer": answer,
        "task": Task.objects.filter(pk=task.pk)
        .values(
            "state",
            "attempts",
            "failures",
            "progress",
            "last_error",
            "sent_to_agent",
            "time_started",
            "time_finished",
        )
        .get(),
        "task has its agent": task.agent_id == agent.pk,
        "failed on": list(task.failed_in_agents.values_list("hostname", flat=True))
        == [agent.hostname],
        "job": (
            job.state,
            job.time_started,
            job.time_finished,
            job.completion_notify_sent,
        ),
        "agent last success": agent.last_success_on,
    }


def _only_the_fast_path() -> Any:
    """Fail if the view answers (the fast path must)."""
    return mock.patch.object(
        SingleTaskView, "post", side_effect=AssertionError("the view answered")
    )


def _only_the_view() -> Any:
    """Fail if the fast path applies a report (the view must answer)."""
    return mock.patch(
        "farm.api.agent_fast_path.apply_agent_report",
        side_effect=AssertionError("the fast path answered"),
    )


def _apply(
    client: Any, task: Task, agent: Agent, body: Any, *, lean: bool, capture: Any
) -> dict[str, Any]:
    """``client`` reports ``body``; ``lean``: the fast path answers, else the view."""
    signals = mock.Mock()
    work_changed.connect(signals.work_changed, dispatch_uid="twin")
    jobs_ended.connect(signals.jobs_ended, dispatch_uid="twin")
    try:
        with (
            time_machine.travel(NOW, tick=False),
            capture(execute=True),
            _only_the_fast_path() if lean else _only_the_view(),
        ):
            response = _report(client, task, body)
    finally:
        work_changed.disconnect(dispatch_uid="twin")
        jobs_ended.disconnect(dispatch_uid="twin")
    assert response.status_code == 200, response.content
    outcome = _outcome(task, agent, response.json())
    outcome["signals"] = [
        (
            call[0],
            call.kwargs.get("reason"),
            call.kwargs.get("job_ids") == [task.job_id],
        )
        for call in signals.mock_calls
    ]
    return outcome


@pytest.mark.django_db
@pytest.mark.parametrize("requeue", [0, 1])
@pytest.mark.parametrize("others", ["queued", "running", "done"])
@pytest.mark.parametrize("start", list(STARTS))
@pytest.mark.parametrize("body", BODIES, ids=json.dumps)
def test_a_lean_report_does_what_the_orm_path_does(
    agent_client: Any,
    agent_view_client: Any,
    django_capture_on_commit_callbacks: Any,
    body: Any,
    start: str,
    others: str,
    requeue: int,
) -> None:
    lean_task, lean_agent = _setup(start, requeue=requeue, others=others, title="a")
    orm_task, orm_agent = _setup(start, requeue=requeue, others=others, title="b")
    lean = _apply(
        agent_client,
        lean_task,
        lean_agent,
        body,
        lean=True,
        capture=django_capture_on_commit_callbacks,
    )
    orm = _apply(
        agent_view_client,
        orm_task,
        orm_agent,
        body,
        lean=False,
        capture=django_capture_on_commit_callbacks,
    )
    assert lean["answer"].pop("job")["title"] == "a"
    assert orm["answer"].pop("job")["title"] == "b"
    assert lean == orm


@pytest.mark.django_db
def test_a_paused_jobs_state_is_left_alone(agent_client: Any) -> None:
    job = _job(frames=1)
    Job.objects.filter(pk=job.pk).update(state=WorkState.PAUSED)
    response = _report(agent_client, _tasks(job)[0], {"state": "done"})
    assert response.status_code == 200
    assert response.json()["state"] == "done"
    assert Job.objects.get(pk=job.pk).state == WorkState.PAUSED


@pytest.mark.django_db
def test_a_report_on_an_unknown_task_is_404(agent_client: Any) -> None:
    job = _job(frames=1)
    for body in ({"progress": 0.5}, {"state": "done"}):
        response = agent_client.post(
            TASK.format(job=job.pk, task=999999), body, format="json"
        )
        assert response.status_code == 404
        assert set(response.json()) == {"error"}


@pytest.mark.django_db
def test_a_task_of_another_job_is_not_reported_on(agent_client: Any) -> None:
    task = _tasks(_job(frames=1))[0]
    other = _job(frames=1, title="other")
    response = agent_client.post(
        TASK.format(job=other.pk, task=task.pk), {"state": "running"}, format="json"
    )
    assert response.status_code == 404
    task.refresh_from_db()
    assert task.state == WorkState.QUEUED


@pytest.mark.django_db
def test_a_job_named_by_title_still_takes_the_orm_path(agent_client: Any) -> None:
    task = _tasks(_job(frames=1, title="shot"))[0]
    response = agent_client.post(
        TASK.format(job="shot", task=task.pk), {"state": "running"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["state"] == "running"


@pytest.mark.django_db
def test_a_users_report_takes_the_orm_path(api_client: Any, user: Any) -> None:
    task = _tasks(_job(frames=1, user=user))[0]
    with mock.patch("farm.api.agent_fast_path.apply_agent_report") as lean:
        response = _report(api_client, task, {"state": "running"})
    assert response.status_code == 200
    lean.assert_not_called()
    assert response.json()["state"] == "running"


# --- the fast path's answer, byte for byte ----------------------------------------


def _fast_and_view(
    client: Any, view_client: Any, task: Task, body: Any
) -> list[tuple[int, dict[str, str], bytes]]:
    """The fast path's answer (then rolled back) and the view's, to one report."""
    answers = []
    with time_machine.travel(NOW, tick=False):
        with transaction.atomic(), _only_the_fast_path():
            answers.append(_report(client, task, body))
            transaction.set_rollback(True)
        with _only_the_view():
            answers.append(_report(view_client, task, body))
    return [(r.status_code, dict(r.headers), r.content) for r in answers]


@pytest.mark.django_db
@pytest.mark.parametrize("start", list(STARTS))
@pytest.mark.parametrize("body", BODIES, ids=json.dumps)
def test_the_fast_path_answers_what_the_view_answers(
    agent_client: Any, agent_view_client: Any, body: Any, start: str
) -> None:
    task, _agent = _setup(start, requeue=1, others="running", title="a")
    fast, view = _fast_and_view(agent_client, agent_view_client, task, body)
    assert fast[0] == 200
    assert fast == view


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"progress": 0.5}, {"state": "done"}])
def test_with_login_disabled_the_fast_path_answers_anyone(
    anonymous_client: Any, agent_view_client: Any, farm_config: Any, body: Any
) -> None:
    UserFactory.create(is_superuser=True)
    farm_config(login_disabled=True)
    task, _agent = _setup("running", requeue=1, others="running", title="a")
    fast, view = _fast_and_view(anonymous_client, agent_view_client, task, body)
    assert fast[0] == 200
    assert fast == view


@pytest.mark.django_db
def test_from_outside_the_agent_networks_the_view_refuses(
    anonymous_client: Any,
) -> None:
    task, _agent = _setup("running", requeue=1, others="running", title="a")
    with _only_the_view():
        response = _report(anonymous_client, task, {"progress": 0.5})
    assert response.status_code == 401


@pytest.mark.django_db
@NOT_THE_AGENTS_REQUEST
def test_requests_with_credentials_or_options_go_to_the_view(
    agent_client: Any, extra: dict[str, str]
) -> None:
    task, _agent = _setup("running", requeue=1, others="running", title="a")
    with _only_the_view():
        response = agent_client.post(
            TASK.format(job=task.job_id, task=task.pk),
            json.dumps({"progress": 0.5}),
            content_type="application/json",
            **extra,
        )
    assert response.status_code in (200, 401, 406)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"state": "failed", "last_error": "a\u0000b"}, 400),
        ({"progress": 2}, 400),
        ({"progress": 0.5, "state": "running"}, 200),
        ([{"progress": 0.5}], 400),
    ],
    ids=["nul", "out of range", "two keys", "array"],
)
def test_other_bodies_are_answered_by_the_view(
    agent_client: Any, agent_view_client: Any, body: Any, status: int
) -> None:
    task, _agent = _setup("running", requeue=1, others="running", title="a")
    url = TASK.format(job=task.job_id, task=task.pk)
    raw = json.dumps(body)
    answers = []
    with time_machine.travel(NOW, tick=False), _only_the_view():
        for client in (agent_client, agent_view_client):
            with transaction.atomic():
                response = client.post(url, raw, content_type="application/json")
                transaction.set_rollback(True)
            answers.append(
                (response.status_code, dict(response.headers), response.content)
            )
    assert answers[0][0] == status
    assert answers[0] == answers[1]


@pytest.mark.django_db
def test_the_trailing_slash_spelling_goes_to_the_view(agent_client: Any) -> None:
    task, _agent = _setup("running", requeue=1, others="running", title="a")
    with _only_the_view():
        response = agent_client.post(
            TASK.format(job=task.job_id, task=task.pk) + "/", {"progress": 0.5}
        )
    assert response.status_code == 200


# --- statements ---------------------------------------------------------------------


def _kinds() -> list[Any]:
    """(name, setup, body, statements on PostgreSQL, statements on SQLite)."""
    return [
        ("progress", "running", {"progress": 0.5}, 1, 1),
        ("progress, ignored", "done", {"progress": 0.5}, 2, 2),
        ("time_started", "running", {"time_started": "now"}, 1, 1),
        # PostgreSQL: the UPDATE locking task and job, the counts, the job's
        # UPDATE. SQLite: the UPDATE with the counts, the job's UPDATE.
        ("running, the job's first", "assigned first", {"state": "running"}, 3, 2),
        ("running", "assigned", {"state": "running"}, 2, 1),
        ("running, ignored", "done", {"state": "running"}, 2, 2),
        # SQLite: plus the agent's last_success_on.
        ("done", "running", {"state": "done"}, 2, 2),
        ("done, the job's last", "running last", {"state": "done"}, 3, 3),
        # SQLite: the failed-on agent first.
        ("failed, requeued", "running", {"state": "failed", "last_error": "x"}, 2, 2),
        ("failed, the job's last", "running last", {"state": "failed"}, 3, 3),
        ("given back", "running", {"state": "queued", "agent_id": None}, 2, 1),
    ]


def _setup_for_count(setup: str) -> Task:
    # Long before the report: the job's first start does not move.
    earlier = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    agent = AgentFactory.create()
    job = _job(frames=3, requeue=0 if "last" in setup else 1)
    tasks = _tasks(job)
    Task.objects.filter(pk__in=[t.pk for t in tasks]).update(
        agent=agent, sent_to_agent=True
    )
    first = tasks[0]
    if setup == "assigned first":
        return first
    for task in tasks[1:]:
        Task.objects.filter(pk=task.pk).update(
            state="running", attempts=1, time_started=earlier
        )
    if setup == "running last":
        Task.objects.filter(pk__in=[t.pk for t in tasks[1:]]).update(
            state="done", time_finished=earlier
        )
    if setup in ("running", "running last"):
        Task.objects.filter(pk=first.pk).update(
            state="running", attempts=1, time_started=earlier
        )
    if setup == "done":
        Task.objects.filter(pk=first.pk).update(state="done", attempts=1)
    from farm.services.jobs import refresh_job_states

    refresh_job_states(job_ids=[job.pk])
    return first


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("kind", "setup", "body", "postgresql", "sqlite"),
    _kinds(),
    ids=[kind[0] for kind in _kinds()],
)
def test_each_agent_report_costs_at_most_three_statements(
    agent_client: Any,
    django_assert_num_queries: Any,
    kind: str,
    setup: str,
    body: Any,
    postgresql: int,
    sqlite: int,
) -> None:
    """Counted in a real transaction: what reaches the database, BEGIN and COMMIT
    included (Django logs both), and the statements without them."""
    task = _setup_for_count(setup)
    statements = postgresql if connection.vendor == "postgresql" else sqlite
    state_change = "state" in body and "ignored" not in kind
    ignored_state = "state" in body and "ignored" in kind
    # A state change runs in a transaction: BEGIN and COMMIT around it.
    round_trips = statements + (2 if state_change or ignored_state else 0)
    with django_assert_num_queries(round_trips) as captured:
        response = _report(agent_client, task, body)
    assert response.status_code == 200
    sent = [q["sql"] for q in captured.captured_queries]
    assert len([sql for sql in sent if sql not in TRANSACTION_CONTROL]) == statements
    assert statements <= 3


# --- two reports ending a job at once (PostgreSQL) ----------------------------------

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="two real connections at once"
)


@postgresql_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(8))
def test_two_agents_ending_the_last_tasks_at_once_end_the_job_once(
    round_: int,
) -> None:
    job = _job(frames=2)
    tasks = _tasks(job)
    agents = AgentFactory.create_batch(2)
    for task, agent in zip(tasks, agents, strict=True):
        Task.objects.filter(pk=task.pk).update(agent=agent, sent_to_agent=True)
        apply_agent_report(
            job_id=job.pk, task_id=task.pk, report=AgentReport("running")
        )
    received = mock.Mock()
    jobs_ended.connect(received, dispatch_uid="test")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(task: Task) -> None:
        try:
            barrier.wait()
            apply_agent_report(
                job_id=job.pk, task_id=task.pk, report=AgentReport("done")
            )
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(task,)) for task in tasks]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        jobs_ended.disconnect(dispatch_uid="test")
    assert errors == []
    job.refresh_from_db()
    assert (job.state, job.completion_notify_sent) == (WorkState.DONE, True)
    assert received.call_count == 1
    assert Agent.objects.filter(last_success_on__isnull=False).count() == 2
