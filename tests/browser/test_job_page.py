"""A job's page in chromium: it follows the job by itself, hides what others may
not do, and draws the job's progress over time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests
from rest_framework.authtoken.models import Token

from accounts.tests.factories import UserFactory
from farm.services import create_job, refresh_job_states
from farm.tests.factories import JobTypeVersionFactory

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

    from accounts.models import User
    from farm.models import Job

pytestmark = pytest.mark.django_db(transaction=True)

# The live part polls every 5 s: two rounds and some slack.
REFRESH_TIMEOUT = 15_000


def _job(owner: User, frames: int = 4) -> Job:
    return create_job(
        jobtype_version=JobTypeVersionFactory.create(),
        title="shot 030 beauty",
        start=1,
        end=frames,
        user=owner,
    )


def _report_done(live_server: LiveServer, token: str, job: Job, task_id: int) -> None:
    """What an agent sends when a task ended well, through the real API."""
    response = requests.post(
        f"{live_server.url}/api/v1/jobs/{job.pk}/tasks/{task_id}",
        json={"state": "done"},
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_progress_and_counts_follow_tasks_finished_through_the_api(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[User], None],
    screenshot: Callable[..., Any],
) -> None:
    """Two tasks reported done: bar and counts change without a reload."""
    from playwright.sync_api import expect

    owner = UserFactory.create(username="owner")
    admin = UserFactory.create(username="farmadmin", admin=True)
    token = Token.objects.create(user=admin).key
    job = _job(owner)
    login_as(owner)
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    done = page.locator('#job-live b[data-count="done"]')
    expect(done).to_have_text("0")
    assert page.locator("#job-live .progress.large .done").count() == 0
    # Set on this document: a full reload would lose it.
    page.evaluate("window.stillTheSamePage = true")

    for task_id in list(job.tasks.order_by("frame").values_list("pk", flat=True))[:2]:
        _report_done(live_server, token, job, task_id)

    expect(done).to_have_text("2", timeout=REFRESH_TIMEOUT)
    expect(page.locator("#job-live .progress.large .done")).to_have_attribute(
        "style", "width: 50.000%"
    )
    expect(page.locator("#job-state .badge")).to_have_text("running")
    assert page.evaluate("window.stillTheSamePage") is True
    # The counts changed: the chart loads its data again.
    page.wait_for_function(
        "() => { const chart = window.Chart && window.Chart.getChart("
        "document.getElementById('job-chart'));"
        " return chart && Math.max(...chart.data.datasets[0].data) === 2; }",
        timeout=REFRESH_TIMEOUT,
    )
    screenshot(page, "job-page")


def test_a_non_owner_sees_no_delete_control(
    page: Page, live_server: LiveServer, login_as: Callable[[User], None]
) -> None:
    """Someone else's job: readable, but no delete (nor pause) button."""
    from playwright.sync_api import expect

    job = _job(UserFactory.create(username="owner"))
    login_as(UserFactory.create(username="other"))
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    expect(page.locator("h1")).to_have_text("shot 030 beauty")
    assert page.locator('button[data-action="delete"]').count() == 0
    assert page.get_by_role("button", name="Delete").count() == 0
    assert page.get_by_role("button", name="Pause").count() == 0


def test_the_owner_sees_the_delete_control(
    page: Page, live_server: LiveServer, login_as: Callable[[User], None]
) -> None:
    """The counterpart: the owner has it."""
    from playwright.sync_api import expect

    owner = UserFactory.create(username="owner")
    job = _job(owner)
    login_as(owner)
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    expect(page.locator('button[data-action="delete"]')).to_be_visible()


def test_the_progress_chart_draws(
    page: Page, live_server: LiveServer, login_as: Callable[[User], None]
) -> None:
    """Tasks done: the chart's canvas is not blank and holds their count."""
    owner = UserFactory.create(username="owner")
    job = _job(owner, frames=6)
    for task in job.tasks.order_by("frame")[:3]:
        task.mark_done()
    refresh_job_states(job_ids=[job.pk])
    job.refresh_from_db()
    login_as(owner)
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    page.wait_for_function(
        "() => window.Chart"
        " && window.Chart.getChart(document.getElementById('job-chart'))"
    )
    drawn = page.evaluate(
        """() => {
            const canvas = document.getElementById('job-chart');
            const pixels = canvas.getContext('2d')
                .getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4) { if (pixels[i]) painted++; }
            return painted;
        }"""
    )
    assert drawn > 0
    done = page.evaluate(
        "() => Math.max(...window.Chart.getChart("
        "document.getElementById('job-chart')).data.datasets[0].data)"
    )
    assert done == 3


def test_the_owner_pauses_the_job_and_reruns_a_task_from_the_page(
    page: Page, live_server: LiveServer, login_as: Callable[[User], None]
) -> None:
    """The buttons post (with their CSRF token) and the page says what happened."""
    from playwright.sync_api import expect

    owner = UserFactory.create(username="owner")
    job = _job(owner)
    first = job.tasks.order_by("frame").first()
    assert first is not None
    first.mark_done()
    refresh_job_states(job_ids=[job.pk])
    job.refresh_from_db()
    login_as(owner)
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#messages")).to_contain_text("The job is paused.")
    expect(page.locator("#job-state .badge")).to_have_text("paused")
    page.locator(f'#job-live tr[data-task="{first.pk}"] button').click()
    expect(page.locator("#messages")).to_contain_text("Frame 1 is queued again.")
    first.refresh_from_db()
    assert first.state == "queued"
