"""Sending agents their assigned tasks: payload, headers, answers, retries.

A real HTTP server on 127.0.0.1 stands in for the agent's API and records
what the master posts; it answers what each test tells it to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest

from accounts.tests.factories import UserFactory
from farm.choices import AgentState, UseAddress, WorkState
from farm.models import Agent, Job, JobNotifiedUser, Task
from farm.tests.factories import (
    AgentFactory,
    JobFactory,
    JobGroupFactory,
    JobTypeFactory,
    JobTypeVersionFactory,
    TagFactory,
    TaskFactory,
)
from scheduling import sending
from scheduling.sending import (
    AgentUnavailableError,
    accepts_tiles,
    build_assignment_payload,
    send_assignment,
    send_assignments,
)
from scheduling.tasks import sending as sending_tasks
from scheduling.tasks.sending import send_assignment as send_assignment_task
from scheduling.tasks.sending import send_assignments as send_assignments_task
from scheduling.tests.fake_agent import ACCEPTED, FakeAgent
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db


def _tiled_job() -> Job:
    """A job whose every optional column is set, tiled in 2."""
    jobtype_version = JobTypeVersionFactory(
        jobtype=JobTypeFactory(name="TrivialEcho"), version=3
    )
    job = JobFactory(
        jobtype_version=jobtype_version,
        title="echo job",
        by=Decimal("0.5"),
        batch=2,
        priority=5,
        cpus=2,
        ram=64,
        ram_warning=100,
        ram_max=200,
        data={"message": "hello"},
        environ={"SHOT": "010"},
        notes="second pass",
        user=UserFactory(username="alice"),
        group=JobGroupFactory(title="shot 010", main_jobtype=jobtype_version.jobtype),
        num_tiles=2,
    )
    job.tags.add(TagFactory(tag="gpu"), TagFactory(tag="linux"))
    JobNotifiedUser.objects.create(
        job=job, user=UserFactory(username="bob"), on_deletion=True
    )
    return job


def _bare_job() -> Job:
    """A job with every nullable column empty (no user, group, tiles, RAM caps)."""
    return JobFactory(
        jobtype_version=JobTypeVersionFactory(
            jobtype=JobTypeFactory(name="Bare"), version=1
        ),
        title="bare job",
        batch=1,
        priority=0,
        cpus=1,
        ram=32,
        data=None,
        environ=None,
    )


def _tasks(job: Job, agent: Agent, count: int, **fields: Any) -> list[Task]:
    return [
        TaskFactory(job=job, agent=agent, frame=Decimal(index + 1), **fields)
        for index in range(count)
    ]


def _nulls(value: Any, path: str = "") -> list[str]:
    """Paths of every null inside a JSON value."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _nulls(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _nulls(item, f"{path}[{i}]")]
    return []


def _task_states(tasks: list[Task]) -> list[tuple[Any, bool, int, str]]:
    rows = Task.objects.filter(pk__in=[t.pk for t in tasks]).order_by("pk")
    return [(t.agent_id, t.sent_to_agent, t.attempts, t.state) for t in rows]


# --- the payload ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        (None, False),
        ("", False),
        ("unknown", False),
        ("0.8.6", False),
        ("0.8", False),
        ("0.8.7", True),
        ("0.8.7.dev0", True),
        ("0.9", True),
        ("1.0.0", True),
    ],
)
def test_only_agents_from_0_8_7_accept_tiles(version, accepted) -> None:
    assert accepts_tiles(version) is accepted


def test_payload_for_a_0_8_6_agent_is_exactly_what_it_accepts() -> None:
    agent = AgentFactory(version="0.8.6")
    job = _tiled_job()
    first = TaskFactory(job=job, agent=agent, frame=Decimal("1.5"), tile=0)
    second = TaskFactory(job=job, agent=agent, frame=Decimal(2), tile=1, attempts=2)

    payload = build_assignment_payload(agent, [first, second])

    assert payload == {
        "job": {
            "id": job.pk,
            "title": "echo job",
            "by": 0.5,
            "batch": 2,
            "priority": 5,
            "cpus": 2,
            "ram": 64,
            "ram_warning": 100,
            "ram_max": 200,
            "data": {"message": "hello"},
            "environ": {"SHOT": "010"},
            "user": "alice",
            "notes": "second pass",
            "tags": ["gpu", "linux"],
            "notified_users": [
                {
                    "username": "bob",
                    "on_success": True,
                    "on_failure": True,
                    "on_deletion": True,
                }
            ],
            "job_group": "shot 010",
            "job_group_id": job.group_id,
        },
        "jobtype": {"name": "TrivialEcho", "version": 3},
        "tasks": [
            {"id": first.pk, "frame": 1.5, "attempt": 1},
            {"id": second.pk, "frame": 2.0, "attempt": 3},
        ],
    }


def test_payload_leaves_out_empty_fields_instead_of_sending_null() -> None:
    agent = AgentFactory(version="0.8.6")
    job = _bare_job()
    task = TaskFactory(job=job, agent=agent, frame=Decimal(7))

    payload = build_assignment_payload(agent, [task])

    assert set(payload) == {"job", "jobtype", "tasks"}
    assert _nulls(payload) == []
    assert set(payload["job"]) == {
        "id",
        "title",
        "by",
        "batch",
        "priority",
        "cpus",
        "ram",
        "data",
        "environ",
        "notes",
        "tags",
        "notified_users",
    }
    assert payload["job"]["title"] == "bare job"
    assert payload["job"]["data"] == {}
    assert payload["job"]["environ"] == {}
    assert payload["tasks"] == [{"id": task.pk, "frame": 7.0, "attempt": 1}]


def test_payload_for_a_0_8_7_agent_has_tiles() -> None:
    agent = AgentFactory(version="0.8.7")
    job = _tiled_job()
    first = TaskFactory(job=job, agent=agent, frame=Decimal(1), tile=0)
    second = TaskFactory(job=job, agent=agent, frame=Decimal(1), tile=1)

    payload = build_assignment_payload(agent, [first, second])

    assert payload["job"]["num_tiles"] == 2
    assert payload["tasks"] == [
        {"id": first.pk, "frame": 1.0, "attempt": 1, "tile": 0},
        {"id": second.pk, "frame": 1.0, "attempt": 1, "tile": 1},
    ]
    assert _nulls(payload) == []


def test_payload_for_a_0_8_7_agent_leaves_out_tiles_of_an_untiled_job() -> None:
    agent = AgentFactory(version="0.8.7")
    task = TaskFactory(job=_bare_job(), agent=agent)

    payload = build_assignment_payload(agent, [task])

    assert "num_tiles" not in payload["job"]
    assert "tile" not in payload["tasks"][0]


def test_payload_refuses_tasks_of_two_jobs() -> None:
    agent = AgentFactory()
    tasks = [TaskFactory(agent=agent), TaskFactory(agent=agent)]
    with pytest.raises(ValueError, match="one job"):
        build_assignment_payload(agent, tasks)


# --- the request ---------------------------------------------------------------


def test_it_posts_the_payload_with_the_master_headers(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    job = _tiled_job()
    tasks = _tasks(job, agent, 2)

    send_assignment(agent_id=agent.pk)

    [post] = fake_agent.posts
    assert post.headers["User-Agent"] == "PyFarm/1.0 (master)"
    assert post.headers["Content-Type"] == "application/json"
    assert post.headers["Accept"] == "application/json"
    assert post.headers["Host"] == f"127.0.0.1:{fake_agent.port}"
    assert post.body == build_assignment_payload(agent, tasks)
    assert "num_tiles" not in post.body["job"]


def test_it_uses_the_hostname_when_the_agent_says_so(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    # Nothing listens on 127.0.0.2: posting to remote_ip would be refused.
    agent = make_agent(
        hostname="localhost", remote_ip="127.0.0.2", use_address=UseAddress.HOSTNAME
    )
    tasks = _tasks(_bare_job(), agent, 1)

    result = send_assignment(agent_id=agent.pk)

    [post] = fake_agent.posts
    assert post.headers["Host"] == f"localhost:{fake_agent.port}"
    assert result.sent == [tasks[0].pk]


def test_it_posts_once_per_job(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    first_job, second_job = _tiled_job(), _bare_job()
    first = _tasks(first_job, agent, 2)
    second = _tasks(second_job, agent, 1)

    result = send_assignment(agent_id=agent.pk)

    posted = {
        post.body["job"]["id"]: [task["id"] for task in post.body["tasks"]]
        for post in fake_agent.posts
    }
    assert len(fake_agent.posts) == 2
    assert posted == {
        first_job.pk: [task.pk for task in first],
        second_job.pk: [task.pk for task in second],
    }
    assert sorted(result.sent) == sorted(task.pk for task in first + second)


def test_it_sends_only_queued_tasks_not_yet_sent(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    job = _bare_job()
    [pending] = _tasks(job, agent, 1)
    TaskFactory(job=job, agent=agent, sent_to_agent=True)
    TaskFactory(job=job, agent=agent, state=WorkState.RUNNING, attempts=1)
    TaskFactory(job=job, agent=AgentFactory())

    send_assignment(agent_id=agent.pk)
    send_assignment(agent_id=agent.pk)

    [post] = fake_agent.posts
    assert [task["id"] for task in post.body["tasks"]] == [pending.pk]


@pytest.mark.parametrize(
    "fields",
    [
        {"use_address": UseAddress.PASSIVE},
        {"state": AgentState.OFFLINE},
        {"state": AgentState.DISABLED},
    ],
)
def test_it_does_not_contact_passive_offline_or_disabled_agents(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], fields
) -> None:
    agent = make_agent(**fields)
    tasks = _tasks(_bare_job(), agent, 2)

    result = send_assignment(agent_id=agent.pk)

    assert fake_agent.received == []
    assert result.skipped
    assert _task_states(tasks) == [(agent.pk, False, 0, WorkState.QUEUED)] * 2


def test_an_agent_without_pending_tasks_is_not_contacted(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()

    result = send_assignment(agent_id=agent.pk)

    assert fake_agent.received == []
    assert result.sent == result.unassigned == []


# --- the answers ---------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202])
def test_an_accepted_assignment_marks_the_tasks_sent(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], status
) -> None:
    agent = make_agent()
    tasks = _tasks(_bare_job(), agent, 3)
    fake_agent.answer(status, {"id": "7e178c94-c991-4a7f-acbc-b231605993ea"})

    result = send_assignment(agent_id=agent.pk)

    assert result.sent == [task.pk for task in tasks]
    assert result.unassigned == []
    assert _task_states(tasks) == [(agent.pk, True, 0, WorkState.QUEUED)] * 3


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "text/html"),
        (b'{"id": "7e178c94-c991-4a7f-acbc-b231605993ea"}', "text/html"),
        (b"<html>accepted</html>", "text/html"),
    ],
)
def test_a_202_counts_whatever_its_body(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], body, content_type
) -> None:
    agent = make_agent()
    tasks = _tasks(_bare_job(), agent, 2)
    fake_agent.answer(202, body, content_type)

    send_assignment(agent_id=agent.pk)

    assert _task_states(tasks) == [(agent.pk, True, 0, WorkState.QUEUED)] * 2


@pytest.mark.parametrize("status", [400, 415])
def test_a_refused_assignment_gives_the_tasks_back(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], status
) -> None:
    agent = make_agent()
    tasks = _tasks(_bare_job(), agent, 2, attempts=1)
    fake_agent.answer(status, {"error": "Not enough ram"}, "text/html")

    result = send_assignment(agent_id=agent.pk)

    assert result.unassigned == [task.pk for task in tasks]
    assert result.sent == []
    # The agent never ran them: attempts stay as they were.
    assert _task_states(tasks) == [(None, False, 1, WorkState.QUEUED)] * 2


UNCHANGED = {"free_ram": 12000, "cpus": 8}


@pytest.mark.parametrize(
    ("body", "stored"),
    [
        (
            {"error": "Not enough ram", "agent_ram": 512, "requires_ram": 4096},
            {"free_ram": 512, "cpus": 8},
        ),
        (
            {"error": "Not enough cpus", "agent_cpus": 2, "requires_cpus": 4},
            {"free_ram": 12000, "cpus": 2},
        ),
        ({"error": "extra keys not allowed"}, UNCHANGED),
        ({"error": "Not enough ram", "agent_ram": "lots"}, UNCHANGED),
        ({"error": "Not enough cpus", "agent_cpus": 0}, UNCHANGED),
    ],
)
def test_a_not_enough_refusal_teaches_the_agents_capacity(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    body: dict[str, Any],
    stored: dict[str, int],
) -> None:
    agent = make_agent(free_ram=12000, cpus=8)
    _tasks(_bare_job(), agent, 1)
    fake_agent.answer(400, body, "text/html")

    send_assignment(agent_id=agent.pk)

    agent.refresh_from_db()
    assert {"free_ram": agent.free_ram, "cpus": agent.cpus} == stored


def test_a_409_gives_back_only_the_rejected_tasks(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    kept, rejected, also_rejected = _tasks(_bare_job(), agent, 3)
    fake_agent.answer(
        409,
        {
            "error": "Partial overlap of tasks",
            "rejected_task_ids": [rejected.pk, also_rejected.pk],
        },
        "text/html",
    )

    result = send_assignment(agent_id=agent.pk)

    assert result.sent == [kept.pk]
    assert result.unassigned == [rejected.pk, also_rejected.pk]
    assert _task_states([kept, rejected, also_rejected]) == [
        (agent.pk, True, 0, WorkState.QUEUED),
        (None, False, 0, WorkState.QUEUED),
        (None, False, 0, WorkState.QUEUED),
    ]


def test_a_409_without_rejected_ids_gives_back_every_task(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    tasks = _tasks(_bare_job(), agent, 2)
    fake_agent.answer(409, b"", "text/html")

    send_assignment(agent_id=agent.pk)

    assert _task_states(tasks) == [(None, False, 0, WorkState.QUEUED)] * 2


def test_a_503_is_retryable_and_changes_nothing(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    tasks = _tasks(_bare_job(), agent, 2)
    fake_agent.answer(
        503,
        {
            "error": "Agent cannot accept assignments because of a "
            "reannounce in progress. Try again shortly."
        },
    )

    with pytest.raises(AgentUnavailableError, match="503"):
        send_assignment(agent_id=agent.pk)

    assert _task_states(tasks) == [(agent.pk, False, 0, WorkState.QUEUED)] * 2


def test_a_refused_connection_is_retryable(make_agent: Callable[..., Agent]) -> None:
    agent = make_agent(port=free_port())
    tasks = _tasks(_bare_job(), agent, 1)

    with pytest.raises(AgentUnavailableError, match="could not be reached"):
        send_assignment(agent_id=agent.pk)

    assert _task_states(tasks) == [(agent.pk, False, 0, WorkState.QUEUED)]


def test_a_timeout_is_retryable(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    farm_config: Callable[..., None],
) -> None:
    farm_config(agent_request_timeout=0.2)
    fake_agent.delay = 1.0
    agent = make_agent()
    _tasks(_bare_job(), agent, 1)

    started = time.monotonic()
    with pytest.raises(AgentUnavailableError, match="could not be reached"):
        send_assignment(agent_id=agent.pk)

    assert time.monotonic() - started < 1.0


def test_jobs_handled_before_a_503_stay_handled(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    first = _tasks(_tiled_job(), agent, 1)
    second = _tasks(_bare_job(), agent, 1)
    fake_agent.answers = [ACCEPTED, (503, "application/json", b"{}")]

    with pytest.raises(AgentUnavailableError):
        send_assignment(agent_id=agent.pk)
    fake_agent.answer(202, b"")
    result = send_assignment(agent_id=agent.pk)

    assert result.sent == [second[0].pk]
    assert _task_states(first + second) == [(agent.pk, True, 0, WorkState.QUEUED)] * 2
    assert [len(post.body["tasks"]) for post in fake_agent.posts] == [1, 1, 1]


@pytest.mark.parametrize("count", [2, 20])
def test_sending_costs_the_same_queries_for_any_number_of_tasks(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    django_assert_num_queries: Any,
    count: int,
) -> None:
    agent = make_agent()
    tasks = _tasks(_tiled_job(), agent, count)

    # The agent, its tasks with their jobs, the jobs' tags, their notified
    # users; then one UPDATE marking the batch sent.
    with django_assert_num_queries(5):
        result = send_assignment(agent_id=agent.pk)

    assert len(result.sent) == count
    assert len(fake_agent.posts[0].body["tasks"]) == count
    assert (
        Task.objects.filter(pk__in=[t.pk for t in tasks], sent_to_agent=True).count()
        == count
    )


# --- the Celery task -----------------------------------------------------------


def test_the_task_is_registered_under_its_name() -> None:
    assert send_assignment_task.name == "scheduling.send_assignment"


def test_the_task_sends_the_assignment(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    tasks = _tasks(_bare_job(), agent, 2)

    outcome = send_assignment_task.apply(args=[str(agent.pk)])

    assert outcome.successful()
    assert outcome.result["sent"] == [task.pk for task in tasks]
    assert _task_states(tasks) == [(agent.pk, True, 0, WorkState.QUEUED)] * 2


def test_the_task_retries_then_marks_the_agent_offline_and_requeues(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(send_assignment_task, "max_retries", 1)
    agent = make_agent()
    tasks = _tasks(_bare_job(), agent, 2)
    running = TaskFactory(
        job=tasks[0].job, agent=agent, state=WorkState.RUNNING, attempts=1
    )
    fake_agent.answer(503, {"error": "Agent is shutting down."})

    outcome = send_assignment_task.apply(args=[str(agent.pk)])

    assert outcome.successful()
    assert outcome.result["gave_up"] is True
    assert outcome.result["requeued"] == 3
    assert len(fake_agent.posts) == 2  # the first try and one retry
    agent.refresh_from_db()
    assert agent.state == AgentState.OFFLINE
    assert _task_states([*tasks, running]) == [
        (None, False, 0, WorkState.QUEUED),
        (None, False, 0, WorkState.QUEUED),
        (None, False, 1, WorkState.QUEUED),
    ]


def test_the_last_retry_of_an_unreachable_agent_gives_up(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent(port=free_port())
    tasks = _tasks(_bare_job(), agent, 1)

    outcome = send_assignment_task.apply(
        args=[str(agent.pk)], retries=send_assignment_task.max_retries
    )

    assert outcome.result["gave_up"] is True
    agent.refresh_from_db()
    assert agent.state == AgentState.OFFLINE
    assert _task_states(tasks) == [(None, False, 0, WorkState.QUEUED)]


def test_the_task_is_idempotent(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    _tasks(_bare_job(), agent, 2)

    send_assignment_task.apply(args=[str(agent.pk)])
    again = send_assignment_task.apply(args=[str(agent.pk)])

    assert again.result["sent"] == []
    assert len(fake_agent.posts) == 1


# --- a chunk of agents in one message ---------------------------------------------


@pytest.fixture(autouse=True)
def one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send in the test's thread: other threads cannot see its transaction."""
    monkeypatch.setattr(sending, "SEND_CONCURRENCY", 1)


def test_the_chunk_task_is_registered_under_its_name() -> None:
    assert send_assignments_task.name == "scheduling.send_assignments"


def test_the_chunk_task_sends_each_agent_its_tasks(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    first, second = make_agent(), make_agent()
    job = _bare_job()
    first_tasks = _tasks(job, first, 2)
    second_tasks = _tasks(job, second, 1)

    outcome = send_assignments_task.apply(args=[[str(first.pk), str(second.pk)]])

    assert outcome.successful()
    assert outcome.result["agents"] == 2
    assert outcome.result["sent"] == 3
    assert len(fake_agent.posts) == 2
    assert _task_states([*first_tasks, *second_tasks]) == [
        (first.pk, True, 0, WorkState.QUEUED),
        (first.pk, True, 0, WorkState.QUEUED),
        (second.pk, True, 0, WorkState.QUEUED),
    ]


def test_an_unavailable_agent_of_a_chunk_is_retried_on_its_own(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    up = make_agent()
    down = make_agent(port=free_port())
    job = _bare_job()
    up_tasks = _tasks(job, up, 1)
    down_tasks = _tasks(job, down, 1)

    with mock.patch.object(send_assignment_task, "apply_async") as retry:
        outcome = send_assignments_task.apply(args=[[str(down.pk), str(up.pk)]])

    assert outcome.successful()
    assert outcome.result["retrying"] == [str(down.pk)]
    retry.assert_called_once()
    assert retry.call_args.kwargs["args"] == [str(down.pk)]
    # The chunk's try was the first: the agent's own task starts at retry 1,
    # after the backoff of a first retry (0 to 1 s with jitter).
    assert retry.call_args.kwargs["retries"] == 1
    assert 0 <= retry.call_args.kwargs["countdown"] <= 1
    assert _task_states(up_tasks) == [(up.pk, True, 0, WorkState.QUEUED)]
    assert _task_states(down_tasks) == [(down.pk, False, 0, WorkState.QUEUED)]


def test_an_agent_of_a_chunk_is_tried_as_often_as_alone_then_given_up_on(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(send_assignment_task, "max_retries", 1)
    agent = make_agent()
    tasks = _tasks(_bare_job(), agent, 2)
    fake_agent.answer(503, {"error": "Agent is shutting down."})
    alone: list[Any] = []

    def run_now(*, args: list[str], countdown: float, retries: int) -> None:
        alone.append(send_assignment_task.apply(args=args, retries=retries))

    monkeypatch.setattr(send_assignment_task, "apply_async", run_now)
    outcome = send_assignments_task.apply(args=[[str(agent.pk)]])

    assert outcome.successful()
    assert len(alone) == 1
    assert alone[0].result["gave_up"] is True
    assert len(fake_agent.posts) == 2  # the chunk's try and one retry
    agent.refresh_from_db()
    assert agent.state == AgentState.OFFLINE
    assert _task_states(tasks) == [(None, False, 0, WorkState.QUEUED)] * 2


def test_an_unavailable_agent_without_retries_is_given_up_on_at_once(
    make_agent: Callable[..., Agent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(send_assignment_task, "max_retries", 0)
    agent = make_agent(port=free_port())
    tasks = _tasks(_bare_job(), agent, 1)

    with mock.patch.object(send_assignment_task, "apply_async") as retry:
        outcome = send_assignments_task.apply(args=[[str(agent.pk)]])

    assert outcome.result["gave_up"] == [str(agent.pk)]
    retry.assert_not_called()
    agent.refresh_from_db()
    assert agent.state == AgentState.OFFLINE
    assert _task_states(tasks) == [(None, False, 0, WorkState.QUEUED)]


def test_an_error_for_one_agent_fails_the_chunk_after_the_others_were_sent(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken, fine = make_agent(), make_agent()
    job = _bare_job()
    _tasks(job, broken, 1)
    fine_tasks = _tasks(job, fine, 1)
    real_send = sending_tasks.sending.send_assignment

    def send(*, agent_id: str) -> Any:
        if str(agent_id) == str(broken.pk):
            raise RuntimeError("boom")
        return real_send(agent_id=agent_id)

    monkeypatch.setattr(sending_tasks.sending, "send_assignment", send)
    outcome = send_assignments_task.apply(args=[[str(broken.pk), str(fine.pk)]])

    assert outcome.failed()
    assert isinstance(outcome.result, RuntimeError)
    assert _task_states(fine_tasks) == [(fine.pk, True, 0, WorkState.QUEUED)]


@pytest.mark.django_db(transaction=True)
def test_a_chunk_contacts_several_agents_at_once(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agents = [make_agent() for _ in range(4)]
    job = _bare_job()
    tasks = [task for agent in agents for task in _tasks(job, agent, 1)]
    fake_agent.delay = 0.3
    started = time.perf_counter()

    outcome = send_assignments(agent_ids=[str(a.pk) for a in agents], concurrency=4)

    assert time.perf_counter() - started < 0.9  # one after the other: 1.2 s
    assert [len(result.sent) for result in outcome.results] == [1, 1, 1, 1]
    assert (
        Task.objects.filter(pk__in=[t.pk for t in tasks], sent_to_agent=True).count()
        == 4
    )
    assert threading.active_count() < 10  # the sending threads are gone
