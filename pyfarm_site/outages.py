"""When a server the master depends on is down: short answers, short logs.

The master needs its database, and its broker and cache (one Redis server,
or the embedded broker's folder). When one of them is unreachable, every
request, retry and periodic run meets the same error. This module keeps that
readable:

- `is_outage` tells an outage of the master's own servers (a connection
  refused, reset or timed out, a database that cannot be reached) from a bug
  or from an agent that cannot be reached (logged in full, agent by agent);
  for the database, only a failure to reach it or to keep a connection
  counts (`is_database_outage`): "no such table", a deadlock or a statement
  timeout are errors like any other, with their traceback;
- `DatabaseUnavailableMiddleware` and `database_unavailable` answer a
  request that met a database outage with 503 and ``Retry-After``, JSON under
  the API, a plain page elsewhere;
- `OutageLogFilter`, on the log handlers of every process (web, worker,
  beat), turns each outage record into one line without a traceback, and
  lets one line of each kind through per interval, counting the others.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.response import Response

from farm.api.paths import is_api_path

logger = logging.getLogger(__name__)
_Response = TypeVar("_Response", bound=HttpResponse)

#: Seconds a client is asked to wait (``Retry-After``) during an outage.
RETRY_AFTER_SECONDS = 5
#: The error of a request that met a database outage.
DATABASE_UNAVAILABLE = "database unavailable, try again shortly"
#: Seconds during which an outage's repeated log lines are counted, not written.
LOG_INTERVAL_SECONDS = 60.0


def _outage_classes() -> tuple[type[BaseException], ...]:
    """Errors that mean "a server is unreachable", not "the code is wrong"."""
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (
        ConnectionError,  # refused, reset, aborted, broken pipe
        TimeoutError,  # socket.timeout too
        socket.gaierror,  # a server's name that does not resolve
        BrokerError,
        RedisConnectionError,
        RedisTimeoutError,
    )


def _other_hosts_errors() -> tuple[type[BaseException], ...]:
    """Errors of HTTP requests to other hosts (the agents), whatever caused them.

    A refused connection to an agent is that agent's problem, logged in full
    for each agent, not an outage of the master's own servers.
    """
    from requests import RequestException
    from urllib3.exceptions import HTTPError

    return (RequestException, HTTPError)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, then what caused it, as a traceback would show them."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )


def outage_error(error: BaseException) -> BaseException | None:
    """The first outage error in ``error``'s chain; None if it is no outage.

    ``error`` itself when it is one (a Redis ``ConnectionError``), else the
    outage that caused it (a task that failed because a publish did). Only
    the master's own servers have outages (database, broker, cache): an HTTP
    request to an agent that failed (``requests``, ``urllib3``) is none,
    even when a refused connection caused it.
    """
    classes = _outage_classes()
    others = _other_hosts_errors()
    for link in _chain(error):
        if isinstance(link, others):
            return None  # a request to an agent failed: no server of the master
        if isinstance(link, classes):
            return link
        if isinstance(link, OperationalError | InterfaceError):
            if is_database_outage(link):
                return link
            return None  # the database answered: a bug, whatever caused it
    return None


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` means a server was unreachable."""
    return outage_error(error) is not None


#: PostgreSQL's SQLSTATEs of a server that shuts down or does not accept
#: connections yet (besides class 08, "connection exception").
POSTGRESQL_OUTAGE_STATES = frozenset({"57P01", "57P02", "57P03"})
#: SQLite's errors that mean the file cannot be used for now.
SQLITE_OUTAGE_MESSAGES = ("unable to open database file", "database is locked")


def is_database_outage(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot be reached or used for now.

    Django's ``OperationalError`` and ``InterfaceError`` carry the driver's
    error as their cause. Only connection-level failures count: no
    connection could be made or it was lost (psycopg's errors without an
    SQLSTATE, as libpq reports them), PostgreSQL's class 08 and 57P01-57P03
    (shutting down, crashed, starting up), SQLite's file that cannot be
    opened or is locked; and Django's ``InterfaceError`` of its own (a
    connection already closed). Any other error the database answered ("no
    such table", a deadlock, a statement timeout) is a bug or a load problem
    to see with its traceback, not an outage.
    """
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    cause = error.__cause__
    if cause is None:
        return isinstance(error, InterfaceError)
    return _driver_outage(cause)


def _driver_outage(cause: BaseException) -> bool:
    """Whether the driver's ``cause`` is a connection-level failure."""
    import sqlite3

    if isinstance(cause, sqlite3.Error):
        message = str(cause).lower()
        return isinstance(cause, sqlite3.OperationalError) and any(
            text in message for text in SQLITE_OUTAGE_MESSAGES
        )
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a requirement
        return False
    if isinstance(cause, psycopg.OperationalError):
        state = cause.sqlstate
        return (
            state is None or state.startswith("08") or state in POSTGRESQL_OUTAGE_STATES
        )
    return isinstance(cause, ConnectionError | TimeoutError | socket.gaierror)


def describe(error: BaseException) -> str:
    """``Kind: first line of the message``, for one log line."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


# --- Once per kind and interval ----------------------------------------------------


@dataclass
class _Seen:
    at: float
    suppressed: int = 0


class Throttle:
    """Lets one event of each kind through per interval and counts the others.

    Thread-safe; state is per process. ``clock`` is for tests.
    """

    def __init__(
        self,
        interval: float = LOG_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._seen: dict[Any, _Seen] = {}
        self._lock = threading.Lock()

    def admit(self, kind: Any) -> int | None:
        """None if ``kind`` was let through within the interval (now counted).

        Otherwise the event is let through: returns how many of its kind were
        held back since the last one let through.
        """
        now = self.clock()
        with self._lock:
            seen = self._seen.get(kind)
            if seen is not None and now - seen.at < self.interval:
                seen.suppressed += 1
                return None
            self._seen[kind] = _Seen(at=now)
            return seen.suppressed if seen is not None else 0


def _repeated(count: int, interval: float) -> str:
    if not count:
        return ""
    return f" ({count} more like this in the last {interval:.0f} s)"


class OutageLogFilter(logging.Filter):
    """One line per outage kind and interval, without a traceback.

    A record is about an outage when its exception (``exc_info``), or an
    exception among its arguments (Celery's "cannot connect" lines), is or
    was caused by an outage error (`outage_error`). Such a record is cut to
    the first line of its message plus the error; its kind (logger and
    message template) is let through once per ``interval``, and the next one
    says how many were held back. Other records pass unchanged.
    """

    def __init__(self, interval: float = LOG_INTERVAL_SECONDS) -> None:
        super().__init__()
        self.throttle = Throttle(interval)

    @staticmethod
    def _error(record: logging.LogRecord) -> BaseException | None:
        candidates: list[Any] = []
        if record.exc_info and record.exc_info[1] is not None:
            candidates.append(record.exc_info[1])
        if isinstance(record.args, tuple):
            candidates.extend(record.args)
        for candidate in candidates:
            if isinstance(candidate, BaseException):
                outage = outage_error(candidate)
                if outage is not None:
                    return outage
        return None

    def filter(self, record: logging.LogRecord) -> bool:
        """Condense an outage record, or hold it back; pass any other."""
        if getattr(record, "outage_condensed", False):
            return True  # another handler of this process let it through
        error = self._error(record)
        if error is None:
            return True
        repeated = self.throttle.admit((record.name, str(record.msg)))
        if repeated is None:
            return False
        message = record.getMessage().strip().splitlines()
        first = message[0] if message else ""
        detail = describe(error)
        if detail.partition(": ")[2] and detail.partition(": ")[2] in first:
            detail = type(error).__name__
        record.msg = f"{first} [{detail}]{_repeated(repeated, self.throttle.interval)}"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        record.outage_condensed = True
        return True


#: The filter of this process, shared by all its handlers (see `install_filter`).
log_filter = OutageLogFilter()


def install_filter(target: logging.Logger) -> None:
    """Put the process's `log_filter` on every handler of ``target``.

    For handlers that Django's ``LOGGING`` did not create (Celery's, in the
    worker and beat).
    """
    for handler in target.handlers:
        if log_filter not in handler.filters:
            handler.addFilter(log_filter)


def shared_log_filter() -> OutageLogFilter:
    """The process's filter, for ``LOGGING`` (``"()"`` factory)."""
    return log_filter


# --- Database outages in requests ----------------------------------------------------

#: Requests answered 503, once per kind and interval in the log.
_request_throttle = Throttle()


def report_database_outage(error: BaseException) -> None:
    """Log one line per kind of database error and interval (no traceback)."""
    repeated = _request_throttle.admit(("database", type(error)))
    if repeated is not None:
        logger.warning(
            "database unavailable, answering 503: %s%s",
            describe(error),
            _repeated(repeated, _request_throttle.interval),
        )


def mark_logged(response: _Response) -> _Response:
    """Keep Django from logging the 503 again, once per request."""
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def database_unavailable(request: HttpRequest, error: BaseException) -> HttpResponse:
    """503 with ``Retry-After``: JSON under the API, a plain page elsewhere."""
    report_database_outage(error)
    if is_api_path(request.path):
        response: HttpResponse = JsonResponse(
            {"error": DATABASE_UNAVAILABLE}, status=503
        )
    else:
        response = HttpResponse(
            "<!doctype html><title>Service unavailable</title>"
            "<h1>Service unavailable</h1>"
            "<p>The farm's database cannot be reached. Try again shortly.</p>",
            status=503,
            content_type="text/html; charset=utf-8",
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return mark_logged(response)


def database_unavailable_api(error: BaseException) -> Response:
    """The API's 503 for a database outage (its exception handler's answer)."""
    report_database_outage(error)
    response = Response(
        {"error": DATABASE_UNAVAILABLE},
        status=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
    return mark_logged(response)


class DatabaseUnavailableMiddleware:
    """A view (or its template) that met a database outage answers 503.

    The API's own errors go through its exception handler
    (`farm.api.exceptions`), which answers the same way.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponse | None:
        """503 for a database outage; anything else goes on to Django."""
        if is_database_outage(exception):
            return database_unavailable(request, exception)
        return None
