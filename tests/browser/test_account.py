"""The account page in chromium: an API token's key, shown once, works."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
import requests

from accounts.models import ApiToken
from accounts.tests.factories import UserFactory

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

    from accounts.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def _create_token(page: Page, live_server: LiveServer, name: str) -> str:
    """Create a token on the account page; the key the page shows."""
    page.goto(f"{live_server.url}/account/")
    page.fill("#new-token input[name=name]", name)
    page.click("#new-token button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page.locator("code.api-key").inner_text()


def _api(live_server: LiveServer, key: str) -> requests.Response:
    return requests.get(
        f"{live_server.url}/api/v1/jobs/",
        headers={"Authorization": f"Token {key}", "Accept": "application/json"},
        timeout=10,
    )


def test_a_new_tokens_key_is_shown_once_and_works(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[User], None],
    screenshot: Callable[..., object],
) -> None:
    """The key works against the API; after a reload the page no longer has it."""
    user = UserFactory.create(username="artist", email="artist@example.com")
    login_as(user)
    key = _create_token(page, live_server, "render submit script")
    assert key.startswith("pfk_")
    screenshot(page, "account")

    assert _api(live_server, key).status_code == 200
    assert _api(live_server, key + "x").status_code == 401
    assert ApiToken.objects.get(user=user).last_used is not None

    page.reload()
    page.wait_for_load_state("networkidle")
    assert page.locator("code.api-key").count() == 0
    assert key not in page.content()
    assert "render submit script" in page.locator("#tokens").inner_text()


def test_a_token_revoked_on_the_page_is_refused(
    page: Page, live_server: LiveServer, login_as: Callable[[User], None]
) -> None:
    """Revoking asks first; afterwards the key answers 401."""
    login_as(UserFactory.create(username="artist"))
    key = _create_token(page, live_server, "old laptop")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#tokens button.danger")
    page.wait_for_load_state("networkidle")
    assert "You have no API token." in page.locator("#tokens").inner_text()
    assert _api(live_server, key).status_code == 401
