"""The master's health: can it serve, and is its scheduler running?

Four checks, each bounded to about a second (`TIMEOUT`), the database's
connection to a few (``DATABASE_CONNECT_TIMEOUT``):

- ``database``: a ``SELECT 1`` (on PostgreSQL under a statement timeout);
- ``broker``: a connection to the broker of ``scheduler_broker``;
- ``worker``: a Celery worker answers a ping through the broker (skipped,
  and failing, when the broker is down);
- ``beat``: beat published a periodic task recently, that is within twice
  the shortest enabled interval plus `BEAT_GRACE` (beat records each publish
  in the shared cache: `record_beat_run`).

`farm_health` runs them; the ``/health/`` view answers 200 when all pass and
503 otherwise, and the admin's index shows the same. Both ask
`recent_health`, which reuses a result for `RESULT_SECONDS`, so that load
balancers polling without credentials cannot turn the checks (a worker ping
broadcast among them) into load. Results name no host, address or error
message, only what failed.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db import DatabaseError, connection, transaction

from pyfarm_site.outages import describe, is_database_outage, is_outage

logger = logging.getLogger(__name__)

#: Seconds each check waits at most for a server.
TIMEOUT = 1.0
#: Seconds beat may be late on top of twice its shortest interval.
BEAT_GRACE = 30.0
#: The cache key of beat's last publish (a UNIX time).
BEAT_KEY = "scheduling:health:beat"
#: Seconds a result is reused by ``/health/`` and the admin index.
RESULT_SECONDS = 3.0


@dataclass(frozen=True)
class Check:
    """The result of one check: passed or not, why, and a few harmless facts."""

    name: str
    ok: bool
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The check for JSON."""
        return {"ok": self.ok, "detail": self.detail, **self.facts}


@dataclass(frozen=True)
class Health:
    """The results of the checks that were asked for."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """``{"status": "ok" | "failing", "checks": {name: {...}}}``."""
        return {
            "status": "ok" if self.ok else "failing",
            "checks": {check.name: check.as_dict() for check in self.checks},
        }


def _failed(name: str, detail: str, error: BaseException) -> Check:
    # The details (hosts, ports) go to the log only, once per kind and minute.
    logger.warning("health: %s check failed: %s", name, error)
    return Check(name, False, detail)


#: The database check's query.
DATABASE_QUERY = "SELECT 1"


def check_database() -> Check:
    """The database answers a query, on PostgreSQL within `TIMEOUT`.

    The connection itself is bounded by ``connect_timeout`` (see
    ``pyfarm_site.config.parse_database_url``).
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # LOCAL: for this transaction only, not the pooled connection.
                milliseconds = int(TIMEOUT * 1000)
                cursor.execute(f"SET LOCAL statement_timeout = {milliseconds}")
            cursor.execute(DATABASE_QUERY)
            cursor.fetchone()
    except DatabaseError as error:
        detail = "unreachable" if is_database_outage(error) else "no answer"
        return _failed("database", detail, error)
    return Check("database", True, "answers")


def _celery_app() -> Any:
    from pyfarm_site.celery import app

    return app


def check_broker() -> Check:
    """A connection to the broker can be made."""
    try:
        with _celery_app().connection_for_write(connect_timeout=TIMEOUT) as conn:
            conn.ensure_connection(max_retries=0, timeout=TIMEOUT)
            conn.default_channel  # noqa: B018 -- opening a channel talks to Redis
    except Exception as error:
        if not is_outage(error):
            raise
        return _failed("broker", "unreachable", error)
    return Check("broker", True, "reachable")


def check_worker() -> Check:
    """At least one Celery worker answers a ping within `TIMEOUT`."""
    try:
        replies = _celery_app().control.ping(timeout=TIMEOUT, limit=1)
    except Exception as error:
        if not is_outage(error):
            raise
        return _failed("worker", "broker unreachable", error)
    if not replies:
        return Check("worker", False, "no worker answered", {"workers": 0})
    return Check("worker", True, "answers", {"workers": len(replies)})


def record_beat_run(now: float | None = None) -> None:
    """Beat is alive: remember when (called in beat for each publish)."""
    try:
        cache.set(BEAT_KEY, time.time() if now is None else now, timeout=None)
    except Exception as error:
        if not is_outage(error):
            raise
        logger.debug("could not record beat's run: %s", describe(error))


def shortest_interval() -> float | None:
    """Seconds of the shortest enabled periodic interval; None if none is enabled."""
    from django_celery_beat.models import PeriodicTask

    intervals = PeriodicTask.objects.filter(
        enabled=True, interval__isnull=False
    ).values_list("interval__every", "interval__period")
    seconds = [
        datetime.timedelta(**{period: every}).total_seconds()
        for every, period in intervals
    ]
    return min(seconds, default=None)


def check_beat(now: float | None = None) -> Check:
    """Beat published a periodic task within twice its shortest interval (+ grace)."""
    try:
        interval = shortest_interval()
    except DatabaseError as error:
        return _failed("beat", "unknown (database unreachable)", error)
    if interval is None:
        return Check("beat", True, "no periodic task enabled")
    try:
        last = cache.get(BEAT_KEY)
    except Exception as error:
        if not is_outage(error):
            raise
        return _failed("beat", "unknown (cache unreachable)", error)
    if last is None:
        return Check("beat", False, "has not run")
    age = max(0.0, (time.time() if now is None else now) - float(last))
    facts = {"last_run_seconds_ago": round(age)}
    if age > 2 * interval + BEAT_GRACE:
        return Check("beat", False, "late", facts)
    return Check("beat", True, "on time", facts)


#: The checks by name, in the order they run.
CHECKS: dict[str, Callable[[], Check]] = {
    "database": check_database,
    "broker": check_broker,
    "worker": check_worker,
    "beat": check_beat,
}


def farm_health(names: Iterable[str] = CHECKS) -> Health:
    """Run the named checks (all by default).

    The worker's needs the broker, and beat's the database: when that check
    failed already, they fail without waiting on the same server again.
    """
    results: list[Check] = []
    for name in names:
        broker = next((c for c in results if c.name == "broker"), None)
        database = next((c for c in results if c.name == "database"), None)
        if name == "worker" and broker is not None and not broker.ok:
            results.append(Check("worker", False, "broker unreachable"))
            continue
        if name == "beat" and database is not None and not database.ok:
            results.append(Check("beat", False, "unknown (database unreachable)"))
            continue
        results.append(CHECKS[name]())
    return Health(tuple(results))


class RecentHealth:
    """`farm_health` results, each reused for ``seconds`` (per process).

    Callers that come while the checks run wait for their result instead of
    running them again. ``clock`` is for tests.
    """

    def __init__(
        self,
        seconds: float = RESULT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._results: dict[tuple[str, ...], tuple[float, Health]] = {}

    def get(self, names: Iterable[str] = CHECKS) -> Health:
        """The named checks' result, run again when the last is too old."""
        key = tuple(names)
        with self._lock:
            found = self._results.get(key)
            if found is not None and self.clock() - found[0] < self.seconds:
                return found[1]
            result = farm_health(key)
            self._results[key] = (self.clock(), result)
            return result

    def clear(self) -> None:
        """Forget every result (tests)."""
        with self._lock:
            self._results.clear()


#: The results of this process, for ``/health/`` and the admin index.
recent_health = RecentHealth()
