"""The tick's entry points: the Celery task and ``manage.py assign_tasks``."""

from __future__ import annotations

import io
import logging
import uuid
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command

from farm.models import Task
from farm.services import create_job
from farm.tests.factories import AgentFactory, JobTypeVersionFactory
from pyfarm_site.celery import app
from scheduling import claiming
from scheduling.schedules import registered_task_names
from scheduling.tasks.planning import assign_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def delay() -> Any:
    """``send_assignments.delay`` as the claiming module calls it, mocked."""
    with mock.patch.object(claiming.send_assignments, "delay") as patched:
        yield patched


@pytest.fixture
def farm() -> dict[str, Any]:
    """Two idle agents and a job of frames 1, 1.5, 2, 2.5 in batches of two."""
    version = JobTypeVersionFactory.create(max_batch=2)
    job = create_job(
        jobtype_version=version,
        title="shot 010",
        start=1,
        end=Decimal("2.5"),
        by=Decimal("0.5"),
        batch=2,
    )
    # Fixed ids: the planner hands agents out in id order among equals.
    first = AgentFactory.create(hostname="render01", id=uuid.UUID(int=1))
    second = AgentFactory.create(hostname="render02", id=uuid.UUID(int=2))
    return {"job": job, "agents": (first, second)}


def test_the_task_is_registered_under_its_beat_name() -> None:
    assert "scheduling.assign_tasks" in registered_task_names()
    assert app.tasks["scheduling.assign_tasks"].name == assign_tasks.name


def test_the_task_assigns_work_and_returns_the_tick_counts(
    farm: dict[str, Any], delay: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        result = assign_tasks.apply().get()

    assert result["planned"] == result["applied"] == 2
    assert (result["agents"], result["jobs"], result["tasks"]) == (2, 1, 4)
    assert result["dry_run"] is False
    assert Task.objects.filter(agent__isnull=False).count() == 4
    delay.assert_called_once()
    assert len(delay.call_args.args[0]) == 2


def test_the_task_run_twice_assigns_nothing_more(
    farm: dict[str, Any], delay: mock.Mock
) -> None:
    assign_tasks.apply().get()
    assigned = dict(Task.objects.values_list("pk", "agent_id"))

    result = assign_tasks.apply().get()

    assert result["agents"] == 0
    assert result["planned"] == result["applied"] == 0
    assert dict(Task.objects.values_list("pk", "agent_id")) == assigned


def test_the_command_prints_each_assignment(
    farm: dict[str, Any], delay: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    out = io.StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("assign_tasks", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[:2] == [
        "render01 -> shot 010: 1, 1.5",
        "render02 -> shot 010: 2, 2.5",
    ]
    assert lines[2].startswith(
        "2 assignments planned for 2 idle agents, 1 jobs, 4 runnable tasks; "
        "2 applied, 0 skipped"
    )
    assert Task.objects.filter(agent__isnull=False).count() == 4
    delay.assert_called_once()
    assert len(delay.call_args.args[0]) == 2


def test_the_command_dry_run_prints_the_plan_and_changes_nothing(
    farm: dict[str, Any], delay: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    before = list(Task.objects.order_by("pk").values())
    out = io.StringIO()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        call_command("assign_tasks", "--dry-run", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[:2] == [
        "render01 -> shot 010: 1, 1.5",
        "render02 -> shot 010: 2, 2.5",
    ]
    assert "dry run, nothing changed" in lines[2]
    assert list(Task.objects.order_by("pk").values()) == before
    assert callbacks == []
    delay.assert_not_called()


@pytest.mark.parametrize("options", [[], ["--dry-run"]])
def test_the_command_prints_its_summary_once(
    farm: dict[str, Any],
    delay: mock.Mock,
    options: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = io.StringIO()

    with caplog.at_level(logging.INFO):
        call_command("assign_tasks", *options, stdout=out)

    logged = [r.getMessage() for r in caplog.records if "planned" in r.getMessage()]
    printed = [line for line in out.getvalue().splitlines() if "planned" in line]
    assert len(logged + printed) == 1, logged + printed
    assert printed[0].startswith("2 assignments planned for 2 idle agents")


def test_the_command_leaves_the_tick_log_as_it_was() -> None:
    logger = logging.getLogger("scheduling.tick")
    level = logger.level

    call_command("assign_tasks", "--dry-run", stdout=io.StringIO())

    assert logger.level == level


def test_the_command_says_when_there_is_nothing_to_do(delay: mock.Mock) -> None:
    out = io.StringIO()

    call_command("assign_tasks", stdout=out)

    assert out.getvalue().startswith(
        "0 assignments planned for 0 idle agents, 0 jobs, 0 runnable tasks; "
        "0 applied, 0 skipped"
    )
