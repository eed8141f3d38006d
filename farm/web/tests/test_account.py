"""The account page: API tokens, notification defaults, password change."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import ApiToken, User
from accounts.services import create_token
from accounts.tests.factories import RoleFactory, UserFactory
from farm.models import JobNotifiedUser
from farm.tests.factories import JobFactory

if TYPE_CHECKING:
    from django.test import Client
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

PAGE = reverse("web:account")
CREATE = reverse("web:account_token_create")
NOTIFICATIONS = reverse("web:account_notifications")
PASSWORD = reverse("web:account_password")


def _revoke_url(token: ApiToken) -> str:
    return reverse("web:account_token_revoke", args=[token.pk])


def _messages(response: Response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def owner(client: Client) -> User:
    user = UserFactory.create(username="artist", email="artist@example.com")
    client.force_login(user)
    return user


# --- the page ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url", [PAGE, CREATE, NOTIFICATIONS, PASSWORD, "/account/tokens/1/revoke/"]
)
def test_anonymous_visitors_are_sent_to_log_in(client: Client, url: str) -> None:
    UserFactory.create()
    response = client.post(url) if url not in (PAGE, PASSWORD) else client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('accounts:login')}?next=")


def test_page_shows_email_roles_and_password_link(client: Client, owner: User) -> None:
    owner.roles.add(RoleFactory.create(name="lighting"))
    response = client.get(PAGE)
    assert response.status_code == 200
    content = response.content.decode()
    assert "artist@example.com" in content
    assert '<span class="tag">lighting</span>' in content
    assert f'href="{PASSWORD}"' in content


def test_page_lists_only_the_users_own_tokens(client: Client, owner: User) -> None:
    create_token(user=owner, name="my script")
    create_token(user=UserFactory.create(), name="their script")
    response = client.get(PAGE)
    assert [token.name for token in response.context["tokens"]] == ["my script"]
    assert "their script" not in response.content.decode()


def test_page_queries_do_not_grow_with_tokens_and_jobs(
    client: Client, owner: User
) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(PAGE).status_code == 200
        return len(queries)

    create_token(user=owner, name="one")
    JobNotifiedUser.objects.create(job=JobFactory.create(), user=owner)
    few = count()
    for n in range(5):
        create_token(user=owner, name=f"more {n}")
        JobNotifiedUser.objects.create(job=JobFactory.create(), user=owner)
    assert count() == few


def test_page_query_count_is_pinned(
    client: Client, owner: User, django_assert_num_queries: object
) -> None:
    """Session, user, roles (the login check), roles, tokens, subscriptions'
    count and page."""
    create_token(user=owner, name="one")
    JobNotifiedUser.objects.create(job=JobFactory.create(), user=owner)
    with django_assert_num_queries(7):  # type: ignore[operator]
        client.get(PAGE)


# --- tokens ------------------------------------------------------------------


def test_creating_a_token_shows_its_key_once(client: Client, owner: User) -> None:
    response = client.post(CREATE, {"name": "render script"}, follow=True)
    key = response.context["new_key"]["key"]
    token = ApiToken.objects.get(user=owner)
    assert token.name == "render script"
    assert key in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    again = client.get(PAGE)
    assert key not in again.content.decode()
    assert token.prefix in again.content.decode()


def test_the_key_shown_works_against_the_api(client: Client, owner: User) -> None:
    response = client.post(CREATE, {"name": "render script"}, follow=True)
    key = response.context["new_key"]["key"]
    client.logout()
    answer = client.get(
        "/api/v1/jobs/", HTTP_AUTHORIZATION=f"Token {key}", REMOTE_ADDR="203.0.113.9"
    )
    assert answer.status_code == 200


def test_a_token_needs_a_name(client: Client, owner: User) -> None:
    response = client.post(CREATE, {"name": ""})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_the_owner_revokes_a_token(client: Client, owner: User) -> None:
    token, _ = create_token(user=owner, name="old")
    response = client.post(_revoke_url(token))
    assert response.status_code == 302
    assert not ApiToken.objects.exists()
    assert _messages(response) == ["The token was revoked: its key no longer works."]


def test_revoking_another_users_token_changes_nothing(
    client: Client, owner: User
) -> None:
    token, _ = create_token(user=UserFactory.create(), name="theirs")
    response = client.post(_revoke_url(token))
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert _messages(response) == ["No such token of yours: nothing was revoked."]


def test_a_farm_admin_cannot_revoke_others_tokens_here(client: Client) -> None:
    """The page is about one's own account; admins revoke in the admin."""
    token, _ = create_token(user=UserFactory.create(), name="theirs")
    client.force_login(UserFactory.create(admin=True))
    client.post(_revoke_url(token))
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_revoking_by_get_changes_nothing(client: Client, owner: User) -> None:
    token, _ = create_token(user=owner, name="mine")
    assert client.get(_revoke_url(token)).status_code == 405
    assert ApiToken.objects.filter(pk=token.pk).exists()


# --- notification defaults ---------------------------------------------------


def test_the_user_saves_notification_defaults(client: Client, owner: User) -> None:
    response = client.post(NOTIFICATIONS, {"on_failure": "on", "on_deletion": "on"})
    assert response.status_code == 302
    owner.refresh_from_db()
    assert (
        owner.notify_on_success,
        owner.notify_on_failure,
        owner.notify_on_deletion,
    ) == (False, True, True)


def test_the_form_shows_the_stored_defaults(client: Client, owner: User) -> None:
    owner.notify_on_deletion = True
    owner.save()
    form = client.get(PAGE).context["notifications_form"]
    assert form.initial == {"on_success": True, "on_failure": True, "on_deletion": True}


def test_notified_jobs_are_listed_with_links(client: Client, owner: User) -> None:
    job = JobFactory.create(title="shot 020 comp")
    JobNotifiedUser.objects.create(job=job, user=owner)
    JobNotifiedUser.objects.create(
        job=JobFactory.create(title="not mine"), user=UserFactory.create()
    )
    content = client.get(PAGE).content.decode()
    assert f'<a href="{reverse("web:job", args=[job.pk])}">shot 020 comp</a>' in content
    assert "not mine" not in content


# --- password ----------------------------------------------------------------


def test_password_page_renders_in_the_dashboard(client: Client, owner: User) -> None:
    response = client.get(PASSWORD)
    assert response.status_code == 200
    assert "web/account/password_change.html" in [t.name for t in response.templates]


def test_changing_the_password_leads_back_to_the_account(
    client: Client, owner: User
) -> None:
    response = client.post(
        PASSWORD,
        {
            "old_password": "correct horse battery",
            "new_password1": "a new stable horse 42",
            "new_password2": "a new stable horse 42",
        },
    )
    assert response["Location"] == PAGE
    owner.refresh_from_db()
    assert owner.check_password("a new stable horse 42")
    assert client.get(PAGE).status_code == 200


def test_no_token_is_created_while_logins_are_disabled(
    client: Client, farm_config: Any
) -> None:
    """login_disabled lets anyone act as the first admin: no lasting key for them."""
    UserFactory.create(username="root", admin=True)
    farm_config(login_disabled=True)
    page = client.get(reverse("web:account"))
    assert b'id="new-token"' not in page.content
    assert b"API tokens need a real login" in page.content
    response = client.post(reverse("web:account_token_create"), {"name": "ci"})
    assert response.status_code == 302
    assert not ApiToken.objects.exists()


def test_a_logged_in_admin_creates_tokens_while_logins_are_disabled(
    client: Client, farm_config: Any
) -> None:
    """A real session still may: the mode only stands in for missing logins."""
    admin = UserFactory.create(username="root", admin=True)
    farm_config(login_disabled=True)
    client.force_login(admin)
    client.post(reverse("web:account_token_create"), {"name": "ci"})
    assert ApiToken.objects.filter(user=admin).count() == 1
