"""Polling agents: who is due, what a poll records, reconciling tasks, giving up.

The agent is a real HTTP server on 127.0.0.1 (`scheduling.tests.fake_agent`)
answering ``GET /status`` and ``GET /tasks/`` as pyfarm-agent 0.8.6 does.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from farm.choices import AgentState, UseAddress, WorkState
from farm.models import Agent
from farm.signals import work_changed
from farm.tests.factories import AgentFactory, JobFactory, TaskFactory
from scheduling import polling
from scheduling.polling import agents_due_for_poll, claim_due_agents, poll_agent
from scheduling.sending import AgentUnavailableError
from scheduling.tasks import polling as polling_tasks
from scheduling.tests.fake_agent import FakeAgent
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db

STATUS = "/api/v1/status"
TASKS = "/api/v1/tasks/"
NOW = timezone.now()


def ago(**delta: float) -> datetime.datetime:
    return NOW - datetime.timedelta(**delta)


def _status(agent: Agent, **changes: Any) -> dict[str, Any]:
    """A ``GET /status`` body as agent 0.8.6 sends it."""
    return {
        "state": "online",
        "agent_hostname": agent.hostname,
        "free_ram": 8000,
        "agent_process_ram": 40,
        "consumed_ram": 40,
        "child_processes": 0,
        "grandchild_processes": 0,
        "pids": {"parent": 1, "child": []},
        "agent_id": str(agent.pk),
        "last_master_contact": None,
        "last_announce": None,
        "agent_lock_file": "/tmp/agent.pid",
        "uptime": 12.5,
        "jobs": [],
        **changes,
    }


def _answer(fake: FakeAgent, agent: Agent, tasks: list[int], **status: Any) -> None:
    """Make the stand-in agent report ``status`` and run ``tasks``."""
    fake.route("GET", STATUS, 200, _status(agent, **status), "application/json")
    fake.route(
        "GET",
        TASKS,
        200,
        [
            {"id": pk, "frame": 1.0, "attempt": 1, "local_state": "running"}
            for pk in tasks
        ],
    )
    fake.answer(202, b"", "text/html")


@pytest.fixture
def send_delay() -> Iterator[mock.Mock]:
    """``send_assignment.delay``, mocked."""
    from scheduling.tasks.sending import send_assignment

    with mock.patch.object(send_assignment, "delay") as patched:
        yield patched


# --- who is due ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "due"),
    [
        ({"last_heard_from": None}, True),
        ({"last_heard_from": ago(hours=2)}, True),
        ({"last_heard_from": ago(minutes=10)}, False),
        ({"last_heard_from": ago(hours=2), "last_polled": ago(minutes=5)}, False),
        ({"last_heard_from": ago(hours=2), "last_polled": ago(hours=2)}, True),
        ({"state": AgentState.RUNNING, "last_heard_from": ago(minutes=10)}, True),
        ({"state": AgentState.RUNNING, "last_heard_from": ago(minutes=1)}, False),
        ({"state": AgentState.OFFLINE, "last_polled": ago(hours=3)}, True),
        ({"state": AgentState.OFFLINE, "last_polled": ago(hours=1)}, False),
        ({"state": AgentState.OFFLINE, "last_polled": None}, True),
        ({"state": AgentState.DISABLED, "last_heard_from": None}, False),
        ({"use_address": UseAddress.PASSIVE, "last_heard_from": None}, False),
    ],
)
def test_agents_are_due_by_state_and_last_contact(
    fields: dict[str, Any], due: bool
) -> None:
    agent = AgentFactory(**fields)

    assert (agent in agents_due_for_poll(NOW)) is due


def test_an_online_agent_holding_open_tasks_counts_as_busy() -> None:
    agent = AgentFactory(last_heard_from=ago(minutes=10))
    assert agent not in agents_due_for_poll(NOW)

    TaskFactory(agent=agent, state=WorkState.QUEUED, sent_to_agent=True)

    assert agent in agents_due_for_poll(NOW)


def test_finished_tasks_do_not_make_an_agent_busy() -> None:
    agent = AgentFactory(last_heard_from=ago(minutes=10))
    TaskFactory(agent=agent, state=WorkState.DONE)

    assert agent not in agents_due_for_poll(NOW)


def test_the_intervals_come_from_the_configuration(
    farm_config: Callable[..., None],
) -> None:
    agent = AgentFactory(last_heard_from=ago(minutes=10))
    farm_config(poll_idle_agents_interval={"minutes": 5})

    assert agent in agents_due_for_poll(NOW)


@pytest.mark.parametrize("size", [3, 30])
def test_claiming_stamps_last_polled_in_two_queries(
    size: int, django_assert_num_queries: Any
) -> None:
    due = AgentFactory.create_batch(size, last_heard_from=None)
    fresh = AgentFactory(last_heard_from=NOW)

    with django_assert_num_queries(2):
        claimed = claim_due_agents(NOW)

    assert sorted(claimed) == sorted(str(agent.pk) for agent in due)
    assert set(Agent.objects.filter(last_polled=NOW)) == set(due)
    fresh.refresh_from_db()
    assert fresh.last_polled is None
    # Claimed agents are not due again at once.
    assert claim_due_agents(NOW + datetime.timedelta(seconds=30)) == []


def test_the_periodic_task_queues_one_poll_per_due_agent(
    django_capture_on_commit_callbacks: Any,
) -> None:
    due = AgentFactory.create_batch(2, last_heard_from=None)
    AgentFactory(last_heard_from=timezone.now())

    with (
        mock.patch.object(polling_tasks.poll_agent, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        count = polling_tasks.poll_agents.apply().result

    assert count == 2
    assert sorted(call.args[0] for call in delay.call_args_list) == sorted(
        str(agent.pk) for agent in due
    )


# --- one poll ------------------------------------------------------------------


def test_a_poll_records_contact_state_and_free_ram(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent(last_heard_from=None, free_ram=100)
    _answer(fake_agent, agent, [], state="running", free_ram=7777)

    result = poll_agent(agent_id=agent.pk)

    agent.refresh_from_db()
    assert agent.state == AgentState.RUNNING
    assert agent.free_ram == 7777
    assert agent.last_heard_from is not None
    assert result.state == AgentState.RUNNING
    assert result.came_back is False
    assert [r.method for r in fake_agent.received] == ["GET", "GET"]
    headers = fake_agent.received[0].headers
    assert headers["User-Agent"] == "PyFarm/1.0 (master)"
    assert headers["Accept"] == "application/json"


def test_an_offline_agent_that_answers_is_back_online(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = make_agent(state=AgentState.OFFLINE)
    _answer(fake_agent, agent, [], state="unknown")
    reasons: list[str] = []

    def receiver(reason: str, **kwargs: Any) -> None:
        reasons.append(reason)

    work_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = poll_agent(agent_id=agent.pk)
    finally:
        work_changed.disconnect(receiver)

    agent.refresh_from_db()
    assert agent.state == AgentState.ONLINE
    assert result.came_back is True
    assert reasons == ["agent back online"]


def test_a_disabled_agent_is_not_contacted(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent(state=AgentState.DISABLED)

    result = poll_agent(agent_id=agent.pk)

    assert result.skipped == "agent is disabled"
    assert fake_agent.received == []


def test_passive_and_unknown_agents_are_not_contacted(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    passive = make_agent(use_address=UseAddress.PASSIVE)

    assert poll_agent(agent_id=passive.pk).skipped == "passive agent"
    assert (
        poll_agent(agent_id="4b9a4f5e-8f0c-4a53-9d0e-7c1c1a0f0b11").skipped
        == "unknown agent"
    )
    assert fake_agent.received == []


def test_lost_tasks_are_sent_again(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    send_delay: mock.Mock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = make_agent(state=AgentState.RUNNING)
    job = JobFactory()
    kept = TaskFactory(
        job=job, agent=agent, state=WorkState.RUNNING, sent_to_agent=True, attempts=1
    )
    lost = TaskFactory(
        job=job, agent=agent, state=WorkState.RUNNING, sent_to_agent=True, attempts=1
    )
    unsent = TaskFactory(job=job, agent=agent, state=WorkState.QUEUED)
    _answer(fake_agent, agent, [kept.pk], state="running")

    with django_capture_on_commit_callbacks(execute=True):
        result = poll_agent(agent_id=agent.pk)

    assert result.resent == [lost.pk]
    assert result.stopped == []
    lost.refresh_from_db()
    assert (lost.agent_id, lost.state, lost.sent_to_agent, lost.attempts) == (
        agent.pk,
        WorkState.QUEUED,
        False,
        1,
    )
    kept.refresh_from_db()
    assert (kept.state, kept.sent_to_agent) == (WorkState.RUNNING, True)
    unsent.refresh_from_db()
    assert unsent.sent_to_agent is False
    send_delay.assert_called_once_with(str(agent.pk))


def test_nothing_is_resent_when_the_agent_runs_all_its_tasks(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    send_delay: mock.Mock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = make_agent(state=AgentState.RUNNING)
    task = TaskFactory(agent=agent, state=WorkState.RUNNING, sent_to_agent=True)
    _answer(fake_agent, agent, [task.pk], state="running")

    with django_capture_on_commit_callbacks(execute=True):
        result = poll_agent(agent_id=agent.pk)

    assert result.resent == []
    send_delay.assert_not_called()


def test_tasks_the_agent_runs_but_does_not_own_are_stopped(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], send_delay: mock.Mock
) -> None:
    agent = make_agent(state=AgentState.RUNNING)
    own = TaskFactory(agent=agent, state=WorkState.RUNNING, sent_to_agent=True)
    done = TaskFactory(agent=agent, state=WorkState.DONE, sent_to_agent=True)
    elsewhere = TaskFactory(agent=AgentFactory(), state=WorkState.RUNNING)
    requeued = TaskFactory(agent=None, state=WorkState.QUEUED)
    deleted = 987654321
    _answer(
        fake_agent,
        agent,
        [own.pk, done.pk, elsewhere.pk, requeued.pk, deleted],
        state="running",
    )

    result = poll_agent(agent_id=agent.pk)

    assert result.stopped == sorted([elsewhere.pk, requeued.pk, deleted])
    assert sorted(r.path for r in fake_agent.requests("DELETE")) == sorted(
        f"/api/v1/tasks/{pk}" for pk in (elsewhere.pk, requeued.pk, deleted)
    )
    own.refresh_from_db()
    assert own.state == WorkState.RUNNING


def test_a_poll_takes_a_constant_number_of_queries(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    send_delay: mock.Mock,
    django_assert_max_num_queries: Any,
) -> None:
    agent = make_agent(state=AgentState.RUNNING)
    job = JobFactory()
    tasks = TaskFactory.create_batch(
        40, job=job, agent=agent, state=WorkState.RUNNING, sent_to_agent=True
    )
    strangers = TaskFactory.create_batch(20, job=job, state=WorkState.QUEUED)
    _answer(fake_agent, agent, [t.pk for t in tasks[:20] + strangers], state="running")

    with django_assert_max_num_queries(8):
        result = poll_agent(agent_id=agent.pk)

    assert len(result.resent) == 20
    assert len(result.stopped) == 20


def test_an_agent_answering_with_another_id_is_given_up(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent(state=AgentState.RUNNING)
    task = TaskFactory(agent=agent, state=WorkState.RUNNING, sent_to_agent=True)
    _answer(fake_agent, agent, [task.pk], agent_id="not-this-agent")

    result = poll_agent(agent_id=agent.pk)

    assert result.gave_up is True
    agent.refresh_from_db()
    assert agent.state == AgentState.OFFLINE
    task.refresh_from_db()
    assert (task.agent_id, task.state) == (None, WorkState.QUEUED)
    assert fake_agent.requests("GET", TASKS) == []


@pytest.mark.parametrize(
    "status_answer",
    [(500, {"error": "boom"}), (200, b"<html>not json</html>"), (404, b"")],
)
def test_a_bad_status_answer_means_unavailable(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    status_answer: tuple[int, Any],
) -> None:
    agent = make_agent()
    fake_agent.route("GET", STATUS, *status_answer)

    with pytest.raises(AgentUnavailableError):
        poll_agent(agent_id=agent.pk)

    agent.refresh_from_db()
    assert agent.state == AgentState.ONLINE  # nothing changes before giving up


def test_an_unreachable_agent_raises_unavailable(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent(port=free_port())

    with pytest.raises(AgentUnavailableError):
        poll_agent(agent_id=agent.pk)


def test_the_task_gives_up_on_an_unreachable_agent_after_its_retries(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent(port=free_port(), state=AgentState.RUNNING)
    task = TaskFactory(agent=agent, state=WorkState.RUNNING, sent_to_agent=True)

    outcome = polling_tasks.poll_agent.apply(
        args=[str(agent.pk)], retries=polling_tasks.poll_agent.max_retries
    )

    assert outcome.successful()
    assert outcome.result["gave_up"] is True
    agent.refresh_from_db()
    assert agent.state == AgentState.OFFLINE
    task.refresh_from_db()
    assert (task.agent_id, task.state) == (None, WorkState.QUEUED)


def test_the_task_retries_before_giving_up(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(polling_tasks.poll_agent, "max_retries", 1)
    agent = make_agent()
    fake_agent.route("GET", STATUS, 503, {"error": "shutting down"})

    outcome = polling_tasks.poll_agent.apply(args=[str(agent.pk)])

    assert outcome.result["gave_up"] is True
    assert len(fake_agent.requests("GET", STATUS)) == 2


def test_the_task_returns_what_the_poll_did(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    _answer(fake_agent, agent, [])

    outcome = polling_tasks.poll_agent.apply(args=[str(agent.pk)])

    assert outcome.result["state"] == "online"
    assert outcome.result["gave_up"] is False


# --- restart requests ------------------------------------------------------------


def test_an_idle_agent_asked_to_restart_is_sent_restart(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent(restart_requested=True)
    _answer(fake_agent, agent, [])

    result = poll_agent(agent_id=agent.pk)

    assert result.restarted is True
    assert [r.body for r in fake_agent.requests("POST", "/api/v1/restart")] == [{}]
    agent.refresh_from_db()
    assert agent.restart_requested is False


def test_a_busy_agent_is_not_restarted_yet(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent(restart_requested=True, state=AgentState.RUNNING)
    task = TaskFactory(agent=agent, state=WorkState.RUNNING, sent_to_agent=True)
    _answer(fake_agent, agent, [task.pk], state="running")

    result = poll_agent(agent_id=agent.pk)

    assert result.restarted is False
    assert fake_agent.requests("POST") == []
    agent.refresh_from_db()
    assert agent.restart_requested is True


def test_a_refused_restart_stays_requested(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent(restart_requested=True)
    _answer(fake_agent, agent, [])
    fake_agent.route("POST", "/api/v1/restart", 500, {"error": "no"})

    assert poll_agent(agent_id=agent.pk).restarted is False
    agent.refresh_from_db()
    assert agent.restart_requested is True


def test_the_result_is_plain_data() -> None:
    result = polling.PollResult(agent_id="a", resent=[1], stopped=[2])

    assert result.as_dict() == {
        "agent_id": "a",
        "skipped": None,
        "state": None,
        "came_back": False,
        "resent": [1],
        "stopped": [2],
        "restarted": False,
        "upgrading": False,
        "gave_up": False,
    }


# --- upgrades --------------------------------------------------------------------


@pytest.fixture
def update_package(tmp_path: Any, farm_config: Callable[..., None]) -> str:
    """An uploaded update package of version 0.9.0."""
    farm_config(agent_updates_dir=str(tmp_path))
    (tmp_path / "pyfarm-agent-0.9.0.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return "0.9.0"


def test_an_idle_agent_set_to_upgrade_is_sent_update(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], update_package: str
) -> None:
    agent = make_agent(upgrade_to=update_package, restart_requested=True)
    _answer(fake_agent, agent, [])

    result = poll_agent(agent_id=agent.pk)

    assert result.upgrading is True
    assert result.restarted is False  # the upgrade restarts it anyway
    assert [r.body for r in fake_agent.requests("POST", "/api/v1/update")] == [
        {"version": "0.9.0"}
    ]


def test_no_update_is_sent_without_a_package(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    tmp_path: Any,
    farm_config: Callable[..., None],
) -> None:
    farm_config(agent_updates_dir=str(tmp_path))
    agent = make_agent(upgrade_to="0.9.0")
    _answer(fake_agent, agent, [])

    assert poll_agent(agent_id=agent.pk).upgrading is False
    assert fake_agent.requests("POST") == []


def test_an_update_web_directory_stands_for_the_package(
    fake_agent: FakeAgent,
    make_agent: Callable[..., Agent],
    farm_config: Callable[..., None],
) -> None:
    farm_config(agent_updates_webdir="http://files.example.com/agent/")
    agent = make_agent(upgrade_to="0.9.0")
    _answer(fake_agent, agent, [])

    assert poll_agent(agent_id=agent.pk).upgrading is True


def test_an_agent_on_its_target_version_is_not_upgraded(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], update_package: str
) -> None:
    agent = make_agent(upgrade_to=update_package, version=update_package)
    _answer(fake_agent, agent, [])

    assert poll_agent(agent_id=agent.pk).upgrading is False
    assert fake_agent.requests("POST") == []


def test_a_busy_agent_is_not_upgraded_yet(
    fake_agent: FakeAgent, make_agent: Callable[..., Agent], update_package: str
) -> None:
    agent = make_agent(upgrade_to=update_package, state=AgentState.RUNNING)
    task = TaskFactory(agent=agent, state=WorkState.RUNNING, sent_to_agent=True)
    _answer(fake_agent, agent, [task.pk], state="running")

    assert poll_agent(agent_id=agent.pk).upgrading is False
    assert fake_agent.requests("POST") == []


@pytest.mark.parametrize(
    ("fields", "due"),
    [
        ({"restart_requested": True}, True),
        ({"upgrade_to": "0.9.0", "version": "0.8.6"}, True),
        ({"upgrade_to": "0.8.6", "version": "0.8.6"}, False),
        ({"restart_requested": True, "last_polled": ago(seconds=5)}, False),
        ({"restart_requested": True, "state": AgentState.OFFLINE}, False),
    ],
)
def test_agents_with_a_pending_request_are_due_on_every_run(
    fields: dict[str, Any], due: bool
) -> None:
    values = {"last_heard_from": ago(minutes=1), "last_polled": ago(seconds=20)}
    agent = AgentFactory(**{**values, **fields})

    assert (agent in agents_due_for_poll(NOW)) is due
