"""The site's root, logging out by GET, and the shared template tags."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from django.template import Context, Template

from accounts.tests.factories import UserFactory
from farm.templatetags.dashboard import duration, progress

if TYPE_CHECKING:
    from django.test import Client

pytestmark = pytest.mark.django_db


def test_root_sends_the_first_visitor_to_setup(client: Client) -> None:
    """Before any user exists, ``/`` leads to the first-run setup page."""
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/setup/"


def test_root_sends_an_anonymous_visitor_to_log_in(client: Client) -> None:
    """With users, an anonymous visitor goes to the jobs list's login."""
    UserFactory.create()
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/login/?next=/jobs/"


def test_root_is_the_jobs_list_after_login(client: Client) -> None:
    """A logged-in user (staff or not) lands on the jobs list, not the admin."""
    client.force_login(UserFactory.create())
    response = client.get("/")
    assert response["Location"] == "/jobs/"


def test_login_redirects_to_the_jobs_list(client: Client) -> None:
    """Logging in without ``next`` lands on the jobs list."""
    UserFactory.create(username="artist")
    response = client.post(
        "/login/", {"username": "artist", "password": "correct horse battery"}
    )
    assert response["Location"] == "/jobs/"


def test_logout_by_get_asks_to_confirm(client: Client) -> None:
    """``GET /logout/`` shows a page with the button, not a blank 405."""
    client.force_login(UserFactory.create())
    response = client.get("/logout/")
    assert response.status_code == 200
    assert b'action="/logout/"' in response.content
    assert "_auth_user_id" in client.session


def test_logout_by_get_when_anonymous_leads_to_login(client: Client) -> None:
    """Nobody to log out: the login page."""
    response = client.get("/logout/")
    assert response["Location"] == "/login/"


def test_logout_by_post_logs_out(client: Client) -> None:
    """The button logs the user out."""
    client.force_login(UserFactory.create())
    client.post("/logout/")
    assert "_auth_user_id" not in client.session


def test_progress_segments_add_up_to_the_whole() -> None:
    """Percentages per state, in the order done, failed, running, queued."""
    bar = progress(done=2, failed=1, running=1, queued=0)
    assert [(s["name"], s["percent"]) for s in bar["segments"]] == [
        ("done", 50.0),
        ("failed", 25.0),
        ("running", 25.0),
    ]
    assert bar["title"] == "2 done, 1 failed, 1 running, 0 queued"


def test_progress_of_nothing_has_no_segments() -> None:
    """A job without tasks draws an empty bar, without dividing by zero."""
    assert progress()["segments"] == []


def test_progress_renders_widths() -> None:
    """The bar's segments carry their widths as CSS."""
    html = Template("{% load dashboard %}{% progress 1 0 0 3 %}").render(Context())
    assert 'class="done" data-count="1" style="width: 25.000%"' in html


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (12, "12s"),
        (249, "4m 09s"),
        (timedelta(hours=2, minutes=5), "2h 05m"),
        (timedelta(days=3, hours=4, minutes=1), "3d 4h"),
        (-5, "0s"),
    ],
)
def test_duration(value: object, text: str) -> None:
    """Durations read as a person would write them."""
    assert duration(value) == text  # type: ignore[arg-type]


def test_state_badge_escapes() -> None:
    """The badge is safe HTML even for an unexpected state."""
    html = Template("{% load dashboard %}{% state_badge s %}").render(
        Context({"s": "<b>"})
    )
    assert "<b>" not in html


def test_an_htmx_refresh_after_the_session_ended_reloads_the_page(
    client: Client,
) -> None:
    """A live list polled after logging out reloads instead of showing login inside."""
    UserFactory.create()
    response = client.get("/agents/", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Refresh"] == "true"


def test_a_plain_request_after_the_session_ended_goes_to_login(
    client: Client,
) -> None:
    """Without htmx, the usual redirect to the login page."""
    UserFactory.create()
    response = client.get("/agents/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
