"""Fixtures shared by every app's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: pytest.FixtureRequest) -> None:
    """MD5 hashing: the real hasher's cost is pointless in tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_user(db: None):  # noqa: ANN201
    """A superuser (overrides pytest-django's, to use our factory)."""
    from accounts.tests.factories import UserFactory

    return UserFactory(username="admin", admin=True)


@pytest.fixture
def admin_client(client, admin_user):  # noqa: ANN001, ANN201
    """A test client logged in as the superuser."""
    client.force_login(admin_user)
    return client


@pytest.fixture
def farm_config(settings):  # noqa: ANN001, ANN201
    """Change farm configuration keys for one test: ``farm_config(key=value)``."""

    def change(**values: object) -> None:
        settings.PYFARM = {**settings.PYFARM, **values}

    return change
