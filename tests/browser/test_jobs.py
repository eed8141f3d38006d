"""The jobs list in chromium: API submissions, bulk actions, the live refresh."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.tests.factories import UserFactory
from farm.choices import WorkState
from farm.models import Job
from farm.tests.factories import (
    JobFactory,
    JobQueueFactory,
    JobTypeVersionFactory,
    TaskFactory,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

    from accounts.models import User

pytestmark = pytest.mark.django_db(transaction=True)

# The list refreshes every 5 s; a little more for the request itself.
REFRESH_MS = 9_000


def _submit(live_server: LiveServer, user: User, body: dict[str, Any]) -> Any:
    """``POST /api/v1/jobs/`` over HTTP with the user's token, as a script would."""
    token = Token.objects.create(user=user)
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/jobs/",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Token {token.key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.loads(response.read())


def _badge(page: Page, job: Job) -> str:
    return page.locator(f"#job-{job.pk} td.state .badge").inner_text()


def test_the_list_shows_a_job_submitted_through_the_api(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[User], None],
    screenshot: Callable[..., Any],
) -> None:
    """A job posted to the API with a token is on the list, with its frames."""
    artist = UserFactory.create(username="artist")
    JobTypeVersionFactory.create(jobtype__name="Blender", version=2)
    submitted = _submit(
        live_server,
        artist,
        {"title": "shot 010 beauty", "jobtype": "Blender", "start": 1, "end": 24},
    )
    # Company for the screenshot: jobs in every state, with progress.
    queue = JobQueueFactory.create(name="lighting")
    started = timezone.now() - timedelta(hours=2)
    times = {"time_started": started, "time_finished": started + timedelta(minutes=3)}
    for title, state, done, failed, running, queued in (
        ("shot 020 lighting", WorkState.RUNNING, 30, 1, 4, 15),
        ("shot 030 comp", WorkState.DONE, 48, 0, 0, 0),
        ("shot 040 fx", WorkState.FAILED, 20, 5, 0, 0),
        ("shot 050 layout", WorkState.PAUSED, 3, 0, 0, 9),
    ):
        job = JobFactory.create(
            title=title,
            state=state,
            queue=queue,
            user=artist,
            time_started=started,
            time_finished=None if queued or running else times["time_finished"],
        )
        TaskFactory.create_batch(done, job=job, done=True, **times)
        TaskFactory.create_batch(failed, job=job, failed=True, **times)
        TaskFactory.create_batch(running, job=job, running=True)
        TaskFactory.create_batch(queued, job=job)
    login_as(artist)

    page.goto(f"{live_server.url}/jobs/")

    row = page.locator(f"#job-{submitted['id']}")
    assert "shot 010 beauty" in row.inner_text()
    assert "0 / 24" in row.locator("td.frames").inner_text()
    assert row.locator("td.state .badge").inner_text() == "queued"
    screenshot(page, "jobs-list")


def test_a_bulk_pause_changes_the_states_on_the_page(
    page: Page, live_server: LiveServer, login_as: Callable[[User], None]
) -> None:
    """Select two running jobs, press Pause: both show "paused"."""
    owner = UserFactory.create(username="owner")
    first, second = JobFactory.create_batch(2, user=owner, state=WorkState.RUNNING)
    untouched = JobFactory.create(user=owner, state=WorkState.RUNNING)
    login_as(owner)
    page.goto(f"{live_server.url}/jobs/")

    page.check(f"#select-job-{first.pk}")
    page.check(f"#select-job-{second.pk}")
    with page.expect_navigation():
        page.click("button[name=action][value=pause]")
    page.wait_for_selector(".message.success")

    assert page.locator(".message.success").inner_text() == "Paused 2 jobs."
    assert _badge(page, first) == "paused"
    assert _badge(page, second) == "paused"
    assert _badge(page, untouched) == "running"


def test_the_list_refreshes_by_itself_keeping_selection_and_scroll(
    page: Page, live_server: LiveServer, login_as: Callable[[User], None]
) -> None:
    """A state changed in the database shows without a reload; a box stays checked."""
    owner = UserFactory.create(username="owner")
    jobs = JobFactory.create_batch(20, user=owner, state=WorkState.QUEUED)
    checked, changing = jobs[-1], jobs[0]  # newest first: top and bottom rows
    login_as(owner)
    page.set_viewport_size({"width": 1000, "height": 500})
    page.goto(f"{live_server.url}/jobs/")
    page.check(f"#select-job-{checked.pk}")
    page.locator(f"#job-{changing.pk}").scroll_into_view_if_needed()
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 0
    # Gone after a full reload, kept by a partial update.
    page.evaluate("window.notReloaded = true")

    Job.objects.filter(pk=changing.pk).update(state=WorkState.RUNNING)
    TaskFactory.create(job=changing, running=True)

    page.wait_for_selector(
        f"#job-{changing.pk} td.state .state-running", timeout=REFRESH_MS
    )
    assert page.evaluate("window.notReloaded") is True
    assert page.is_checked(f"#select-job-{checked.pk}")
    assert page.evaluate("window.scrollY") == scrolled
    running = page.locator('#state-counts a[data-state="running"] .count')
    assert running.inner_text() == "1"
    assert "0 / 1" in page.locator(f"#job-{changing.pk} td.frames").inner_text()


def test_a_non_owner_sees_no_enabled_delete_control(
    page: Page, live_server: LiveServer, login_as: Callable[[User], None]
) -> None:
    """Someone else's job cannot be selected; the actions are disabled."""
    owner = UserFactory.create(username="owner")
    job = JobFactory.create(user=owner, title="not yours")
    login_as(UserFactory.create(username="other"))

    page.goto(f"{live_server.url}/jobs/")

    assert "not yours" in page.locator(f"#job-{job.pk}").inner_text()
    assert page.is_disabled(f"#select-job-{job.pk}")
    assert page.is_disabled("button[name=action][value=delete]")


def test_select_all_skips_the_jobs_the_user_may_not_change(
    page: Page, live_server: LiveServer, login_as: Callable[[User], None]
) -> None:
    """Select all ticks the user's own jobs, never the disabled box of another's."""
    user = UserFactory.create(username="owner")
    own = JobFactory.create(user=user, title="yours")
    other = JobFactory.create(user=UserFactory.create(username="other"), title="not")
    login_as(user)

    page.goto(f"{live_server.url}/jobs/")
    page.check("input[data-select-all=job]")

    assert page.is_checked(f"#select-job-{own.pk}")
    assert not page.is_checked(f"#select-job-{other.pk}")
