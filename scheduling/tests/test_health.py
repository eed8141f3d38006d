"""The master's health: the checks, ``/health/`` and the admin's index."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connections
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from kombu import Connection

from scheduling import health
from scheduling.health import (
    BEAT_KEY,
    RESULT_SECONDS,
    Check,
    check_beat,
    check_broker,
    check_database,
    check_worker,
    farm_health,
    record_beat_run,
)
from tests.support import errors
from tests.support.processes import free_port

URL = "/health/"
LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.fixture(autouse=True)
def _local_cache(settings: Any) -> Iterator[None]:
    """A cache of this process only, empty for each test."""
    settings.CACHES = LOCMEM
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def checks() -> Iterator[Callable[..., dict[str, mock.Mock]]]:
    """Replace the checks: ``checks(broker=False)`` makes the broker's fail."""
    with mock.patch.dict(health.CHECKS) as patched:

        def replace(**results: bool) -> dict[str, mock.Mock]:
            mocks = {}
            for name in list(patched):
                ok = results.get(name, True)
                mocks[name] = mock.Mock(
                    return_value=Check(name, ok, "fine" if ok else "unreachable")
                )
                patched[name] = mocks[name]
            return mocks

        yield replace


def _refused_broker() -> Any:
    """A Celery app whose broker is a Redis port where nothing listens."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    app = mock.Mock()
    app.connection_for_write.side_effect = lambda **kwargs: Connection(url, **kwargs)
    return app


def _interval(seconds: int, enabled: bool = True) -> None:
    every, _ = IntervalSchedule.objects.get_or_create(
        every=seconds, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.create(
        name=f"every {seconds}",
        task="scheduling.poll_agents",
        interval=every,
        enabled=enabled,
    )


# --- The checks ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_check_passes_when_it_answers() -> None:
    assert check_database().ok


@pytest.mark.django_db
def test_the_database_check_fails_when_it_does_not() -> None:
    error = errors.postgresql_refused()
    with mock.patch.object(connections["default"], "cursor", side_effect=error):
        result = check_database()
    assert (result.ok, result.detail) == (False, "unreachable")


def test_the_broker_check_passes_when_it_connects() -> None:
    assert check_broker().ok  # the tests' in-memory broker


def test_the_broker_check_fails_fast_when_nothing_listens() -> None:
    started = time.monotonic()
    with mock.patch.object(health, "_celery_app", _refused_broker):
        result = check_broker()
    assert (result.ok, result.detail) == (False, "unreachable")
    assert time.monotonic() - started < 2


def test_the_worker_check_passes_when_a_worker_answers() -> None:
    app = mock.Mock()
    app.control.ping.return_value = [{"celery@render": {"ok": "pong"}}]
    with mock.patch.object(health, "_celery_app", return_value=app):
        result = check_worker()
    assert (result.ok, result.facts) == (True, {"workers": 1})
    app.control.ping.assert_called_once_with(timeout=health.TIMEOUT, limit=1)


def test_the_worker_check_fails_when_none_answers() -> None:
    app = mock.Mock()
    app.control.ping.return_value = []
    with mock.patch.object(health, "_celery_app", return_value=app):
        result = check_worker()
    assert (result.ok, result.detail) == (False, "no worker answered")


def test_the_worker_is_not_pinged_when_the_broker_is_down(
    checks: Callable[..., dict[str, mock.Mock]],
) -> None:
    mocks = checks(broker=False)
    result = farm_health(["broker", "worker"])
    mocks["worker"].assert_not_called()
    assert [(c.name, c.ok) for c in result.checks] == [
        ("broker", False),
        ("worker", False),
    ]


@pytest.mark.django_db
def test_beat_is_on_time_within_twice_its_shortest_interval() -> None:
    _interval(30)
    _interval(10, enabled=False)
    record_beat_run(now=1000.0)
    result = check_beat(now=1000.0 + 2 * 30 + health.BEAT_GRACE - 1)
    assert (result.ok, result.detail) == (True, "on time")
    assert result.facts == {"last_run_seconds_ago": 89}


@pytest.mark.django_db
def test_beat_is_late_after_twice_its_shortest_interval() -> None:
    _interval(30)
    record_beat_run(now=1000.0)
    result = check_beat(now=1000.0 + 2 * 30 + health.BEAT_GRACE + 1)
    assert (result.ok, result.detail) == (False, "late")


@pytest.mark.django_db
def test_beat_that_never_ran_fails() -> None:
    _interval(30)
    assert check_beat().detail == "has not run"
    assert cache.get(BEAT_KEY) is None


@pytest.mark.django_db
def test_beat_without_periodic_tasks_passes() -> None:
    _interval(30, enabled=False)
    assert check_beat().ok


@pytest.mark.django_db
def test_beat_is_not_asked_when_the_database_failed(
    checks: Callable[..., dict[str, mock.Mock]],
) -> None:
    mocks = checks(database=False)
    result = farm_health(["database", "beat"])
    assert result.as_dict()["checks"]["beat"] == {
        "ok": False,
        "detail": "unknown (database unreachable)",
    }
    mocks["beat"].assert_not_called()


@pytest.mark.skipif(
    connections["default"].vendor != "postgresql",
    reason="statement_timeout is PostgreSQL's",
)
@pytest.mark.django_db
def test_a_database_that_does_not_answer_in_time_fails_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(health, "DATABASE_QUERY", "SELECT pg_sleep(3)")
    result = check_database()
    assert (result.ok, result.detail) == (False, "no answer")


@pytest.mark.skipif(
    connections["default"].vendor != "postgresql",
    reason="statement_timeout is PostgreSQL's",
)
@pytest.mark.django_db(transaction=True)
def test_the_statement_timeout_ends_with_the_check() -> None:
    check_database()
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("0",)


# --- /health/ ---------------------------------------------------------------------


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.django_db
def test_polls_within_a_few_seconds_share_one_run_of_the_checks(
    client: Any,
    checks: Callable[..., dict[str, mock.Mock]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Load balancers polling without credentials cannot turn the checks
    (a worker ping broadcast among them) into load."""
    mocks = checks()
    clock = Clock()
    monkeypatch.setattr(health.recent_health, "clock", clock)
    for _ in range(5):
        assert client.get(URL).status_code == 200
        clock.now += RESULT_SECONDS / 5 - 0.01
    assert mocks["worker"].call_count == 1

    clock.now += 0.1
    client.get(URL)
    assert mocks["worker"].call_count == 2


@pytest.mark.django_db
def test_other_checks_asked_for_are_run_not_reused(
    client: Any, checks: Callable[..., dict[str, mock.Mock]]
) -> None:
    mocks = checks()
    client.get(URL, {"check": "database"})
    response = client.get(URL)
    assert set(response.json()["checks"]) == {"database", "broker", "worker", "beat"}
    assert mocks["database"].call_count == 2


@pytest.mark.django_db
def test_health_answers_200_when_every_check_passes(
    client: Any, checks: Callable[..., dict[str, mock.Mock]]
) -> None:
    checks()
    response = client.get(URL)
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    assert response.json() == {
        "status": "ok",
        "checks": {
            name: {"ok": True, "detail": "fine"}
            for name in ("database", "broker", "worker", "beat")
        },
    }


@pytest.mark.django_db
def test_health_answers_503_when_a_check_fails(
    client: Any, checks: Callable[..., dict[str, mock.Mock]]
) -> None:
    checks(worker=False)
    response = client.get(URL)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["checks"]["worker"] == {"ok": False, "detail": "unreachable"}


@pytest.mark.django_db
def test_health_runs_only_the_checks_asked_for(
    client: Any, checks: Callable[..., dict[str, mock.Mock]]
) -> None:
    mocks = checks(worker=False)
    response = client.get(URL, {"check": ["database", "broker"]})
    assert response.status_code == 200
    assert set(response.json()["checks"]) == {"database", "broker"}
    mocks["worker"].assert_not_called()


@pytest.mark.django_db
def test_an_unknown_check_is_a_400(client: Any) -> None:
    response = client.get(URL, {"check": "disk"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "unknown check: disk (known: database, broker, worker, beat)"
    }


@pytest.mark.django_db
def test_health_reads_only(client: Any) -> None:
    assert client.post(URL).status_code == 405


@pytest.mark.django_db
def test_health_names_no_host_or_error_of_a_server_it_cannot_reach(
    client: Any,
) -> None:
    with mock.patch.object(health, "_celery_app", _refused_broker):
        response = client.get(URL, {"check": ["database", "broker", "worker"]})
    assert response.status_code == 503
    assert response.json() == {
        "status": "failing",
        "checks": {
            "database": {"ok": True, "detail": "answers"},
            "broker": {"ok": False, "detail": "unreachable"},
            "worker": {"ok": False, "detail": "broker unreachable"},
        },
    }


# --- The admin's index -------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_index_shows_the_health(
    admin_client: Any, checks: Callable[..., dict[str, mock.Mock]]
) -> None:
    checks(beat=False)
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Health: failing" in page
    assert 'class="health-beat"' in page
    assert "unreachable" in page


@pytest.mark.django_db
def test_the_admin_index_reuses_a_recent_health(
    admin_client: Any, checks: Callable[..., dict[str, mock.Mock]]
) -> None:
    mocks = checks()
    for _ in range(3):
        assert admin_client.get("/admin/").status_code == 200
    assert mocks["worker"].call_count == 1
