"""Logging in through the real form, in chromium."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from accounts.tests.factories import UserFactory

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

pytestmark = pytest.mark.django_db(transaction=True)


def test_logging_in_leads_to_the_dashboard(page: Page, live_server: LiveServer) -> None:
    """The login form takes the password and lands on the dashboard, logged in."""
    UserFactory.create(username="artist")
    page.goto(f"{live_server.url}/")
    page.fill("input[name=username]", "artist")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator(".topbar .username").inner_text() == "artist"
    assert "/login/" not in page.url
