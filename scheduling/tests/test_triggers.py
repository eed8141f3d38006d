"""Event-driven ticks: the farm's `work_changed` signal and its debounce."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
import time_machine
from django.core.cache import cache
from django.db import transaction

from farm.choices import AgentState, WorkState
from farm.models import Agent, Job
from farm.services import (
    alter_frame_range,
    create_job,
    enable_agents,
    requeue_agent_tasks,
    rerun_jobs,
    rerun_tasks,
    unpause_jobs,
    update_task,
)
from farm.services.agents import AgentReport, register_agent, update_agent
from farm.services.submission import submit_job, update_job
from farm.signals import notify_work_changed, work_changed
from farm.tests.factories import (
    AgentFactory,
    JobFactory,
    JobTypeVersionFactory,
    TaskFactory,
)
from pyfarm_site.config import cache_settings
from scheduling import triggers
from scheduling.debounce import DEBOUNCE_KEY, close_window
from scheduling.tasks import planning

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
START = datetime.datetime(2026, 1, 5, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _local_cache(settings: Any) -> Iterator[None]:
    """A cache of this process only, empty for each test."""
    settings.CACHES = LOCMEM
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def timers(monkeypatch: pytest.MonkeyPatch) -> mock.Mock:
    """Retries are not started for real: the test fires them."""
    timer = mock.Mock()
    monkeypatch.setattr(triggers.threading, "Timer", timer)
    monkeypatch.setattr(triggers, "_retry_pending", False)
    return timer


def _fire(timers: mock.Mock) -> None:
    """Run the last retry the trigger asked for."""
    _, function, args = timers.call_args.args
    function(*args)


@pytest.fixture
def apply_async() -> Iterator[mock.Mock]:
    """The tick's ``apply_async``, patched where the receiver uses it."""
    with mock.patch.object(triggers.assign_tasks, "apply_async") as patched:
        yield patched


@pytest.fixture
def received(apply_async: mock.Mock) -> Iterator[mock.Mock]:
    """A receiver of `work_changed` that records what it got (no tick is sent)."""
    receiver = mock.Mock()
    work_changed.connect(receiver, dispatch_uid="test_triggers")
    yield receiver
    work_changed.disconnect(dispatch_uid="test_triggers")


# --- the debounce ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_burst_in_one_transaction_enqueues_one_tick(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(5):
            notify_work_changed(f"event {number}")
    apply_async.assert_called_once_with(countdown=0.3)


@pytest.mark.django_db(transaction=True)
def test_a_burst_over_several_transactions_in_the_window_enqueues_one_tick(
    apply_async: mock.Mock,
) -> None:
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(4):
            with transaction.atomic():
                notify_work_changed("event")
            clock.shift(0.05)
    apply_async.assert_called_once_with(countdown=0.3)


@pytest.mark.django_db(transaction=True)
def test_a_rollback_enqueues_nothing(apply_async: mock.Mock) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        notify_work_changed("event")
        raise RuntimeError
    apply_async.assert_not_called()


@pytest.mark.django_db(transaction=True)
def test_an_event_after_the_tick_started_enqueues_another_tick(
    apply_async: mock.Mock,
) -> None:
    notify_work_changed("first")
    close_window()  # what the tick does first
    notify_work_changed("second")
    assert apply_async.call_count == 2


@pytest.mark.django_db(transaction=True)
def test_events_before_the_tick_starts_are_covered_by_it(
    apply_async: mock.Mock,
) -> None:
    with time_machine.travel(START, tick=False) as clock:
        notify_work_changed("first")
        clock.shift(0.9)  # past the window; the tick is late but pending
        notify_work_changed("second")
    apply_async.assert_called_once_with(countdown=0.3)


@pytest.mark.django_db(transaction=True)
def test_a_window_whose_tick_never_ran_expires(
    apply_async: mock.Mock,
) -> None:
    with time_machine.travel(START, tick=False) as clock:
        notify_work_changed("first")
        clock.shift(2.5)
        notify_work_changed("second")
    assert apply_async.call_count == 2


@pytest.mark.django_db(transaction=True)
def test_the_tick_task_closes_the_window_before_it_reads_the_farm(
    apply_async: mock.Mock,
) -> None:
    notify_work_changed("first")
    seen: list[object] = []

    def tick() -> mock.Mock:
        seen.append(cache.get(DEBOUNCE_KEY))
        return mock.Mock(as_dict=dict)

    with mock.patch.object(planning.tick, "run_tick", side_effect=tick):
        planning.assign_tasks.apply()

    assert seen == [None]


@pytest.mark.django_db(transaction=True)
def test_the_window_comes_from_the_configuration(
    apply_async: mock.Mock, farm_config: Callable[..., None]
) -> None:
    farm_config(assign_tasks_debounce={"seconds": 5})
    with time_machine.travel(START, tick=False) as clock:
        notify_work_changed("first")
        clock.shift(4)
        notify_work_changed("within the window")
    apply_async.assert_called_once_with(countdown=5.0)


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_broker_does_not_fail_the_committed_change(
    apply_async: mock.Mock, caplog: pytest.LogCaptureFixture
) -> None:
    apply_async.side_effect = OSError("broker down")
    notify_work_changed("event")
    assert "could not schedule a tick" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_tick_that_could_not_be_sent_does_not_swallow_later_events(
    apply_async: mock.Mock,
) -> None:
    apply_async.side_effect = [OSError("broker down"), None]
    notify_work_changed("during the outage")
    notify_work_changed("after the outage")
    assert apply_async.call_count == 2
    assert cache.get(DEBOUNCE_KEY) == "after the outage"


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_broker_is_one_line_without_traceback(
    apply_async: mock.Mock, caplog: pytest.LogCaptureFixture
) -> None:
    apply_async.side_effect = ConnectionRefusedError(111, "Connection refused")
    notify_work_changed("task done")
    [record] = [r for r in caplog.records if r.name == "scheduling.triggers"]
    assert record.exc_info is None
    assert "could not schedule a tick (task done)" in record.getMessage()


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_cache_schedules_nothing(
    apply_async: mock.Mock, caplog: pytest.LogCaptureFixture
) -> None:
    with mock.patch.object(
        triggers.cache, "add", side_effect=TimeoutError("Timeout reading from socket")
    ):
        assert not triggers.schedule_tick("job submitted")
    apply_async.assert_not_called()
    assert "could not schedule a tick (job submitted)" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_tick_that_could_not_be_sent_is_tried_again_seconds_later(
    apply_async: mock.Mock, timers: mock.Mock
) -> None:
    apply_async.side_effect = [ConnectionRefusedError(111, "refused"), None]
    notify_work_changed("task done")
    assert timers.call_args.args[0] == triggers.RETRY_DELAYS[0]
    _fire(timers)
    assert apply_async.call_count == 2
    assert cache.get(DEBOUNCE_KEY) == "task done, retried"


@pytest.mark.django_db(transaction=True)
def test_one_retry_at_a_time_per_process(
    apply_async: mock.Mock, timers: mock.Mock
) -> None:
    apply_async.side_effect = ConnectionRefusedError(111, "refused")
    for _ in range(3):
        notify_work_changed("task done")
    assert timers.call_count == 1


@pytest.mark.django_db(transaction=True)
def test_retries_stop_after_the_last_delay(
    apply_async: mock.Mock, timers: mock.Mock
) -> None:
    apply_async.side_effect = ConnectionRefusedError(111, "refused")
    notify_work_changed("task done")
    for _ in triggers.RETRY_DELAYS:
        _fire(timers)
    assert apply_async.call_count == len(triggers.RETRY_DELAYS) + 1
    assert [c.args[0] for c in timers.call_args_list] == list(triggers.RETRY_DELAYS)


@pytest.mark.django_db(transaction=True)
def test_a_bug_is_not_retried(apply_async: mock.Mock, timers: mock.Mock) -> None:
    apply_async.side_effect = ValueError("a bug")
    notify_work_changed("task done")
    timers.assert_not_called()


@pytest.mark.django_db(transaction=True)
def test_the_app_connects_the_receiver(apply_async: mock.Mock) -> None:
    work_changed.send(sender=None, reason="event")
    apply_async.assert_called_once_with(countdown=0.3)


# --- the shared cache ------------------------------------------------------------


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://redis:6380/1"])
def test_a_redis_broker_shares_its_server_as_the_cache(url: str) -> None:
    config = cache_settings(url, "/srv/broker")
    assert config["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert config["LOCATION"] == url


def test_the_embedded_broker_shares_a_folder_beside_it_as_the_cache() -> None:
    config = cache_settings("filesystem://", "/srv/broker")
    assert config == {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": "/srv/broker/cache",
    }


def test_the_settings_use_the_configured_broker_for_the_cache() -> None:
    # The module, not django.conf.settings: the tests override CACHES.
    from pyfarm_site import settings

    assert settings.CACHES["default"] == cache_settings(
        settings.PYFARM["scheduler_broker"], settings.PYFARM["scheduler_broker_dir"]
    )


# --- the farm's events -----------------------------------------------------------


def _reasons(received: mock.Mock) -> list[str]:
    return [call.kwargs["reason"] for call in received.call_args_list]


@pytest.mark.django_db
def test_creating_a_job_signals(
    received: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    version = JobTypeVersionFactory.create()
    with django_capture_on_commit_callbacks(execute=True):
        create_job(jobtype_version=version, title="t", start=1, end=3)
    assert _reasons(received) == ["job submitted"]


@pytest.mark.django_db
def test_submitting_a_job_signals(
    received: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    JobTypeVersionFactory.create(jobtype__name="Render")
    with django_capture_on_commit_callbacks(execute=True):
        submit_job(jobtype="Render", title="t", start=1, end=3)
    assert _reasons(received) == ["job submitted"]


@pytest.mark.django_db
def test_changing_a_job_signals(
    received: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    job = JobFactory.create()
    with django_capture_on_commit_callbacks(execute=True):
        update_job(job=job, priority=10)
    assert _reasons(received) == ["job changed"]


@pytest.mark.django_db
def test_altering_a_frame_range_signals(
    received: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    job = JobFactory.create()
    with django_capture_on_commit_callbacks(execute=True):
        alter_frame_range(job=job, start=1, end=5, by=1)
    assert _reasons(received) == ["frame range changed"]


@pytest.mark.django_db
def test_resuming_jobs_signals(
    received: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    job = JobFactory.create(paused=True)
    with django_capture_on_commit_callbacks(execute=True):
        unpause_jobs(jobs=Job.objects.filter(pk=job.pk))
    assert _reasons(received) == ["jobs resumed"]


@pytest.mark.django_db
def test_rerunning_jobs_signals(
    received: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    task = TaskFactory.create(failed=True)
    with django_capture_on_commit_callbacks(execute=True):
        rerun_jobs(jobs=Job.objects.filter(pk=task.job_id))
    assert _reasons(received) == ["jobs rerun"]


@pytest.mark.django_db
def test_rerunning_tasks_signals(
    received: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    task = TaskFactory.create(failed=True)
    with django_capture_on_commit_callbacks(execute=True):
        rerun_tasks(tasks=type(task).objects.filter(pk=task.pk))
    assert _reasons(received) == ["tasks rerun"]


@pytest.mark.django_db
@pytest.mark.parametrize("state", [WorkState.DONE, WorkState.FAILED, WorkState.QUEUED])
def test_a_task_done_failed_or_requeued_signals(
    state: str, received: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    task = TaskFactory.create(running=True)
    with django_capture_on_commit_callbacks(execute=True):
        update_task(task=task, state=state)
    assert _reasons(received) == [f"task {state}"]


@pytest.mark.django_db
def test_a_task_that_starts_running_does_not_signal(
    received: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    task = TaskFactory.create(agent=AgentFactory.create())
    with django_capture_on_commit_callbacks(execute=True):
        update_task(task=task, state=WorkState.RUNNING)
    received.assert_not_called()


@pytest.mark.django_db
def test_a_repeated_task_report_does_not_signal_again(
    received: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    task = TaskFactory.create(done=True)
    with django_capture_on_commit_callbacks(execute=True):
        update_task(task=task, state=WorkState.DONE)
    received.assert_not_called()


@pytest.mark.django_db
def test_requeueing_a_lost_agents_tasks_signals(
    received: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    task = TaskFactory.create(running=True)
    with django_capture_on_commit_callbacks(execute=True):
        requeue_agent_tasks(agent_ids=[task.agent_id])
    assert _reasons(received) == ["agent tasks requeued"]


@pytest.mark.django_db
def test_registering_an_agent_signals(
    received: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    report = AgentReport(
        fields={
            "hostname": "render01",
            "port": 50000,
            "remote_ip": "10.0.0.5",
            "cpus": 8,
            "ram": 16384,
            "free_ram": 12000,
            "state": AgentState.ONLINE,
        }
    )
    with django_capture_on_commit_callbacks(execute=True):
        register_agent(agent_id=None, report=report)
    assert _reasons(received) == ["agent registered"]


@pytest.mark.django_db
def test_an_agent_back_online_signals(
    received: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    agent = AgentFactory.create(offline=True)
    with django_capture_on_commit_callbacks(execute=True):
        update_agent(agent=agent, report=AgentReport(fields={"state": "online"}))
    assert _reasons(received) == ["agent back online"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("before", "reported"),
    [
        (AgentState.ONLINE, AgentState.ONLINE),
        (AgentState.ONLINE, AgentState.RUNNING),
        (AgentState.DISABLED, AgentState.ONLINE),
        (AgentState.OFFLINE, AgentState.OFFLINE),
    ],
)
def test_an_agent_heartbeat_that_frees_nothing_does_not_signal(
    before: str,
    reported: str,
    received: mock.Mock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = AgentFactory.create(state=before)
    with django_capture_on_commit_callbacks(execute=True):
        update_agent(agent=agent, report=AgentReport(fields={"state": reported}))
    received.assert_not_called()


@pytest.mark.django_db
def test_enabling_agents_signals(
    received: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    agent = AgentFactory.create(disabled=True)
    with django_capture_on_commit_callbacks(execute=True):
        enable_agents(agents=Agent.objects.filter(pk=agent.pk))
    assert _reasons(received) == ["agents enabled"]


@pytest.mark.django_db
def test_enabling_no_agent_does_not_signal(
    received: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    agent = AgentFactory.create()
    with django_capture_on_commit_callbacks(execute=True):
        enable_agents(agents=Agent.objects.filter(pk=agent.pk))
    received.assert_not_called()


@pytest.mark.django_db
def test_a_farm_event_enqueues_a_tick_after_commit(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    agent = AgentFactory.create(disabled=True)
    with django_capture_on_commit_callbacks() as callbacks:
        enable_agents(agents=Agent.objects.filter(pk=agent.pk))
        apply_async.assert_not_called()
    assert len(callbacks) == 1
    callbacks[0]()
    apply_async.assert_called_once_with(countdown=0.3)
