"""Time the job group, job type and software pages of the dashboard.

Usage (a scratch PostgreSQL database; it is migrated and filled):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/catalog_pages.py \
        [--jobs 100000] [--repeat 9]

Builds 200 job types, 2,000 job groups, ``--jobs`` jobs spread over them,
5,000 agents with one of five versions of a software, and 50,000 tasks for
the jobs of the first group; then serves each page through Django's test
client as a logged-in plain user (no HTTP) and prints the best and median
server time and the number of SQL statements.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts.models import User  # noqa: E402
from farm.models import (  # noqa: E402
    Agent,
    Job,
    JobGroup,
    JobType,
    JobTypeSoftwareRequirement,
    JobTypeVersion,
    Software,
    SoftwareVersion,
)

STATES = ["queued", "running", "done", "failed", "paused"]


def build(jobs: int) -> tuple[int, int, int]:
    """Fill the database; returns (group id, job type id, software id)."""
    call_command("migrate", verbosity=0)
    User.objects.filter(username="bench").delete()
    jobtypes = JobType.objects.bulk_create(
        JobType(name=f"bench-type-{n}", description="bench") for n in range(200)
    )
    versions = JobTypeVersion.objects.bulk_create(
        JobTypeVersion(jobtype=jobtype, version=1, code="x = 1\n")
        for jobtype in jobtypes
    )
    groups = JobGroup.objects.bulk_create(
        JobGroup(title=f"bench group {n:05d}", main_jobtype=jobtypes[n % 200])
        for n in range(2000)
    )
    Job.objects.bulk_create(
        (
            Job(
                jobtype_version=versions[n % 200],
                group=groups[n % 2000],
                title=f"bench job {n}",
                state=STATES[n % 5],
                start=1,
                end=1000,
            )
            for n in range(jobs)
        ),
        batch_size=5000,
    )
    software = Software.objects.create(software="bench-blender")
    software_versions = SoftwareVersion.objects.bulk_create(
        SoftwareVersion(software=software, version=f"4.{n}", rank=100 * (n + 1))
        for n in range(5)
    )
    JobTypeSoftwareRequirement.objects.create(
        jobtype_version=versions[0], software=software
    )
    agents = Agent.objects.bulk_create(
        Agent(hostname=f"bench{n:05d}", port=50000, cpus=8, ram=16384, free_ram=8000)
        for n in range(5000)
    )
    through = Agent.software_versions.through
    through.objects.bulk_create(
        through(agent_id=agent.pk, softwareversion_id=software_versions[n % 5].pk)
        for n, agent in enumerate(agents)
    )
    first = groups[0]
    job_ids = list(first.jobs.values_list("pk", flat=True)[:50])
    with connection.cursor() as cursor:
        for job_id in job_ids:
            cursor.execute(
                "INSERT INTO tasks (job_id, frame, state, priority, attempts, "
                "sent_to_agent, time_submitted, "
                "failures, progress, hidden) SELECT %s, g, 'queued', 0, 0, false, "
                "now(), 0, 0, "
                "false FROM generate_series(1, 1000) AS g",
                [job_id],
            )
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
    return first.pk, jobtypes[0].pk, software.pk


def measure(client: Client, url: str, repeat: int) -> tuple[float, float, int]:
    """Best and median milliseconds of ``repeat`` GETs, and their statements."""
    client.get(url)  # warm caches (templates, the session)
    times = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return min(times), statistics.median(times), len(queries)


def main() -> None:
    """Build the farm, then time each page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    group, jobtype, software = build(args.jobs)
    client = Client()
    client.force_login(User.objects.create_user(username="bench", password="x"))
    for url in (
        "/groups/",
        f"/groups/{group}/",
        "/jobtypes/",
        f"/jobtypes/{jobtype}/",
        "/software/",
        f"/software/{software}/",
    ):
        best, median, count = measure(client, url, args.repeat)
        sys.stdout.write(
            f"{url:<22} best {best:6.1f} ms  median {median:6.1f} ms  "
            f"{count} statements\n"
        )


if __name__ == "__main__":
    main()
