"""Server time of the statistics page and the task log viewer at size.

Usage (a scratch database: it is migrated and filled, and its statistics
tables are emptied at the end):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/logs_statistics.py \
        [--days 30] [--queues 20] [--log-mb 200] [--repeat 5]

Statistics: a sample of agents every minute and of tasks every 5 minutes
(one row per queue and the jobs without a queue) for ``--days`` days, and a
task event row per queue every 15 minutes; then ``GET /statistics/`` for
each range, all queues and one queue, timed through Django's test client
(server time, no network) with its SQL statements counted.

Logs: a running task whose log is ``--log-mb`` MB of plain text, and a done
task whose log is as big but gzipped; times the viewer's page (the last
256 KiB) and one poll of new lines, and the peak memory Python allocated
while serving them (tracemalloc, measured apart from the timings).
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import StreamingHttpResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from farm.choices import WorkState  # noqa: E402
from farm.models import (  # noqa: E402
    AgentCount,
    Job,
    JobQueue,
    TaskCount,
    TaskEventCount,
    TaskLog,
)
from farm.tests.factories import (  # noqa: E402
    AgentFactory,
    JobFactory,
    TaskFactory,
    TaskTaskLogAssociationFactory,
)

PREFIX = "bench-stat"
LINE = b"2026-11-30T04:00:00.000000,4242,0,17,rendering tile %09d of frame 1\n"


def _fill_statistics(days: int, queues: int) -> list[JobQueue]:
    now = timezone.now()
    made = [
        JobQueue.objects.create(name=f"{PREFIX}-{n}", fullpath=f"{PREFIX}-{n}")
        for n in range(queues)
    ]
    minutes = days * 24 * 60
    AgentCount.objects.bulk_create(
        (
            AgentCount(
                counted_time=now - timedelta(minutes=m),
                num_online=m % 50,
                num_running=m % 300,
                num_offline=3,
                num_disabled=1,
            )
            for m in range(minutes)
        ),
        batch_size=5000,
    )
    TaskCount.objects.bulk_create(
        (
            TaskCount(
                counted_time=now - timedelta(minutes=m),
                job_queue=queue,
                total_queued=m % 1000,
                total_running=m % 100,
                total_done=m,
                total_failed=m % 7,
            )
            for m in range(0, minutes, 5)
            for queue in [*made, None]
        ),
        batch_size=5000,
    )
    TaskEventCount.objects.bulk_create(
        (
            TaskEventCount(
                time_start=now - timedelta(minutes=m + 15),
                time_end=now - timedelta(minutes=m),
                job_queue=queue,
                num_new=m % 11,
                num_started=m % 13,
                num_done=m % 17,
                num_failed=m % 3,
            )
            for m in range(0, minutes, 15)
            for queue in [*made, None]
        ),
        batch_size=5000,
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("agent_counts", "task_counts", "task_event_counts"):
                cursor.execute(f"ANALYZE {table}")
    return made


def _time(client: Client, url: str, repeat: int) -> tuple[float, float, int, int]:
    """(best, median) milliseconds, the statement count and the status."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        if isinstance(response, StreamingHttpResponse):
            b"".join(response.streaming_content)  # type: ignore[arg-type]
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    return min(times), statistics.median(times), len(queries), response.status_code


def _peak_mb(client: Client, url: str) -> float:
    tracemalloc.start()
    client.get(url)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def _write_log(path: Path, megabytes: int, *, compressed: bool) -> int:
    lines = megabytes * 1_000_000 // len(LINE % 0)
    opener = gzip.open if compressed else open
    with opener(path, "wb") as handle:  # type: ignore[operator]
        for start in range(0, lines, 10_000):
            handle.write(b"".join(LINE % n for n in range(start, start + 10_000)))
    return lines


def _logs(client: Client, megabytes: int, repeat: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    settings.PYFARM = {**settings.PYFARM, "tasklogs_dir": str(directory)}
    # Unique names: the factories' sequences restart with every run.
    tag = uuid.uuid4().hex
    job = JobFactory.create(
        title=f"{PREFIX} logs", jobtype_version__jobtype__name=f"{PREFIX}-{tag}"
    )
    agent = AgentFactory.create(hostname=f"{PREFIX}-{tag}")
    running = TaskFactory.create(job=job, state=WorkState.RUNNING, attempts=1)
    done = TaskFactory.create(job=job, done=True)
    plain, packed = (
        TaskTaskLogAssociationFactory.create(
            task=task,
            state=task.state,
            log__identifier=f"{PREFIX}-{tag}-{task.pk}.csv",
            log__agent=agent,
        )
        for task in (running, done)
    )
    try:
        _write_log(directory / plain.log.identifier, megabytes, compressed=False)
        _write_log(
            directory / (packed.log.identifier + ".gz"), megabytes, compressed=True
        )
        size = (directory / (packed.log.identifier + ".gz")).stat().st_size
        print(
            f"logs: {megabytes} MB plain; {megabytes} MB gzipped to {size / 1e6:.1f} MB"
        )
        near_end = megabytes * 1_000_000 - 10_000
        for label, url in (
            ("plain page", f"/tasks/{running.pk}/logs/"),
            (
                "plain poll",
                f"/tasks/{running.pk}/logs/{plain.log_id}/more/?offset={near_end}",
            ),
            ("gzip page", f"/tasks/{done.pk}/logs/"),
        ):
            best, median, count, status = _time(client, url, repeat)
            peak = _peak_mb(client, url)
            print(
                f"  {label:<11} best {best:7.1f} ms  median {median:7.1f} ms"
                f"  {count} statements  peak {peak:5.1f} MB  (HTTP {status})"
            )
    finally:
        for path in directory.iterdir():
            path.unlink()
        directory.rmdir()
        TaskLog.objects.filter(pk__in=[plain.log_id, packed.log_id]).delete()
        jobtype = job.jobtype_version.jobtype
        job.delete()
        jobtype.delete()
        agent.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--log-mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    call_command("migrate", verbosity=0)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    user, _ = User.objects.get_or_create(username=f"{PREFIX}-admin")
    client = Client()
    client.force_login(user)
    try:
        started = time.perf_counter()
        queues = _fill_statistics(options.days, options.queues)
        print(
            f"statistics ({connection.vendor}): {AgentCount.objects.count()} agent,"
            f" {TaskCount.objects.count()} task, {TaskEventCount.objects.count()}"
            f" event rows, {len(queues)} queues"
            f" (filled in {time.perf_counter() - started:.1f} s)"
        )
        for query in ("1h", "1d", "1w", "1m"):
            for queue in ("", str(queues[0].pk)):
                url = f"/statistics/?range={query}&queue={queue}"
                best, median, count, status = _time(client, url, options.repeat)
                print(
                    f"  range {query:<2} queue {queue or 'all':<5} best {best:6.1f} ms"
                    f"  median {median:6.1f} ms  {count} statements (HTTP {status})"
                )
        _logs(client, options.log_mb, options.repeat)
    finally:
        AgentCount.objects.all().delete()
        TaskCount.objects.all().delete()
        TaskEventCount.objects.all().delete()
        JobQueue.objects.filter(name__startswith=PREFIX).delete()
        user.delete()
        Job.objects.filter(title__startswith=PREFIX).delete()


if __name__ == "__main__":
    main()
