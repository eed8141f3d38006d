"""Fixtures of the catalog pages' tests (job groups, job types, software).

Imported by those test modules with ``from farm.web.tests.catalog_fixtures
import *`` so that they do not meet the other areas' fixtures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.test import Client

from accounts.tests.factories import RoleFactory, UserFactory

if TYPE_CHECKING:
    from accounts.models import User

__all__ = ["admin_role_client", "artist", "artist_client", "farm_admin_client"]


@pytest.fixture
def artist(db: None) -> User:
    """A plain user: reads every catalog page, changes nothing."""
    return UserFactory.create(username="artist")


@pytest.fixture
def artist_client(artist: User) -> Client:
    """A test client logged in as the plain user."""
    client = Client()
    client.force_login(artist)
    return client


@pytest.fixture
def farm_admin_client(db: None) -> Client:
    """A test client logged in as a superuser."""
    client = Client()
    client.force_login(UserFactory.create(username="boss", admin=True))
    return client


@pytest.fixture
def admin_role_client(db: None) -> Client:
    """A test client of a user who is a farm admin by the ``admin`` role only."""
    user = UserFactory.create(username="wrangler")
    user.roles.add(RoleFactory.create(name="admin"))
    client = Client()
    client.force_login(user)
    return client
