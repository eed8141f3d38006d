"""CPU and SQL statements per agent task report, lean path against ORM path.

Usage (a scratch database; it is migrated and a job is added):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/task_reports.py
    PYFARM_DATABASE_URI=sqlite:////tmp/bench.sqlite python benchmarks/task_reports.py

Sends the agent's reports (``POST /api/v1/jobs/<j>/tasks/<t>``: progress,
running, done, failed, given back) in-process through Django's test client,
as the agent does (no credentials, from an agent network), and measures the
CPU time of this process per request (``time.process_time``: the request's
Python and the database driver, not the database server), in ``--rounds``
rounds that alternate the lean path (answered by `farm.api.agent_fast_path`
ahead of the middleware and DRF, with `farm.services.task_reports`) and the
ORM path (``update_task`` with the serializers, what every report took
before issue #12) on twin tasks. Also counts each kind's statements, BEGIN
and COMMIT included. Prints both paths side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    setup_test_environment,
)
from rest_framework.test import APIClient  # noqa: E402

from farm.models import Agent, JobType, JobTypeVersion, Task  # noqa: E402
from farm.services.submission import create_job  # noqa: E402

#: An address in the default agent networks (loopback).
AGENT_ADDRESS = "127.0.0.1"
#: The kinds of report, in the order an attempt sends them; ``task`` picks
#: the task of the round (``index``) the report goes to.
KINDS: list[tuple[str, dict[str, Any]]] = [
    ("progress", {"progress": 0.5}),
    ("running", {"state": "running"}),
    ("done", {"state": "done"}),
    ("failed", {"state": "failed", "last_error": "Traceback"}),
    ("given back", {"state": "queued", "agent_id": None}),
]


def build(tasks: int) -> list[Task]:
    """A new job of ``tasks`` tasks, all assigned to a new agent; its tasks."""
    stamp = time.time_ns()
    jobtype, _ = JobType.objects.get_or_create(name="BenchmarkJobType")
    version, _ = JobTypeVersion.objects.get_or_create(
        jobtype=jobtype, version=1, defaults={"code": "", "classname": "B"}
    )
    agent = Agent.objects.create(
        hostname=f"bench-reports-{stamp}",
        port=50000,
        remote_ip="10.0.0.1",
        cpus=16,
        ram=65536,
        free_ram=60000,
    )
    job = create_job(
        jobtype_version=version, title=f"bench reports {stamp}", start=1, end=tasks
    )
    Task.objects.filter(job=job).update(agent=agent, sent_to_agent=True)
    return list(Task.objects.filter(job=job).order_by("frame"))


@contextmanager
def orm_path() -> Iterator[None]:
    """Every report through the view, its serializers and ``update_task``."""
    with mock.patch("farm.api.agent_fast_path.parse_agent_report", return_value=None):
        yield


@contextmanager
def lean_path() -> Iterator[None]:
    """The reports as they come: the agent's own take the fast path."""
    yield


def measure(
    tasks: list[Task], *, rounds: int, per_round: int
) -> dict[str, dict[str, list[float]]]:
    """CPU ms per request of each kind and path, one figure per round.

    Each round of each kind sends ``per_round`` reports on fresh tasks
    (progress: on one running task), lean then ORM or ORM then lean in turn.
    """
    client = APIClient(REMOTE_ADDR=AGENT_ADDRESS, HTTP_ACCEPT="application/json")
    results: dict[str, dict[str, list[float]]] = {
        kind: {"lean": [], "orm": []} for kind, _ in KINDS
    }
    fresh = iter(tasks)

    def post(task: Task, body: dict[str, Any]) -> None:
        response = client.post(
            f"/api/v1/jobs/{task.job_id}/tasks/{task.pk}", body, format="json"
        )
        assert response.status_code == 200, response.content

    for round_ in range(rounds):
        order = ("lean", "orm") if round_ % 2 == 0 else ("orm", "lean")
        for path in order:
            switch: Callable[[], Any] = orm_path if path == "orm" else lean_path
            with switch():
                batch = [next(fresh) for _ in range(per_round * 4)]
                progress_task = batch[0]
                post(progress_task, {"state": "running"})
                plan = {
                    "progress": [(progress_task, KINDS[0][1])] * per_round,
                    "running": [(t, KINDS[1][1]) for t in batch[:per_round]],
                    "done": [(t, KINDS[2][1]) for t in batch[1:per_round]],
                    "failed": [
                        (t, KINDS[3][1]) for t in batch[per_round : 2 * per_round]
                    ],
                    "given back": [
                        (t, KINDS[4][1]) for t in batch[2 * per_round : 3 * per_round]
                    ],
                }
                for kind, reports in plan.items():
                    start = time.process_time()
                    for task, body in reports:
                        post(task, body)
                    spent = time.process_time() - start
                    results[kind][path].append(spent / len(reports) * 1000)
    return results


def count_statements(tasks: list[Task]) -> dict[str, dict[str, int]]:
    """What each kind of report sends to the database, BEGIN/COMMIT included."""
    client = APIClient(REMOTE_ADDR=AGENT_ADDRESS, HTTP_ACCEPT="application/json")
    counts: dict[str, dict[str, int]] = {kind: {} for kind, _ in KINDS}
    fresh = iter(tasks)
    for path, switch in (("lean", lean_path), ("orm", orm_path)):
        with switch():
            running, queued, failing = next(fresh), next(fresh), next(fresh)
            client.post(
                f"/api/v1/jobs/{running.job_id}/tasks/{running.pk}",
                {"state": "running"},
                format="json",
            )
            client.post(
                f"/api/v1/jobs/{failing.job_id}/tasks/{failing.pk}",
                {"state": "running"},
                format="json",
            )
            plan = [
                ("progress", running),
                ("running", queued),
                ("done", running),
                ("failed", failing),
                ("given back", queued),
            ]
            bodies = dict(KINDS)
            for kind, task in plan:
                with CaptureQueriesContext(connection) as captured:
                    response = client.post(
                        f"/api/v1/jobs/{task.job_id}/tasks/{task.pk}",
                        bodies[kind],
                        format="json",
                    )
                assert response.status_code == 200, response.content
                counts[kind][path] = len(captured.captured_queries)
    return counts


def report(
    cpu: dict[str, dict[str, list[float]]], counts: dict[str, dict[str, int]]
) -> list[str]:
    """The lines to print: per kind, median CPU and statements of each path."""
    lines = [
        f"{connection.vendor}, load {os.getloadavg()[0]:.2f}: CPU ms per request "
        "(median of rounds), statements incl. BEGIN/COMMIT",
    ]
    for kind, paths in cpu.items():
        lean, orm = statistics.median(paths["lean"]), statistics.median(paths["orm"])
        lines.append(
            f"  {kind:<11} lean {lean:5.2f} ms ({counts[kind]['lean']} statements)"
            f"  orm {orm:5.2f} ms ({counts[kind]['orm']} statements)"
            f"  lean/orm {lean / orm:.0%}"
        )
    return lines


def main() -> None:
    """Build the job, count, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=100)
    args = parser.parse_args()
    setup_test_environment()
    connection.force_debug_cursor = False
    needed = args.rounds * 2 * args.per_round * 4 + 10
    call_command("migrate", verbosity=0)
    tasks = build(needed)
    counts = count_statements(tasks[-6:])
    cpu = measure(tasks[:-6], rounds=args.rounds, per_round=args.per_round)
    print("\n".join(report(cpu, counts)))


if __name__ == "__main__":
    main()
