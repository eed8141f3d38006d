"""Time a job's page (``/jobs/<id>/``) and its live part on a big task table.

Usage (a scratch PostgreSQL database; it is migrated and filled once):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/job_page.py \
        [--jobs 50] [--frames 100000] [--repeat 20]

Fills the task table with ``--jobs`` jobs of ``--frames`` tasks each
(5,000,000 by default; skipped when they exist from an earlier run), finishes
half of the first job's tasks (done, some failed, with finish times over an
hour) and analyses the tables, as autovacuum keeps a live database. Then
requests, through Django's test client (the whole server stack, no network),
the first job's page, a page of tasks from its middle, its done tasks, the
live part, the chart's data and the explainer, ``--repeat`` times each, and
prints the first, best and median server time and the SQL statements of
each (the explainer's first answer is the uncached one; the next ones come
from the cache for 20 seconds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")

import django  # noqa: E402

django.setup()

from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts.models import User  # noqa: E402
from farm.models import Job, JobType, JobTypeVersion  # noqa: E402
from farm.services import create_job  # noqa: E402

TITLE = "bench job page"


def _fill(jobs: int, frames: int) -> Job:
    version = JobTypeVersion.objects.filter(jobtype__name="BenchPage").first()
    if version is None:
        jobtype = JobType.objects.create(name="BenchPage")
        version = JobTypeVersion.objects.create(
            jobtype=jobtype, version=1, code="class A: pass", classname="A"
        )
    existing = Job.objects.filter(title__startswith=TITLE).count()
    for number in range(existing, jobs):
        started = time.perf_counter()
        create_job(
            jobtype_version=version,
            title=f"{TITLE} {number}",
            start=0,
            end=frames - 1,
        )
        print(f"job {number + 1}/{jobs}: {time.perf_counter() - started:.1f} s")
    job = Job.objects.filter(title__startswith=TITLE).order_by("pk").first()
    assert job is not None
    with connection.cursor() as cursor:
        # Half the first job ended over the last hour: 1 in 50 failed.
        cursor.execute(
            """
            UPDATE tasks SET
                state = CASE WHEN id %% 50 = 0 THEN 'failed' ELSE 'done' END,
                attempts = 1,
                progress = CASE WHEN id %% 50 = 0 THEN 0.5 ELSE 1.0 END,
                time_started = now() - interval '1 hour',
                time_finished = now() - interval '1 hour'
                    + (frame / %s) * interval '1 hour'
            WHERE job_id = %s AND frame < %s AND state = 'queued'
            """,
            [frames, job.pk, frames // 2],
        )
        cursor.execute(
            "UPDATE jobs SET state = 'running', time_started = now() - interval"
            " '1 hour' WHERE id = %s",
            [job.pk],
        )
        cursor.execute("VACUUM ANALYZE tasks")
        cursor.execute("VACUUM ANALYZE jobs")
        cursor.execute("SELECT count(*) FROM tasks")
        print(f"tasks in the table: {cursor.fetchone()[0]:,}")
    return job


def _time(client: Client, url: str, repeat: int) -> None:
    times = []
    queries = 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(captured)
    print(
        f"{url:40} first {times[0]:8.1f} ms  best {min(times):6.1f} ms  median"
        f" {statistics.median(times):6.1f} ms  {queries} queries"
    )


def main() -> None:
    """Fill, then time the page and its parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    job = _fill(args.jobs, args.frames)
    admin = User.objects.filter(username="bench-admin").first()
    if admin is None:
        admin = User.objects.create_superuser("bench-admin", "", "bench")
    client = Client()
    client.force_login(admin)
    cache.clear()
    base = f"/jobs/{job.pk}/"
    middle = args.frames // 100 // 2
    for url in (
        base,
        f"{base}?page={middle}",
        f"{base}?task_state=failed&page=3",
        f"{base}?task_state=queued",
        f"{base}live/",
        f"{base}chart/",
        f"{base}explain/",
    ):
        _time(client, url, args.repeat)


if __name__ == "__main__":
    main()
