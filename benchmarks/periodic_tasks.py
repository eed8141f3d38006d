"""Cost of each periodic task, one run each, on 5,000 agents and 100,000 tasks.

Usage (a scratch PostgreSQL database: it is migrated, EMPTIED and filled):

    d=$(mktemp -d); url=$(.ci/postgres start $d)
    PYFARM_DATABASE_URI=$url .venv/bin/python benchmarks/periodic_tasks.py
    .ci/postgres stop $d

Builds the farm with `benchmarks/dashboard.py`'s builder at a smaller size
(``--jobs`` 1,000 jobs, ``--tasks`` 100,000 tasks, ``--agents`` 5,000 agents,
a 10,000-frame job, a 1 MB task log, and its statistics rows: agents every
five minutes for 30 days, task counts and events per queue every five
minutes for 7 days), flags ``--flag-jobs`` finished jobs for deletion (so
that ``delete_jobs`` has work) and runs ``VACUUM ANALYZE``. Then runs each
task of `scheduling.schedules.SCHEDULES` once, in this process, in the
list's order, and prints its name, default interval (scheduler.yml), SQL
statements and wall time; then runs the list again (the steady state: the
first run of ``consolidate_task_events`` merges the builder's week of
five-minute rows, ``delete_jobs`` deletes the flagged jobs). Celery
messages the tasks queue (a poll per agent, an assignment per agent) are
counted, not sent: no agent is contacted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")
if __name__ == "__main__":
    os.environ.setdefault(
        "PYFARM_LOGFILES_DIR",
        str(Path(__file__).resolve().parent.parent / "var" / "benchmark-task-logs"),
    )

import django
from django.apps import apps

if not apps.ready:
    django.setup()

from dashboard import Size, analyze, build  # this folder (sys.path above)
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from farm.models import Agent, Job, Task, TaskEventCount
from scheduling.schedules import SCHEDULES, PeriodicSchedule, registered_task_names

SIZE = Size(
    jobs=1_000,
    tasks=100_000,
    agents=5_000,
    big_job=10_000,
    log_mb=1.0,
)


@dataclass(frozen=True)
class Run:
    """One periodic task's run."""

    task: str
    interval: str
    queries: int
    seconds: float
    messages: int
    result: Any


def _interval(entry: PeriodicSchedule) -> str:
    seconds = int(entry.interval().total_seconds())
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def flag_jobs(count: int) -> int:
    """Flag ``count`` finished jobs for deletion; returns how many."""
    ids = list(
        Job.objects.filter(state__in=("done", "failed"), to_be_deleted=False)
        .order_by("pk")
        .values_list("pk", flat=True)[:count]
    )
    return Job.objects.filter(pk__in=ids).update(to_be_deleted=True)


def run_once(entry: PeriodicSchedule) -> Run:
    """Run one periodic task in this process, counting statements and messages."""
    from pyfarm_site.celery import app

    task = app.tasks[entry.task]
    messages: list[Any] = []
    with (
        mock.patch(
            "celery.app.task.Task.apply_async",
            lambda *args, **kwargs: messages.append(args),
        ),
        CaptureQueriesContext(connection) as queries,
    ):
        started = time.perf_counter()
        result = task()
        seconds = time.perf_counter() - started
    return Run(
        entry.task,
        _interval(entry),
        len(queries),
        seconds,
        len(messages),
        result,
    )


def _summary(result: Any) -> str:
    if isinstance(result, dict):
        return ", ".join(
            f"{key}={value}"
            for key, value in result.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        )[:60]
    return str(result)


def report(first: list[Run], second: list[Run]) -> None:
    """Print the table (Markdown, for an issue's closing note).

    The second run finds the work the first one did done (a backlog of
    task event rows consolidated, flagged jobs deleted): the steady state.
    """
    print(
        "| task | default interval | statements | time | messages | result"
        " | 2nd run: statements | time |"
    )
    print("|---|---|---:|---:|---:|---|---:|---:|")
    for run, again in zip(first, second, strict=True):
        print(
            f"| `{run.task}` | {run.interval} | {run.queries} |"
            f" {run.seconds * 1000:.0f} ms | {run.messages} |"
            f" {_summary(run.result)} | {again.queries} |"
            f" {again.seconds * 1000:.0f} ms |"
        )


def main() -> None:
    """Build the farm, then run each periodic task once; see the docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=SIZE.jobs)
    parser.add_argument("--tasks", type=int, default=SIZE.tasks)
    parser.add_argument("--agents", type=int, default=SIZE.agents)
    parser.add_argument("--big-job", type=int, default=SIZE.big_job)
    parser.add_argument("--flag-jobs", type=int, default=10)
    args = parser.parse_args()
    size = Size(args.jobs, args.tasks, args.agents, args.big_job, SIZE.log_mb)

    warnings.filterwarnings("ignore", message="No directory at")
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    started = time.perf_counter()
    build(size)
    flagged = flag_jobs(args.flag_jobs)
    analyze()
    print(
        f"farm built in {time.perf_counter() - started:.1f} s on"
        f" {connection.vendor}: {Agent.objects.count()} agents,"
        f" {Job.objects.count()} jobs ({flagged} flagged for deletion),"
        f" {Task.objects.count()} tasks,"
        f" {TaskEventCount.objects.count()} task event rows"
    )
    registered = registered_task_names()
    entries = [entry for entry in SCHEDULES if entry.task in registered]
    first = [run_once(entry) for entry in entries]
    second = [run_once(entry) for entry in entries]
    report(first, second)


if __name__ == "__main__":
    main()
