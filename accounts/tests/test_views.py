"""Login, logout, the first-run setup page and login_disabled."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import User
from accounts.services import SetupAlreadyDone, create_first_admin
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SETUP = reverse("accounts:setup")
LOGIN = reverse("accounts:login")
LOGOUT = reverse("accounts:logout")
STRONG = "a-long enough passphrase"


def test_setup_page_is_offered_while_the_farm_has_no_user(client) -> None:
    response = client.get(SETUP)
    assert response.status_code == 200
    assert b"first admin" in response.content


def test_setup_creates_the_first_admin(client) -> None:
    response = client.post(
        SETUP,
        {
            "username": "boss",
            "email": "boss@example.com",
            "password1": STRONG,
            "password2": STRONG,
        },
    )
    assert response.status_code == 302
    assert response.url == LOGIN
    boss = User.objects.get()
    assert (boss.username, boss.is_superuser, boss.is_staff) == ("boss", True, True)
    assert boss.check_password(STRONG)


def test_setup_validates_the_form(client) -> None:
    response = client.post(
        SETUP, {"username": "boss", "password1": STRONG, "password2": "different"}
    )
    assert response.status_code == 200
    assert not User.objects.exists()


def test_setup_refuses_once_a_user_exists(client) -> None:
    UserFactory()
    assert client.get(SETUP).status_code == 403
    response = client.post(
        SETUP, {"username": "intruder", "password1": STRONG, "password2": STRONG}
    )
    assert response.status_code == 403
    assert not User.objects.filter(username="intruder").exists()


def test_first_admin_service_refuses_a_second_admin() -> None:
    create_first_admin(username="a", email="", password=STRONG)
    with pytest.raises(SetupAlreadyDone):
        create_first_admin(username="b", email="", password=STRONG)


def test_login_and_logout(client) -> None:
    user = UserFactory(admin=True)
    response = client.post(
        LOGIN, {"username": user.username, "password": "correct horse battery"}
    )
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    response = client.post(LOGOUT)
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 302


def test_login_refuses_wrong_passwords(client) -> None:
    user = UserFactory()
    response = client.post(LOGIN, {"username": user.username, "password": "nope"})
    assert response.status_code == 200
    assert b"didn't match" in response.content


def test_the_index_leads_to_the_dashboard_not_the_admin(client) -> None:
    UserFactory()
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == "/jobs/"


def test_login_disabled_acts_as_the_first_superuser(client, farm_config) -> None:
    UserFactory(admin=True, username="root")
    assert client.get(reverse("admin:index")).status_code == 302
    farm_config(login_disabled=True)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert response.wsgi_request.user.username == "root"


def test_login_disabled_without_users_leaves_the_setup_page_open(
    client, farm_config
) -> None:
    farm_config(login_disabled=True)
    assert client.get(SETUP).status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302
