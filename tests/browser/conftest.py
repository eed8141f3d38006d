"""Playwright for Python driving Debian's ``chromium`` against a live server.

No browser is ever downloaded: Playwright is pointed at the system's
chromium (``PYFARM_CHROMIUM``, default ``/usr/bin/chromium``, installed by
``make system-deps`` through apt). The pages are served by pytest-django's
``live_server`` (a thread of this process, on 127.0.0.1).

Screenshots go to ``$PYFARM_TEST_OUTPUT/screenshots`` (default
``var/test-output/screenshots``): `screenshot(page, "jobs-list")`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings

if TYPE_CHECKING:
    from django.test import Client
    from playwright.sync_api import Browser, BrowserContext, Page
    from pytest_django.live_server_helper import LiveServer

    from accounts.models import User

CHROMIUM = os.environ.get("PYFARM_CHROMIUM", "/usr/bin/chromium")
# What a closed network needs: no background connections, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
OUTPUT = Path(
    os.environ.get(
        "PYFARM_TEST_OUTPUT", Path(settings.BASE_DIR) / "var" / "test-output"
    )
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is a browser test (``-m browser`` / ``-m "not browser"``)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A headless Debian chromium for the tests of one module.

    While it runs, Playwright's sync API keeps an event loop in this thread,
    so Django would take the test's own ORM calls (making and checking data,
    the live server's database set-up) for async code:
    ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set for the module's tests only and
    removed after, so that no other test (nor a process it starts) inherits
    it.
    """
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make system-deps` installs Debian's chromium"
        )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (cookies, storage) for one test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A tab of the test's own profile."""
    return context.new_page()


@pytest.fixture
def login_as(
    context: BrowserContext, live_server: LiveServer, client: Client
) -> Callable[[User], None]:
    """Give the browser a session of ``user`` without typing the password.

    The test of the login form itself types it; every other test uses this.
    """

    def login(user: User) -> None:
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": cookie.value,
                    "url": live_server.url,
                }
            ]
        )

    return login


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    """Save a full-page screenshot as ``<output>/screenshots/<name>.png``."""

    def take(page: Page, name: str, **options: Any) -> Path:
        folder = OUTPUT / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True, **options)
        return path

    return take
