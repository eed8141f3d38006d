"""Users and roles: expiration, roles, and who may log in."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth import authenticate
from django.utils import timezone

from accounts.tests.factories import RoleFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
PAST = timezone.now() - datetime.timedelta(days=1)
FUTURE = timezone.now() + datetime.timedelta(days=1)


def test_an_active_user_can_log_in() -> None:
    user = UserFactory()
    assert authenticate(username=user.username, password=PASSWORD) == user


def test_an_expired_user_cannot_log_in() -> None:
    user = UserFactory(expiration=PAST)
    assert user.is_expired()
    assert authenticate(username=user.username, password=PASSWORD) is None


def test_a_user_expiring_later_can_log_in() -> None:
    user = UserFactory(expiration=FUTURE)
    assert authenticate(username=user.username, password=PASSWORD) == user


@pytest.mark.parametrize(
    "role_fields",
    [{"active": False}, {"expiration": PAST}],
    ids=["disabled", "expired"],
)
def test_an_inactive_role_locks_its_users_out(role_fields: dict) -> None:
    user = UserFactory()
    user.roles.add(RoleFactory(**role_fields))
    assert not user.can_log_in()
    assert authenticate(username=user.username, password=PASSWORD) is None


def test_has_roles() -> None:
    user = UserFactory()
    user.roles.add(RoleFactory(name="render"), RoleFactory(name="lighting"))
    user.roles.add(RoleFactory(name="old", active=False))
    assert user.has_roles(allowed={"render", "comp"})
    assert not user.has_roles(allowed={"comp"})
    assert user.has_roles(required={"render", "lighting"})
    assert not user.has_roles(required={"render", "old"})


@pytest.mark.parametrize("role", ["root", "admin"])
def test_admin_roles_make_a_farm_admin(role: str) -> None:
    user = UserFactory()
    assert not user.is_farm_admin
    user.roles.add(RoleFactory(name=role))
    assert user.is_farm_admin


def test_superusers_are_farm_admins() -> None:
    assert UserFactory(admin=True).is_farm_admin


def test_usernames_may_be_long() -> None:
    user = UserFactory(username="u" * 255, email="u@example.com")
    user.full_clean()
    assert str(user) == "u" * 255
    assert str(RoleFactory(name="render")) == "render"
