"""The task log viewer in chromium: tail -f of a running task's log."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory
from farm.choices import WorkState
from farm.tests.factories import JobFactory, TaskFactory, TaskTaskLogAssociationFactory

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from playwright.sync_api import Page
    from pytest_django.live_server_helper import LiveServer

    from accounts.models import User
    from farm.models import TaskTaskLogAssociation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def logs_dir(tmp_path: Path, farm_config: Callable[..., None]) -> Path:
    """``tasklogs_dir`` below pytest's tmp_path (the live server reads it too)."""
    directory = tmp_path / "task_logs"
    directory.mkdir()
    farm_config(tasklogs_dir=str(directory))
    return directory


@pytest.fixture
def running_log() -> TaskTaskLogAssociation:
    """The log of a running task's current attempt."""
    owner = UserFactory.create(username="artist")
    job = JobFactory.create(user=owner, title="forest flythrough")
    task = TaskFactory.create(running=True, job=job, frame=12)
    return TaskTaskLogAssociationFactory.create(
        task=task, attempt=1, state=WorkState.RUNNING
    )


def _open(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[User], None],
    association: TaskTaskLogAssociation,
) -> None:
    login_as(UserFactory.create(username="watcher"))
    url = reverse("web:task_logs", args=[association.task_id])
    page.goto(f"{live_server.url}{url}")


def test_viewer_shows_lines_appended_to_a_running_tasks_log(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[User], None],
    logs_dir: Path,
    running_log: TaskTaskLogAssociation,
    screenshot: Callable[..., Path],
) -> None:
    """Lines the agent appends appear in the page without a reload."""
    path = logs_dir / running_log.log.identifier
    path.write_text(
        "".join(
            f"2026-11-30T04:00:{n:02d},4242,0,{n},rendering frame 12: tile {n}\n"
            for n in range(40)
        )
    )
    _open(page, live_server, login_as, running_log)
    log = page.locator("#log-text")
    assert "tile 39" in log.inner_text()
    page.evaluate("window.notReloaded = true")
    with path.open("a") as handle:
        handle.write("2026-11-30T04:01:00,4242,0,41,appended while watching\n")
    page.wait_for_function(
        "document.getElementById('log-text').textContent"
        ".includes('appended while watching')"
    )
    assert page.evaluate("window.notReloaded") is True
    assert log.inner_text().count("appended while watching") == 1
    screenshot(page, "task-log")


def test_viewer_keeps_the_reader_at_the_end_of_the_log(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[User], None],
    logs_dir: Path,
    running_log: TaskTaskLogAssociation,
) -> None:
    """A reader at the bottom stays there as lines arrive."""
    path = logs_dir / running_log.log.identifier
    path.write_text("".join(f"line {n}\n" for n in range(500)))
    _open(page, live_server, login_as, running_log)
    at_bottom = (
        "(() => { const log = document.getElementById('log-text');"
        " return log.scrollHeight - log.scrollTop - log.clientHeight < 8; })()"
    )
    assert page.evaluate(at_bottom) is True
    with path.open("a") as handle:
        handle.write("".join(f"more {n}\n" for n in range(100)))
    page.wait_for_function(
        "document.getElementById('log-text').textContent.includes('more 99')"
    )
    page.wait_for_function(at_bottom)


def test_viewer_shows_a_log_that_arrives_while_watching(
    page: Page,
    live_server: LiveServer,
    login_as: Callable[[User], None],
    logs_dir: Path,
    running_log: TaskTaskLogAssociation,
) -> None:
    """A log not on the master yet: a note, then its lines once the file comes."""
    _open(page, live_server, login_as, running_log)
    assert page.locator("#log-missing").is_visible()
    (logs_dir / running_log.log.identifier).write_text("uploaded at last\n")
    page.wait_for_function(
        "document.getElementById('log-text').textContent.includes('uploaded at last')"
    )
    page.wait_for_selector("#log-missing", state="detached")
