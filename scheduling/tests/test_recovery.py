"""The scheduler resumes by itself after an outage (`scheduling.recovery`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from celery import signals
from django.core.cache import cache
from kombu import Queue
from kombu.exceptions import OperationalError as BrokerError

from farm.choices import AgentState, WorkState
from farm.tests.factories import AgentFactory, TaskFactory
from pyfarm_site.celery import app
from pyfarm_site.outages import log_filter
from scheduling import recovery
from scheduling.health import BEAT_KEY
from scheduling.recovery import (
    RESUME_PENDING_KEY,
    Consumer,
    ResumeOnConnect,
    agents_with_unsent_tasks,
)
from scheduling.tasks import planning
from tests.support import errors

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.fixture(autouse=True)
def _local_cache(settings: Any) -> Iterator[None]:
    """A cache of this process only, empty for each test."""
    settings.CACHES = LOCMEM
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def resume_async() -> Iterator[mock.Mock]:
    """``resume_scheduling.apply_async``, patched."""
    with mock.patch.object(planning.resume_scheduling, "apply_async") as patched:
        yield patched


@pytest.fixture
def sends() -> Iterator[mock.Mock]:
    """``send_assignment.delay``, patched where the resume uses it."""
    from scheduling.tasks import sending

    with mock.patch.object(sending.send_assignment, "delay") as patched:
        yield patched


@pytest.fixture
def ticks() -> Iterator[mock.Mock]:
    """The tick, patched: the resume's own work is what these tests look at."""
    tick = mock.Mock()
    tick.return_value.as_dict.return_value = {"applied": 0}
    with mock.patch.object(planning.tick, "run_tick", tick):
        yield tick


def _consumer(*queues: str) -> mock.Mock:
    """A started consumer that consumes ``queues``."""
    parent = mock.Mock(app=app)
    parent.task_consumer.queues = [Queue(name) for name in queues]
    return parent


def _unsent_task(**agent: Any) -> Any:
    """A task a tick assigned to an agent but could not send."""
    return TaskFactory.create(agent=AgentFactory.create(**agent), sent_to_agent=False)


# --- Reconnecting ----------------------------------------------------------------


def test_the_worker_uses_the_consumer_that_reconnects_quickly() -> None:
    assert app.conf.worker_consumer == "scheduling.recovery:Consumer"


def test_the_worker_retries_a_lost_broker_every_one_to_three_seconds_forever() -> None:
    consumer = Consumer.__new__(Consumer)
    consumer.app = app
    consumer.first_connection_attempt = False
    consumer.broker_connection_retry_attempt = 0
    conn = mock.Mock()
    ensure_connection = conn.ensure_connection

    consumer.ensure_connected(conn)

    (_, max_retries), options = ensure_connection.call_args
    assert max_retries is None  # never gives up
    assert options["interval_start"] == 1
    assert options["interval_step"] == 1
    assert options["interval_max"] == 3


def test_the_resume_step_is_part_of_the_worker() -> None:
    assert ResumeOnConnect in app.steps["consumer"]


def test_a_consumer_that_starts_queues_a_resume(resume_async: mock.Mock) -> None:
    parent = _consumer("celery")
    ResumeOnConnect(parent).start(parent)
    resume_async.assert_called_once_with()


def test_a_worker_of_other_queues_does_not_resume(resume_async: mock.Mock) -> None:
    parent = _consumer("pyfarm-test-queue")
    ResumeOnConnect(parent).start(parent)
    resume_async.assert_not_called()


def test_a_broker_gone_again_before_the_resume_is_only_logged(
    resume_async: mock.Mock, caplog: pytest.LogCaptureFixture
) -> None:
    resume_async.side_effect = BrokerError("Error 111 connecting")
    parent = _consumer("celery")
    ResumeOnConnect(parent).start(parent)
    assert "could not queue the resume" in caplog.text


# --- The resume ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_resume_sends_the_assignments_whose_sending_was_lost(
    sends: mock.Mock, ticks: mock.Mock
) -> None:
    lost = _unsent_task()
    TaskFactory.create(agent=AgentFactory.create(), sent_to_agent=True)
    TaskFactory.create(running=True)

    result = planning.resume_scheduling()

    sends.assert_called_once_with(str(lost.agent_id))
    assert result["resent_to"] == [str(lost.agent_id)]


@pytest.mark.django_db
def test_a_resume_ticks(sends: mock.Mock, ticks: mock.Mock) -> None:
    result = planning.resume_scheduling()
    ticks.assert_called_once_with()
    assert result == {"resent_to": [], "applied": 0}


@pytest.mark.django_db
def test_only_one_of_several_resumes_resends(
    sends: mock.Mock, ticks: mock.Mock
) -> None:
    _unsent_task()
    planning.resume_scheduling()
    planning.resume_scheduling()
    assert sends.call_count == 1
    assert ticks.call_count == 2


@pytest.mark.django_db
def test_agents_with_unsent_tasks_are_found_in_one_query(
    django_assert_num_queries: Any,
) -> None:
    expected = {str(_unsent_task().agent_id) for _ in range(3)}
    _unsent_task(state=AgentState.OFFLINE)  # sent when it comes back
    TaskFactory.create(agent=AgentFactory.create(), state=WorkState.DONE)
    with django_assert_num_queries(1):
        found = agents_with_unsent_tasks()
    assert set(found) == expected


# --- Failures for an outage --------------------------------------------------------


def test_a_scheduler_task_failed_for_an_outage_schedules_one_resume(
    resume_async: mock.Mock,
) -> None:
    for _ in range(3):
        signals.task_failure.send(
            sender=planning.assign_tasks, exception=errors.postgresql_refused()
        )
    resume_async.assert_called_once_with(countdown=recovery.RESUME_DELAY)


def test_a_resume_that_starts_lets_the_next_failure_schedule_another(
    resume_async: mock.Mock,
) -> None:
    failure = BrokerError("Error 111 connecting")
    signals.task_failure.send(sender=planning.assign_tasks, exception=failure)
    recovery.resume_started()
    signals.task_failure.send(sender=planning.resume_scheduling, exception=failure)
    assert resume_async.call_count == 2


def test_other_failures_schedule_no_resume(resume_async: mock.Mock) -> None:
    signals.task_failure.send(
        sender=planning.assign_tasks, exception=ValueError("a bug")
    )
    other = mock.Mock()
    other.name = "other.task"
    signals.task_failure.send(sender=other, exception=errors.postgresql_refused())
    resume_async.assert_not_called()


def test_a_resume_that_cannot_be_queued_is_logged(
    resume_async: mock.Mock, caplog: pytest.LogCaptureFixture
) -> None:
    resume_async.side_effect = BrokerError("Error 111 connecting")
    signals.task_failure.send(
        sender=planning.assign_tasks, exception=errors.postgresql_refused()
    )
    assert "could not schedule a resume" in caplog.text
    assert cache.get(RESUME_PENDING_KEY) is not None  # tried again in 5 s at most


# --- Logging and beat --------------------------------------------------------------


def test_celerys_log_handlers_get_the_outage_filter() -> None:
    target = logging.getLogger("test_recovery.celery")
    handler = logging.NullHandler()
    target.addHandler(handler)
    try:
        signals.after_setup_logger.send(sender=None, logger=target, loglevel=20)
        assert log_filter in handler.filters
    finally:
        target.removeHandler(handler)


def test_celerys_warning_about_a_setting_we_set_is_dropped() -> None:
    warnings = logging.getLogger("py.warnings")
    record = logging.LogRecord(
        "py.warnings",
        logging.WARNING,
        __file__,
        1,
        "%s",
        ("use the worker_cancel_long_running_tasks_on_connection_loss setting",),
        None,
    )
    other = logging.LogRecord(
        "py.warnings", logging.WARNING, __file__, 1, "%s", ("other",), None
    )
    assert not warnings.filter(record)
    assert warnings.filter(other)


def test_beat_records_its_start_and_each_publish() -> None:
    try:
        signals.beat_init.send(sender=None)
        started = cache.get(BEAT_KEY)
        time.sleep(0.01)
        signals.after_task_publish.send(sender="scheduling.poll_agents")
        assert cache.get(BEAT_KEY) > started
    finally:
        signals.after_task_publish.disconnect(dispatch_uid="scheduling.beat_run")
