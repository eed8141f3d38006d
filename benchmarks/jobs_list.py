"""Server time and queries of the dashboard's jobs list on a big farm.

Usage (PostgreSQL; the database is migrated and filled once):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/jobs_list.py \
        [--jobs 100000] [--tasks-per-job 50] [--repeat 9] [--refill]

Fills the database (unless it holds the benchmark's jobs already, or with
``--refill``) with ``--jobs`` jobs of ``--tasks-per-job`` tasks each, by
INSERT ... SELECT over series (the newest 200 jobs queued, running or
paused, the others done or, one in twenty, failed; done tasks with start
and finish times), then ``VACUUM ANALYZE``. Then requests each URL of
`URLS` in this process through Django's test client (the whole request:
middleware, session, view, template), as a farm admin and as an ordinary
user, and prints the best and median time of ``--repeat`` requests after
one warm-up, with the median time this process spent in Python (CPU) and
waiting for SQL statements, and the number of SQL queries of one; then the
machine's load average (the wall times grow with it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.models import User  # noqa: E402
from farm.models import (  # noqa: E402
    Job,
    JobGroup,
    JobQueue,
    JobType,
    JobTypeVersion,
    Tag,
)

PREFIX = "bench shot"
URLS = [
    "/jobs/",
    "/jobs/?state=running",
    "/jobs/?state=done&state=failed&sort=-priority",
    "/jobs/?sort=title",
    "/jobs/?sort=-finished",
    "/jobs/?q=shot 99",
    "/jobs/?mine=1",
    "/jobs/?tag=hero",
    "/jobs/?page=1000",
]

_JOBS_SQL = """
INSERT INTO jobs (
    title, state, priority, weight, start, "end", "by", batch, requeue, cpus,
    ram, hidden, to_be_deleted, notes, time_submitted, time_started,
    time_finished, completion_notify_sent, user_id, job_group_id, job_queue_id,
    jobtype_version_id
)
SELECT %(prefix)s || ' ' || g, s.state, g %% 10, 10, 1, %(per_job)s, 1, 1, 3, 1,
    1024, false, false, '', s.submitted,
    CASE WHEN s.state <> 'queued' THEN s.submitted + interval '1 minute' END,
    CASE WHEN s.state IN ('done', 'failed')
        THEN s.submitted + interval '1 hour' END,
    false, (%(users)s::bigint[])[1 + g %% array_length(%(users)s::bigint[], 1)],
    (%(groups)s::bigint[])[1 + g %% array_length(%(groups)s::bigint[], 1)],
    (%(queues)s::bigint[])[1 + g %% array_length(%(queues)s::bigint[], 1)],
    (%(versions)s::bigint[])[1 + g %% array_length(%(versions)s::bigint[], 1)]
FROM generate_series(1, %(jobs)s) AS g
CROSS JOIN LATERAL (
    SELECT
        CASE
            WHEN g > %(jobs)s - 200 THEN (ARRAY['queued', 'running', 'running',
                'paused'])[1 + g %% 4]
            WHEN g %% 20 = 0 THEN 'failed'
            ELSE 'done'
        END AS state,
        now() - (%(jobs)s - g) * interval '1 minute' AS submitted
) AS s
"""

_TASKS_SQL = """
INSERT INTO tasks (
    job_id, frame, state, priority, attempts, failures, progress, hidden,
    sent_to_agent, time_submitted, time_started, time_finished
)
SELECT t.job_id, t.frame, t.state, 0, 1, 0, 0, false, false, t.submitted,
    CASE WHEN t.state <> 'queued' THEN t.submitted + t.frame * interval '1 minute'
    END,
    CASE WHEN t.state IN ('done', 'failed')
        THEN t.submitted + t.frame * interval '1 minute'
            + (2 + t.frame %% 5) * interval '1 minute'
    END
FROM (
    SELECT j.id AS job_id, f AS frame, j.time_submitted AS submitted,
        CASE j.state
            WHEN 'done' THEN 'done'
            WHEN 'failed' THEN CASE WHEN f <= 2 THEN 'failed' ELSE 'done' END
            WHEN 'running' THEN CASE WHEN f <= 20 THEN 'done'
                WHEN f <= 25 THEN 'running' ELSE 'queued' END
            WHEN 'paused' THEN CASE WHEN f <= 10 THEN 'done' ELSE 'queued' END
            ELSE 'queued'
        END AS state
    FROM jobs AS j CROSS JOIN generate_series(1, %(per_job)s) AS f
    WHERE j.title LIKE %(pattern)s
) AS t
"""


def _fill(jobs: int, per_job: int) -> None:
    """The farm: users, queues, groups, job types, then jobs and tasks by SQL."""
    users = [
        User.objects.get_or_create(username=f"bench-user{n}")[0].pk for n in range(20)
    ]
    queues = [JobQueue.objects.get_or_create(name=f"bench{n}")[0].pk for n in range(10)]
    versions = []
    for n in range(5):
        jobtype, _ = JobType.objects.get_or_create(name=f"BenchType{n}")
        version, _ = JobTypeVersion.objects.get_or_create(
            jobtype=jobtype, version=1, defaults={"code": "", "classname": "Bench"}
        )
        versions.append(version.pk)
    groups = [
        JobGroup.objects.get_or_create(
            title=f"bench group {n}", defaults={"main_jobtype_id": versions[0]}
        )[0].pk
        for n in range(50)
    ]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            _JOBS_SQL,
            {
                "prefix": PREFIX,
                "jobs": jobs,
                "per_job": per_job,
                "users": users,
                "groups": groups,
                "queues": queues,
                "versions": versions,
            },
        )
        print(f"  {jobs} jobs in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        cursor.execute(_TASKS_SQL, {"per_job": per_job, "pattern": f"{PREFIX} %"})
        print(f"  {jobs * per_job} tasks in {time.perf_counter() - started:.1f} s")
    tag, _ = Tag.objects.get_or_create(tag="hero")
    through = Job.tags.through
    through.objects.bulk_create(
        [
            through(job_id=pk, tag_id=tag.pk)
            for pk in Job.objects.filter(title__startswith=PREFIX).values_list(
                "pk", flat=True
            )[::100]
        ],
        ignore_conflicts=True,
    )


def _clear() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM tasks WHERE job_id IN (SELECT id FROM jobs WHERE title"
            " LIKE %s)",
            [f"{PREFIX} %"],
        )
        cursor.execute(
            "DELETE FROM job_tag_associations WHERE job_id IN (SELECT id FROM jobs"
            " WHERE title LIKE %s)",
            [f"{PREFIX} %"],
        )
        cursor.execute("DELETE FROM jobs WHERE title LIKE %s", [f"{PREFIX} %"])


class _Statements:
    """Counts the SQL statements run, and their time (``execute_wrapper``)."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(
        self, execute: Any, sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.count += 1
            self.seconds += time.perf_counter() - started


def _time(client: Client, url: str, repeat: int) -> dict[str, float]:
    """Best and median wall time of ``repeat`` GETs (ms), with the median CPU
    time of this process (the web server's Python) and of the SQL statements
    (the database's time, as the web server waits for it), and the queries
    of one request.
    """
    headers = {"HX-Request": "true"} if url.endswith("#refresh") else {}
    url = url.removesuffix("#refresh")
    response = client.get(url, headers=headers)
    assert response.status_code == 200, (url, response.status_code)
    walls, cpus, sqls, queries = [], [], [], 0
    for _ in range(repeat):
        statements = _Statements()
        with connection.execute_wrapper(statements):
            wall, cpu = time.perf_counter(), time.process_time()
            client.get(url, headers=headers)
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
        sqls.append(statements.seconds * 1000)
        queries = statements.count
    return {
        "best": min(walls),
        "median": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "sql": statistics.median(sqls),
        "queries": queries,
    }


def main() -> None:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--tasks-per-job", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--refill", action="store_true")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("point PYFARM_DATABASE_URI at a PostgreSQL database")

    call_command("migrate", verbosity=0)
    if args.refill:
        _clear()
    if not Job.objects.filter(title__startswith=PREFIX).exists():
        print("filling the database")
        _fill(args.jobs, args.tasks_per_job)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    print(
        f"{Job.objects.count()} jobs; tasks (estimate):",
        _estimated_tasks(),
    )
    admin, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    user = User.objects.get(username="bench-user1")
    for label, who in (("farm admin", admin), ("user", user)):
        # A test client without the test environment: templates are not
        # instrumented, as in production. Any host is allowed by default.
        client = Client()
        client.force_login(who)
        print(f"as {label}:")
        for url in [*URLS, "/jobs/#refresh"]:
            result = _time(client, url, args.repeat)
            print(
                f"  {url:46} best {result['best']:6.1f} ms"
                f"  median {result['median']:6.1f} ms"
                f" (Python CPU {result['cpu']:5.1f}, SQL {result['sql']:5.1f})"
                f"  {result['queries']:.0f} queries"
            )
    print("load average:", " ".join(f"{value:.2f}" for value in os.getloadavg()))


def _estimated_tasks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname='tasks'")
        return int(cursor.fetchone()[0])


if __name__ == "__main__":
    main()
