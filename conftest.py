"""Fixtures shared by every app's tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.test import Client
    from pytest_django.fixtures import SettingsWrapper

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
