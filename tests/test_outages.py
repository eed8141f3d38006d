"""Outages of the database and the broker: 503 answers and short logs."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import requests
from django.db import connections
from django.db.utils import OperationalError
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError

from pyfarm_site import outages
from pyfarm_site.outages import (
    OutageLogFilter,
    Throttle,
    install_filter,
    is_database_outage,
    is_outage,
    log_filter,
    outage_error,
)
from tests.support import errors
from tests.support.processes import free_port

JOBS = "/api/v1/jobs/"


class Clock:
    """A clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _broker_error() -> BrokerError:
    """kombu's error around a refused connection, as a publish raises it."""
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as refused:
            raise BrokerError("Error 111 connecting to 127.0.0.1:6379.") from refused
    except BrokerError as error:
        return error


def _record(
    msg: str, *args: Any, error: BaseException | None = None, name: str = "x"
) -> logging.LogRecord:
    exc_info = (type(error), error, error.__traceback__) if error else None
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, exc_info)


def _filter(interval: float = 60) -> tuple[OutageLogFilter, Clock]:
    clock = Clock()
    log_filter = OutageLogFilter(interval)
    log_filter.throttle = Throttle(interval, clock=clock)
    return log_filter, clock


@pytest.fixture(autouse=True)
def _fresh_request_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The once-a-minute log of 503s starts afresh in each test."""
    monkeypatch.setattr(outages, "_request_throttle", Throttle())


@pytest.fixture
def database_down() -> Iterator[None]:
    """Every query fails as with a stopped PostgreSQL."""
    error = errors.postgresql_refused("connection failed: Connection refused")
    connection = connections["default"]
    # Streamed lists read through chunked_cursor (a server-side cursor on
    # PostgreSQL), everything else through cursor.
    with (
        mock.patch.object(connection, "cursor", side_effect=error),
        mock.patch.object(connection, "chunked_cursor", side_effect=error),
    ):
        yield


@pytest.fixture
def table_missing() -> Iterator[None]:
    """Every query fails as with a database without the tables: a bug."""
    error = errors.sqlite_missing_table()
    connection = connections["default"]
    with (
        mock.patch.object(connection, "cursor", side_effect=error),
        mock.patch.object(connection, "chunked_cursor", side_effect=error),
    ):
        yield


# --- What an outage is -------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "refused"),
        TimeoutError("timed out"),
        RedisConnectionError("Error 111"),
        errors.postgresql_refused(),
        _broker_error(),
    ],
    ids=["refused", "timeout", "redis", "database", "broker"],
)
def test_unreachable_servers_are_outages(error: BaseException) -> None:
    assert is_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        errors.postgresql_refused(),
        errors.postgresql_error("08006"),  # connection failure
        errors.postgresql_error("08001"),  # cannot establish the connection
        errors.postgresql_error("57P01"),  # administrator shutdown
        errors.postgresql_error("57P02"),  # crash shutdown
        errors.postgresql_error("57P03"),  # cannot connect now (starting up)
        errors.sqlite_error("unable to open database file"),
        errors.sqlite_error("database is locked"),
        errors.connection_closed(),
    ],
    ids=[
        "refused",
        "08006",
        "08001",
        "57P01",
        "57P02",
        "57P03",
        "sqlite-cannot-open",
        "sqlite-locked",
        "connection-closed",
    ],
)
def test_a_database_that_cannot_be_reached_or_used_is_an_outage(
    error: BaseException,
) -> None:
    assert is_database_outage(error)
    assert is_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        errors.sqlite_missing_table(),
        errors.sqlite_error("no such column: jobs.title"),
        errors.postgresql_error("40P01"),  # deadlock detected
        errors.postgresql_error("57014"),  # statement timeout
        errors.postgresql_error("53200"),  # out of memory
        OperationalError("no driver error behind it"),
    ],
    ids=[
        "no-such-table",
        "no-such-column",
        "deadlock",
        "statement-timeout",
        "out-of-memory",
        "bare",
    ],
)
def test_other_database_errors_are_no_outage(error: BaseException) -> None:
    assert not is_database_outage(error)
    assert not is_outage(error)


@pytest.mark.parametrize(
    "error", [ValueError("bad"), KeyError("x"), FileNotFoundError("x")]
)
def test_bugs_are_not_outages(error: BaseException) -> None:
    assert not is_outage(error)


def test_an_error_caused_by_an_outage_is_one() -> None:
    try:
        try:
            raise RedisConnectionError("Error 111")
        except RedisConnectionError as cause:
            raise RuntimeError("task failed") from cause
    except RuntimeError as error:
        assert isinstance(outage_error(error), RedisConnectionError)


# --- The log filter ---------------------------------------------------------------


def test_an_outage_record_becomes_one_line_without_traceback() -> None:
    log_filter, _ = _filter()
    record = _record("could not publish", error=_broker_error())

    assert log_filter.filter(record)

    formatted = logging.Formatter().format(record)
    assert formatted == (
        "could not publish [OperationalError: Error 111 connecting to 127.0.0.1:6379.]"
    )


def test_repeats_within_the_interval_are_held_back_then_counted() -> None:
    log_filter, clock = _filter(60)
    passed = []
    for _ in range(5):
        passed.append(log_filter.filter(_record("retry", error=_broker_error())))
        clock.now += 10
    clock.now += 20  # 70 s after the first
    last = _record("retry", error=_broker_error())
    passed.append(log_filter.filter(last))

    assert passed == [True, False, False, False, False, True]
    assert last.getMessage().endswith("(4 more like this in the last 60 s)")


def test_each_kind_of_line_gets_its_own_line() -> None:
    log_filter, _ = _filter()
    first = log_filter.filter(_record("could not publish", error=_broker_error()))
    other = log_filter.filter(_record("could not tick", error=_broker_error()))
    other_logger = log_filter.filter(
        _record("could not publish", error=_broker_error(), name="y")
    )
    assert (first, other, other_logger) == (True, True, True)


def test_an_error_among_the_arguments_is_recognised() -> None:
    # Celery's "consumer: Cannot connect to %s: %s.\n%s" passes the error.
    log_filter, _ = _filter()
    error = RedisConnectionError("Error 111 connecting to 127.0.0.1:6379.")
    template = "consumer: Cannot connect to %s: %s.\n%s"
    first = _record(template, "redis://", error, "Trying again in 2.00 seconds...")
    second = _record(template, "redis://", error, "Trying again in 4.00 seconds...")

    assert log_filter.filter(first)
    assert not log_filter.filter(second)
    assert first.getMessage() == (
        "consumer: Cannot connect to redis://: Error 111 connecting to "
        "127.0.0.1:6379.. [ConnectionError]"
    )


def test_other_records_pass_unchanged() -> None:
    log_filter, _ = _filter()
    try:
        raise ValueError("a bug")
    except ValueError as error:
        records = [_record("oops", error=error) for _ in range(3)]
    assert all(log_filter.filter(record) for record in records)
    assert all(record.exc_info is not None for record in records)


def test_django_logging_puts_the_filter_on_the_console() -> None:
    handlers = logging.getLogger().handlers
    assert any(log_filter in handler.filters for handler in handlers)


def test_installing_the_filter_on_a_logger_covers_its_handlers() -> None:
    target = logging.getLogger("test_outages.celery")
    handler = logging.StreamHandler(sys.stderr)
    target.addHandler(handler)
    try:
        install_filter(target)
        install_filter(target)
        assert handler.filters == [log_filter]
    finally:
        target.removeHandler(handler)


# --- Database outages in requests -------------------------------------------------


@pytest.mark.django_db
def test_the_api_answers_503_with_retry_after_during_a_database_outage(
    api_client: Any, database_down: None
) -> None:
    response = api_client.get(JOBS)

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {"error": "database unavailable, try again shortly"}


@pytest.mark.django_db
def test_a_page_answers_a_plain_503_during_a_database_outage(
    admin_client: Any, database_down: None
) -> None:
    response = admin_client.get("/admin/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/html")
    assert b"database cannot be reached" in response.content


@pytest.mark.django_db
def test_a_database_outage_is_logged_once_without_traceback(
    api_client: Any, admin_client: Any, database_down: None, caplog: Any
) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(10):
        api_client.get(JOBS)
        admin_client.get("/admin/")

    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in errors] == [
        "database unavailable, answering 503: OperationalError: "
        "connection failed: Connection refused"
    ]
    assert all(r.exc_info is None for r in caplog.records)


def test_the_api_answers_500_with_a_logged_traceback_for_a_missing_table(
    api_client: Any, table_missing: None, caplog: Any
) -> None:
    response = api_client.get(JOBS)

    assert response.status_code == 500
    assert response.json() == {"error": "internal server error"}
    assert any(
        r.exc_info is not None and "no such table" in str(r.exc_info[1])
        for r in caplog.records
    )


@pytest.mark.django_db
def test_a_page_fails_with_500_not_503_for_a_missing_table(
    admin_client: Any, table_missing: None, caplog: Any
) -> None:
    admin_client.raise_request_exception = False

    response = admin_client.get("/admin/")

    assert response.status_code == 500
    assert any(
        r.exc_info is not None and "no such table" in str(r.exc_info[1])
        for r in caplog.records
    )


def _agent_refused() -> requests.ConnectionError:
    """A real refused request to an agent (nothing listens on the port)."""
    try:
        requests.get(f"http://127.0.0.1:{free_port()}/api/v1/status", timeout=5)
    except requests.ConnectionError as error:
        return error
    raise AssertionError("something answered on a free port")


def test_an_agent_that_cannot_be_reached_is_no_outage() -> None:
    assert not is_outage(_agent_refused())


def test_each_agent_that_cannot_be_reached_is_logged_in_full() -> None:
    """The scheduler's requests to agents are not held back as one kind:
    "agent a2 failed" is not dropped because "agent a1 failed" was logged."""
    log_filter, _ = _filter(60)
    error = _agent_refused()
    records = [
        _record("agent %s: %s failed: %s", agent, "/assign", error)
        for agent in ("a1", "a2", "a3")
    ]

    passed = [log_filter.filter(record) for record in records]

    assert passed == [True, True, True]
    assert [r.getMessage().split(":")[0] for r in records] == [
        "agent a1",
        "agent a2",
        "agent a3",
    ]


def test_a_database_bug_keeps_its_traceback_in_the_log() -> None:
    log_filter, _ = _filter()
    record = _record("task failed", error=errors.sqlite_missing_table())

    assert log_filter.filter(record)

    assert record.exc_info is not None
    assert "Traceback" in logging.Formatter().format(record)


def test_the_middleware_leaves_other_errors_to_django() -> None:
    middleware = outages.DatabaseUnavailableMiddleware(mock.Mock())
    assert middleware.process_exception(mock.Mock(), ValueError("bug")) is None
