"""The max_username, max_email and max_role lengths apply on every path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse

from accounts.forms import FirstAdminForm
from accounts.models import Role, User
from accounts.services import create_first_admin

pytestmark = pytest.mark.django_db

LIMITS = {"max_username_length": 8, "max_email_length": 16, "max_role_length": 6}
LONG_NAME = "a" * 9
LONG_EMAIL = "abcdefgh@example.com"  # 20 characters


@pytest.fixture(autouse=True)
def _short_limits() -> Iterator[None]:
    with override_settings(PYFARM={**settings.PYFARM, **LIMITS}):
        yield


def test_a_user_with_a_long_username_does_not_validate() -> None:
    with pytest.raises(ValidationError, match="max_username_length"):
        User(username=LONG_NAME).full_clean(exclude=["password"])


def test_a_user_with_a_long_email_does_not_validate() -> None:
    with pytest.raises(ValidationError, match="max_email_length"):
        User(username="ann", email=LONG_EMAIL).full_clean(exclude=["password"])


def test_names_within_the_limits_validate() -> None:
    User(username="a" * 8, email="ann@example.com").full_clean(exclude=["password"])
    Role(name="render").full_clean()


def test_a_long_role_name_does_not_validate() -> None:
    with pytest.raises(ValidationError, match="max_role_length"):
        Role(name="renderer").full_clean()


def test_the_setup_form_refuses_a_long_username() -> None:
    form = FirstAdminForm(
        data={
            "username": LONG_NAME,
            "email": "ann@example.com",
            "password1": "a-Long-passw0rd!",
            "password2": "a-Long-passw0rd!",
        }
    )
    assert not form.is_valid()
    assert "username" in form.errors


def test_the_setup_service_refuses_a_long_email() -> None:
    with pytest.raises(ValidationError, match="max_email_length"):
        create_first_admin(username="ann", email=LONG_EMAIL, password="x-Y-z-123456")
    assert not User.objects.exists()


def test_createsuperuser_refuses_a_long_username(monkeypatch: Any) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "x-Y-z-123456")
    with pytest.raises(CommandError, match="max_username_length"):
        call_command(
            "createsuperuser",
            interactive=False,
            username=LONG_NAME,
            email="ann@example.com",
            verbosity=0,
        )
    assert not User.objects.exists()


def test_the_admin_refuses_a_long_role_name(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:accounts_role_add"),
        {"name": "renderer", "description": "", "active": "on"},
    )
    assert response.status_code == 200  # the form again, with the error
    assert "max_role_length" in response.content.decode()
    assert not Role.objects.filter(name="renderer").exists()
