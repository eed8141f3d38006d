"""Job groups, job types and software pages, in chromium."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from accounts.tests.factories import UserFactory
from farm.choices import WorkState
from farm.models import JobTypeSoftwareRequirement
from farm.tests.factories import (
    AgentFactory,
    JobFactory,
    JobGroupFactory,
    JobTypeVersionFactory,
    SoftwareFactory,
    SoftwareVersionFactory,
    TaskFactory,
)

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

    from accounts.models import User
    from farm.models import JobTypeVersion, Software

pytestmark = pytest.mark.django_db(transaction=True)

CODE = '''"""Renders a frame with Blender."""
from pyfarm.jobtypes.core.jobtype import JobType


class BlenderRender(JobType):
    """One Blender process per frame."""

    def get_command(self):
        return "blender"

    def get_arguments(self):
        return ["-b", self.assignment["job"]["data"]["scene"], "-f", "1"]
'''


@pytest.fixture
def blender() -> Software:
    """Blender 3.6 and 4.1 (the default), on two agents, required by a job type."""
    software = SoftwareFactory.create(software="blender")
    SoftwareVersionFactory.create(software=software, version="3.6", rank=100)
    new = SoftwareVersionFactory.create(
        software=software, version="4.1", rank=200, default=True
    )
    for agent in AgentFactory.create_batch(2):
        agent.software_versions.add(new)
    JobTypeSoftwareRequirement.objects.create(
        jobtype_version=JobTypeVersionFactory.create(jobtype__name="BlenderRender"),
        software=software,
        min_version=new,
    )
    return software


@pytest.fixture
def jobtype_version() -> JobTypeVersion:
    """Version 1 of a Blender job type, with real-looking code."""
    return JobTypeVersionFactory.create(
        jobtype__name="Blender",
        jobtype__description="Renders Blender scenes frame by frame.",
        classname="BlenderRender",
        code=CODE,
        max_batch=4,
    )


def test_farm_admin_adds_a_software_version(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[User], None],
    screenshot: Callable[..., Path],
    blender: Software,
) -> None:
    """The version typed into the form is listed, ranked above the others."""
    login_as(UserFactory.create(username="boss", admin=True))
    page.goto(f"{live_server.url}/software/{blender.pk}/")
    page.fill("#add-version input[name=version]", "4.2")
    page.click("#add-version button[type=submit]")
    page.wait_for_load_state("networkidle")
    row = page.locator('#versions tr[data-version="4.2"]')
    assert row.locator("td.num").first.inner_text() == "300"
    assert "Version 4.2 added" in page.locator("#messages").inner_text()
    screenshot(page, "software-page")


def test_jobtype_page_shows_highlighted_code(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[User], None],
    screenshot: Callable[..., Path],
    jobtype_version: JobTypeVersion,
) -> None:
    """The code is coloured by Pygments: keyword and class-name spans."""
    login_as(UserFactory.create(username="boss", admin=True))
    page.goto(f"{live_server.url}/jobtypes/{jobtype_version.jobtype_id}/")
    code = page.locator("div.highlight")
    assert code.locator("span.k", has_text="class").count() >= 1
    assert code.locator("span.nc", has_text="BlenderRender").count() == 1
    colour = code.locator("span.k").first.evaluate("e => getComputedStyle(e).color")
    assert colour != "rgb(31, 42, 48)"  # not the page's ink: the stylesheet applies
    screenshot(page, "jobtype-page")


def test_plain_user_sees_no_admin_controls(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[User], None],
    blender: Software,
    jobtype_version: JobTypeVersion,
) -> None:
    """No add, remove, rank or default controls on the software and job type pages."""
    login_as(UserFactory.create(username="artist"))
    for path in (
        f"/software/{blender.pk}/",
        "/software/",
        f"/jobtypes/{jobtype_version.jobtype_id}/",
        "/jobtypes/",
    ):
        page.goto(f"{live_server.url}{path}")
        assert page.locator("main form").count() == 0, path
        assert page.locator("main button").count() == 0, path
    assert page.locator("text=New job type").count() == 0


def test_job_groups_list_shows_progress(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[User], None],
    screenshot: Callable[..., Path],
) -> None:
    """Each group with its jobs' states as a bar, linking to its page."""
    owner = UserFactory.create(username="lighter")
    states = [
        [WorkState.DONE, WorkState.DONE, WorkState.RUNNING],
        [WorkState.FAILED, WorkState.DONE],
        [WorkState.QUEUED],
    ]
    for number, group_states in enumerate(states, start=1):
        group = JobGroupFactory.create(title=f"shot {number:03d}0", user=owner)
        for state in group_states:
            job = JobFactory.create(group=group, state=state, user=owner)
            TaskFactory.create(job=job, state=state)
    login_as(UserFactory.create(username="artist"))
    page.goto(f"{live_server.url}/groups/")
    assert page.locator("table.list tbody tr").count() == 3
    assert page.locator(".progress .done").count() == 2
    screenshot(page, "jobgroups")
    page.click("text=shot 0010")
    assert page.locator("h1").inner_text() == "Job group: shot 0010"
