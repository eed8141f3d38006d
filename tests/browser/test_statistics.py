"""The statistics page in chromium: the charts are drawn."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from farm.models import AgentCount, TaskCount, TaskEventCount
from farm.tests.factories import JobQueueFactory

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

    from accounts.models import User

pytestmark = pytest.mark.django_db(transaction=True)

# True when the canvas has pixels that are not transparent: Chart.js drew.
CANVAS_HAS_INK = """(canvas) => {
  const context = canvas.getContext("2d");
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) return true; }
  return false;
}"""


def _a_day_of_statistics() -> None:
    """Samples every 15 minutes over the last day, in two queues."""
    now = timezone.now()
    render = JobQueueFactory.create(name="render")
    for n in range(96):
        at = now - timedelta(minutes=15 * n + 1)
        AgentCount.objects.create(
            counted_time=at,
            num_online=10 + n % 5,
            num_running=20 - n % 7,
            num_offline=2,
            num_disabled=1,
        )
        for queue in (render, None):
            TaskCount.objects.create(
                counted_time=at,
                job_queue=queue,
                total_queued=300 - 3 * n,
                total_running=20 + n % 4,
                total_done=5 * n,
                total_failed=n // 10,
            )
            TaskEventCount.objects.create(
                time_start=at,
                time_end=at + timedelta(minutes=15),
                job_queue=queue,
                num_new=n % 9,
                num_started=10 + n % 6,
                num_done=9 + n % 5,
                num_failed=n % 3,
                num_restarted=n % 2,
                num_deleted=0,
            )


def test_statistics_page_draws_its_charts(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[User], None],
    screenshot: Callable[..., Path],
) -> None:
    """Three charts, each a canvas with something drawn on it."""
    _a_day_of_statistics()
    login_as(UserFactory.create(username="artist"))
    page.goto(f"{live_server.url}{reverse('web:statistics')}")
    canvases = page.locator("canvas[data-chart]")
    assert canvases.count() == 3
    page.wait_for_function(
        "window.Chart && document.querySelectorAll('canvas[data-chart]').length === 3"
        " && [...document.querySelectorAll('canvas[data-chart]')]"
        ".every((canvas) => window.Chart.getChart(canvas))"
    )
    for index in range(3):
        assert canvases.nth(index).evaluate(CANVAS_HAS_INK) is True
    screenshot(page, "statistics")


def test_statistics_page_without_data_says_so(
    page: Page, live_server: LiveServer, login_as: Callable[[User], None]
) -> None:
    """No rows: a note per chart instead of empty canvases."""
    login_as(UserFactory.create(username="artist"))
    page.goto(f"{live_server.url}{reverse('web:statistics')}")
    assert page.locator("canvas").count() == 0
    assert page.locator(".no-data").count() == 3
