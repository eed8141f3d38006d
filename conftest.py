"""Fixtures shared by every app's tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from django.test import Client
    from pytest_django.fixtures import SettingsWrapper
    from rest_framework.test import APIClient

    from accounts.models import User


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: SettingsWrapper) -> None:
    """MD5 hashing: the real hasher's cost is pointless in tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_user(db: None) -> User:
    """A superuser (overrides pytest-django's, to use our factory)."""
    from accounts.tests.factories import UserFactory

    return UserFactory.create(username="admin", admin=True)


@pytest.fixture
def admin_client(client: Client, admin_user: User) -> Client:
    """A test client logged in as the superuser."""
    client.force_login(admin_user)
    return client


@pytest.fixture
def farm_config(settings: SettingsWrapper) -> Callable[..., None]:
    """Change farm configuration keys for one test: ``farm_config(key=value)``."""

    def change(**values: object) -> None:
        settings.PYFARM = {**settings.PYFARM, **values}

    return change


# --- API clients --------------------------------------------------------------

AGENT_ADDRESS = "10.20.30.40"
OUTSIDE_ADDRESS = "203.0.113.9"
AGENT_HEADERS = {
    "HTTP_USER_AGENT": "PyFarm/1.0 (agent)",
    "HTTP_ACCEPT": "application/json",
}


@pytest.fixture
def user(db: None) -> User:
    """An ordinary (non-admin) user."""
    from accounts.tests.factories import UserFactory

    return UserFactory.create(username="artist")


@pytest.fixture
def api_client(user: User) -> APIClient:
    """An API client logged in as an ordinary user, from outside agent networks."""
    from rest_framework.test import APIClient

    client = APIClient(REMOTE_ADDR=OUTSIDE_ADDRESS)
    client.force_authenticate(user)
    return client


@pytest.fixture
def admin_api_client(admin_user: User) -> APIClient:
    """An API client logged in as a superuser, from outside agent networks."""
    from rest_framework.test import APIClient

    client = APIClient(REMOTE_ADDR=OUTSIDE_ADDRESS)
    client.force_authenticate(admin_user)
    return client


@pytest.fixture
def agent_client(db: None) -> APIClient:
    """What the real agent is: no credentials, an agent network, its headers.

    Requests default to JSON bodies (``format="json"``), as the agent sends
    ``Content-Type: application/json`` on every request, GETs included.
    """
    from rest_framework.test import APIClient

    client = APIClient(REMOTE_ADDR=AGENT_ADDRESS)
    client.defaults.update(AGENT_HEADERS)
    client.default_format = "json"
    return client


@pytest.fixture
def agent_view_client(db: None) -> APIClient:
    """`agent_client` on the site without the agents' fast path: views answer.

    Its middleware is loaded at once, so the fast path's twin tests can ask
    both clients in one test (a client keeps the middleware it loaded first).
    """
    from django.conf import settings
    from django.test import override_settings
    from rest_framework.test import APIClient

    client = APIClient(REMOTE_ADDR=AGENT_ADDRESS)
    client.defaults.update(AGENT_HEADERS)
    client.default_format = "json"
    middleware = [
        name
        for name in settings.MIDDLEWARE
        if not name.endswith(".AgentFastPathMiddleware")
    ]
    assert len(middleware) == len(settings.MIDDLEWARE) - 1
    with override_settings(MIDDLEWARE=middleware):
        client.handler.load_middleware()
    return client


@pytest.fixture
def anonymous_client(db: None) -> APIClient:
    """No credentials, from an address outside every agent network."""
    from rest_framework.test import APIClient

    return APIClient(REMOTE_ADDR=OUTSIDE_ADDRESS)


@pytest.fixture(autouse=True, scope="session")
def _in_memory_broker() -> None:
    """Messages sent by tests stay in this process.

    A test that calls ``.delay()`` without patching it must not drop messages
    into the broker folder (or Redis) of a master running on the same machine.
    """
    from pyfarm_site.celery import app

    app.conf.broker_url = "memory://"


@pytest.fixture(autouse=True)
def _no_task_events_left_over() -> Iterator[None]:
    """Task events counted by one test are never written by another.

    `farm.services.task_events` holds its counts in the process until a
    flush; a test whose commits ran (``transaction=True``) would otherwise
    leave counts of its rows, gone with its database, for the next test's
    flush to write.
    """
    from farm.services import task_events

    task_events.discard()
    yield
    task_events.discard()


@pytest.fixture(autouse=True)
def _private_cache(settings: SettingsWrapper) -> None:
    """Each test has its own, empty cache (debounce keys, shared counts).

    The configured cache is shared with a master running on the same machine.
    """
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_health() -> Iterator[None]:
    """Each test runs the health checks afresh (no result of another test)."""
    from scheduling.health import recent_health

    recent_health.clear()
    yield
    recent_health.clear()
