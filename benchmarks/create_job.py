"""Time job submission and frame-range changes through the services.

Usage: python benchmarks/create_job.py [FRAMES ...]  (default: 5000 100000)

Each job has frames 0 to FRAMES - 1 (1,000,000 frames is the largest range
the columns hold with a step of 1); the last one's range is then shifted
down by half (half its tasks deleted, as many created) with
``alter_frame_range``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from farm.models import Job, JobType, JobTypeVersion, Task  # noqa: E402
from farm.services import alter_frame_range, create_job  # noqa: E402
from farm.services.jobs import delete_tasks  # noqa: E402


def main(frame_counts: list[int]) -> None:
    """Submit one job per frame count, then shift the last one's range by half."""
    call_command("migrate", verbosity=0)
    _clean_up()
    jobtype, _ = JobType.objects.get_or_create(name="BenchmarkJobType")
    version, _ = JobTypeVersion.objects.get_or_create(
        jobtype=jobtype, version=1, defaults={"code": "", "classname": "Bench"}
    )
    print(f"database: {connection.vendor}")
    job = None
    for frames in frame_counts:
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            job = create_job(
                jobtype_version=version,
                title=f"bench {frames}",
                start=0,
                end=frames - 1,
            )
        elapsed = time.perf_counter() - started
        print(f"create_job {frames:>7} frames: {elapsed:6.2f} s, {len(queries)} SQL")
    if job is not None:
        frames = frame_counts[-1]
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            alter_frame_range(
                job=job, start=-(frames // 2), end=frames - frames // 2 - 1, by=1
            )
        elapsed = time.perf_counter() - started
        print(
            f"alter_frame_range -{frames // 2}/+{frames // 2} tasks: "
            f"{elapsed:6.2f} s, {len(queries)} SQL"
        )
    _clean_up()


def _clean_up() -> None:
    """Delete the benchmark's jobs (their tasks in one statement, not per row)."""
    jobs = Job.objects.filter(title__startswith="bench ")
    delete_tasks(Task.objects.filter(job__in=jobs))
    jobs.delete()


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [5000, 100_000])
