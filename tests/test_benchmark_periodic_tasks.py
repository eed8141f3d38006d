"""The periodic tasks benchmark (benchmarks/periodic_tasks.py) on a tiny farm."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from benchmarks.dashboard import build
from benchmarks.periodic_tasks import flag_jobs, report, run_once
from farm.models import Job
from scheduling.schedules import SCHEDULES
from tests.test_benchmarks import TINY

if TYPE_CHECKING:
    from pytest_django.fixtures import SettingsWrapper

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _farm(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.PYFARM = {**settings.PYFARM, "tasklogs_dir": str(tmp_path)}
    build(TINY)


def test_every_periodic_task_runs_once_and_is_measured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    runs = [run_once(entry) for entry in SCHEDULES]
    assert [run.task for run in runs] == [entry.task for entry in SCHEDULES]
    assert all(run.queries >= 0 and run.seconds >= 0 for run in runs)
    report(runs, runs)
    table = capsys.readouterr().out
    assert "`scheduling.consolidate_task_events` | 15 min |" in table
    assert "`scheduling.poll_agents` | 30 s |" in table


def test_flagged_jobs_are_deleted_by_the_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert flag_jobs(2) == 2
    [delete] = [e for e in SCHEDULES if e.task == "scheduling.delete_jobs"]
    assert run_once(delete).result == 2
    assert not Job.objects.filter(to_be_deleted=True).exists()
