"""Event-driven ticks: the farm's `work_changed` signal and its debounce."""

from __future__ import annotations

import datetime
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
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
from scheduling.debounce import PENDING_KEY, WINDOW_KEY, tick_started
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
    apply_async.assert_called_once_with()


@pytest.mark.django_db(transaction=True)
def test_a_burst_over_several_transactions_in_the_window_enqueues_one_tick(
    apply_async: mock.Mock,
) -> None:
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(4):
            with transaction.atomic():
                notify_work_changed("event")
            clock.shift(0.05)
    apply_async.assert_called_once_with()


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
    tick_started()  # what the tick does first
    notify_work_changed("second")
    assert apply_async.call_count == 2


@pytest.mark.django_db(transaction=True)
def test_an_isolated_event_ticks_at_once(apply_async: mock.Mock) -> None:
    notify_work_changed("job submitted")
    apply_async.assert_called_once_with()


@pytest.mark.django_db(transaction=True)
def test_an_event_after_the_tick_started_within_the_window_is_due_at_its_end(
    apply_async: mock.Mock,
) -> None:
    with time_machine.travel(START, tick=False) as clock:
        notify_work_changed("first")
        clock.shift(0.05)
        tick_started()
        clock.shift(0.05)
        notify_work_changed("second")
    assert apply_async.call_args_list == [mock.call(), mock.call(countdown=0.2)]


@pytest.mark.django_db(transaction=True)
def test_an_event_after_the_window_ticks_at_once(apply_async: mock.Mock) -> None:
    with time_machine.travel(START, tick=False) as clock:
        notify_work_changed("leading")
        tick_started()
        clock.shift(0.1)
        notify_work_changed("trailing")
        clock.shift(0.2)
        tick_started()  # the trailing tick, at the window's end
        clock.shift(0.05)
        notify_work_changed("after the window")
    assert apply_async.call_args_list == [
        mock.call(),
        mock.call(countdown=0.2),
        mock.call(),
    ]


@pytest.mark.django_db(transaction=True)
def test_the_window_opens_when_an_event_ticks_at_once(
    apply_async: mock.Mock,
) -> None:
    with time_machine.travel(START, tick=False):
        notify_work_changed("event")
        assert cache.get(WINDOW_KEY) == START.timestamp()


@pytest.mark.django_db(transaction=True)
def test_events_before_the_tick_starts_are_covered_by_it(
    apply_async: mock.Mock,
) -> None:
    with time_machine.travel(START, tick=False) as clock:
        notify_work_changed("first")
        clock.shift(0.9)  # past the window; the tick is late but pending
        notify_work_changed("second")
    apply_async.assert_called_once_with()


@pytest.mark.django_db(transaction=True)
def test_the_mark_of_a_tick_that_never_ran_expires(
    apply_async: mock.Mock,
) -> None:
    with time_machine.travel(START, tick=False) as clock:
        notify_work_changed("first")
        clock.shift(2.5)
        notify_work_changed("second")
    assert apply_async.call_count == 2


@pytest.mark.django_db(transaction=True)
def test_the_tick_task_clears_the_pending_mark_before_it_reads_the_farm(
    apply_async: mock.Mock,
) -> None:
    notify_work_changed("first")
    seen: list[object] = []

    def tick() -> mock.Mock:
        seen.append(cache.get(PENDING_KEY))
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
        tick_started()
        clock.shift(4)
        notify_work_changed("within the window")
    assert apply_async.call_args == mock.call(countdown=1.0)


@pytest.mark.django_db(transaction=True)
def test_no_window_ticks_each_event_at_once(
    apply_async: mock.Mock, farm_config: Callable[..., None]
) -> None:
    farm_config(assign_tasks_debounce={"seconds": 0})
    with time_machine.travel(START, tick=False):
        for _ in range(2):
            notify_work_changed("event")
            tick_started()
    assert apply_async.call_args_list == [mock.call(), mock.call()]


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
    assert cache.get(PENDING_KEY) == "after the outage"


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
    assert cache.get(PENDING_KEY) == "task done, retried"


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
    apply_async.assert_called_once_with()


@pytest.mark.django_db(transaction=True)
def test_a_cache_error_after_the_mark_was_added_leaves_no_mark(
    apply_async: mock.Mock, caplog: pytest.LogCaptureFixture
) -> None:
    with mock.patch.object(triggers.cache, "get", side_effect=TimeoutError("Timeout")):
        assert not triggers.schedule_tick("job submitted")
    apply_async.assert_not_called()
    assert cache.get(PENDING_KEY) is None
    assert "could not schedule a tick (job submitted)" in caplog.text


# --- bursts ------------------------------------------------------------------------


class _Worker:
    """Stands in for the Celery worker: starts each enqueued tick when it is due.

    Records, for each event, whether a tick that had not started yet was
    enqueued when the event's ``schedule_tick`` returned (the event is
    covered), and the ticks it started.
    """

    def __init__(self, clock: Any, pickup: float) -> None:
        self.clock = clock
        self.pickup = pickup
        self.queued: list[float] = []
        self.started: list[float] = []

    def apply_async(self, countdown: float = 0.0) -> None:
        """Enqueue a tick, picked up ``pickup`` seconds after it is due."""
        self.queued.append(self.clock.time() + countdown + self.pickup)

    def run_due(self) -> None:
        """Start the ticks due by now, as `assign_tasks` does (`tick_started`)."""
        now = self.clock.time() + 1e-6  # the clock is shifted in float steps
        for start in sorted(start for start in self.queued if start <= now):
            self.queued.remove(start)
            self.started.append(start)
            tick_started()


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_fifty_submissions_causes_a_few_ticks_and_covers_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    JobTypeVersionFactory.create(jobtype__name="Render")
    with time_machine.travel(START, tick=False) as traveller:
        worker = _Worker(time, pickup=0.02)
        monkeypatch.setattr(triggers.assign_tasks, "apply_async", worker.apply_async)
        for number in range(50):  # one every 10 ms: half a second
            worker.run_due()
            submit_job(jobtype="Render", title=f"job {number}", start=1, end=1)
            assert worker.queued, f"submission {number} is covered by no tick"
            traveller.shift(0.01)
        while worker.queued:
            traveller.shift(0.01)
            worker.run_due()
    # Picked up 20 ms after they are due: the leading tick (0 s), the
    # trailing one at the window's end (0.3 s), then those of the window the
    # next submission opened (0.32 s, 0.62 s).
    assert [round(start - START.timestamp(), 2) for start in worker.started] == [
        0.02,
        0.32,
        0.34,
        0.64,
    ]


@pytest.mark.django_db(transaction=True)
def test_fifty_submissions_at_once_cause_one_tick(apply_async: mock.Mock) -> None:
    JobTypeVersionFactory.create(jobtype__name="Render")
    with time_machine.travel(START, tick=False):
        for number in range(50):
            submit_job(jobtype="Render", title=f"job {number}", start=1, end=1)
    apply_async.assert_called_once_with()


def _events_in_a_process(ticks: Path, go: Any, count: int) -> None:
    """A master process: waits for the start, then reports ``count`` events."""

    def enqueue(countdown: float = 0.0) -> None:
        with ticks.open("a") as file:
            file.write(f"{os.getpid()} {countdown}\n")

    triggers.assign_tasks.apply_async = enqueue  # type: ignore[method-assign]
    go.wait(10)
    for _ in range(count):
        triggers.schedule_tick("event")


def test_a_burst_from_processes_sharing_the_file_cache_causes_a_few_ticks(
    settings: Any, tmp_path: Path
) -> None:
    settings.CACHES = {"default": cache_settings("filesystem://", str(tmp_path))}
    ticks = tmp_path / "ticks"
    context = multiprocessing.get_context("fork")
    go = context.Event()
    processes = [
        context.Process(target=_events_in_a_process, args=(ticks, go, 10))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    go.set()
    for process in processes:
        process.join(30)
    assert [process.exitcode for process in processes] == [0, 0, 0, 0]
    # No tick starts meanwhile: one tick, or one per process at worst, as the
    # file cache's add() is not atomic across processes.
    assert 1 <= len(ticks.read_text().splitlines()) <= len(processes)


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
    apply_async.assert_called_once_with()
