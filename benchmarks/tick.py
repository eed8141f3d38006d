"""Time one scheduler tick (load, plan, apply) on a generated farm.

Usage (a scratch PostgreSQL database; it is migrated and filled):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/tick.py small
    PYFARM_DATABASE_URI=postgresql://... python benchmarks/tick.py large

``small``: 200 idle agents, 50 jobs x 100 tasks in one queue (the original
took 15.7 s and 166 SQL statements per agent). ``large``: 5,000 agents, 1,000
jobs, 100,000 queued tasks in a queue tree of depth 3. Each tick is run
``--repeat`` times on the same data, the assignments being undone (in one
UPDATE) between runs; sending is replaced by a plain function (no agent is
contacted, no Celery message is published). On PostgreSQL the farm is
vacuumed and analysed once built, as autovacuum keeps a live database. Prints
the best and median times of each phase and the SQL statements per tick.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from farm.models import (  # noqa: E402
    Agent,
    Job,
    JobQueue,
    JobType,
    JobTypeVersion,
    Task,
)
from farm.services.jobs import create_job_tasks  # noqa: E402

SIZES = {
    "small": (200, 50, 100, 1),
    "large": (5000, 1000, 100, 3),
    "fresh": (500, 120, 100, 1),
}


def _queues(depth: int) -> list[JobQueue]:
    """A tree of ``depth`` levels, four children per queue; the leaves."""
    level = [JobQueue.objects.create(name=f"bench-{uuid.uuid4().hex[:8]}")]
    for _ in range(depth - 1):
        level = [
            JobQueue.objects.create(name=f"q{index}", parent=parent, weight=index + 1)
            for parent in level
            for index in range(4)
        ]
    return level


def build(
    agents: int, jobs: int, tasks_per_job: int, depth: int, *, analyze: bool = True
) -> None:
    """Fill the database with a fresh farm of the given size.

    With ``analyze`` (PostgreSQL), the farm is vacuumed and analysed once built.
    """
    call_command("migrate", verbosity=0)
    with transaction.atomic():
        Task.objects.all().delete()
        Job.objects.all().delete()
        Agent.objects.all().delete()
        # Parents are protected: delete the tree from its leaves up.
        while JobQueue.objects.exists():
            JobQueue.objects.filter(children__isnull=True).delete()
        jobtype, _ = JobType.objects.get_or_create(name="BenchmarkJobType")
        version, _ = JobTypeVersion.objects.get_or_create(
            jobtype=jobtype, version=1, defaults={"code": "", "classname": "B"}
        )
        Agent.objects.bulk_create(
            Agent(
                hostname=f"agent{n:05d}",
                port=50000,
                remote_ip=f"10.{n // 62500}.{n // 250 % 250}.{n % 250 + 1}",
                cpus=16,
                ram=65536,
                free_ram=60000,
            )
            for n in range(agents)
        )
        leaves = _queues(depth)
        created = Job.objects.bulk_create(
            Job(
                jobtype_version=version,
                title=f"job {n}",
                queue=leaves[n % len(leaves)],
                priority=n % 3,
                weight=1 + n % 5,
                start=1,
                end=tasks_per_job,
                batch=1 + n % 2,
            )
            for n in range(jobs)
        )
        for job in created:
            create_job_tasks(job)
    if analyze and connection.vendor == "postgresql":
        # Statistics and a visibility map, as autovacuum keeps them on a live
        # database; else it would run during the timed ticks, on fresh rows.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


@contextmanager
def fresh_database(*, analysed_empty: bool = False) -> Iterator[str]:
    """A new, empty PostgreSQL database beside the configured one, for the block.

    Its tables are created by the migrations and get no statistics but what
    the code under test gives them: autovacuum is turned off on each, as it
    would not have come round yet on a farm just set up. With
    ``analysed_empty`` they are analysed once while still empty (as by an
    operator's ``vacuumdb --analyze`` right after the set-up): PostgreSQL
    then takes their emptiness for a fact. Dropped at the end.
    """
    if connection.vendor != "postgresql":
        raise SystemExit("fresh needs PostgreSQL: statistics are the point")
    name = f"tick_fresh_{uuid.uuid4().hex[:12]}"
    original = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connections.close_all()
    connection.settings_dict["NAME"] = name
    try:
        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            for table in connection.introspection.table_names(cursor):
                cursor.execute(
                    f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)'
                )
            if analysed_empty:
                cursor.execute("ANALYZE")
        yield name
    finally:
        connections.close_all()
        connection.settings_dict["NAME"] = original
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _statistics() -> str:
    """Whether PostgreSQL has statistics on the tables a tick reads."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class"
            " WHERE relname IN ('tasks', 'agents', 'jobs') ORDER BY relname"
        )
        tuples = ", ".join(f"{name} {count:.0f}" for name, count in cursor.fetchall())
        cursor.execute(
            "SELECT count(DISTINCT tablename) FROM pg_stats"
            " WHERE tablename IN ('tasks', 'agents', 'jobs')"
        )
        (analysed,) = cursor.fetchone()
    return f"reltuples: {tuples}; tables with column statistics: {analysed}/3"


def _concurrent_ticks(schedulers: int) -> list[tuple[float, int, str]]:
    """Run ``schedulers`` ticks at once, each on its own connection.

    Returns each tick's wall time (s), assignments applied and error (if any).
    """
    from scheduling.tick import run_tick

    barrier = threading.Barrier(schedulers)
    outcomes: list[tuple[float, int, str]] = []

    def tick() -> None:
        try:
            connection.ensure_connection()
            barrier.wait()
            started = time.perf_counter()
            result = run_tick()
            outcomes.append((time.perf_counter() - started, len(result.applied), ""))
        except Exception as error:  # reported, not raised: the others go on
            outcomes.append((0.0, 0, repr(error)))
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(schedulers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def fresh(schedulers: int, *, analysed_empty: bool) -> None:
    """The first tick(s) on a farm just set up: no ANALYZE before them."""
    with fresh_database(analysed_empty=analysed_empty) as name:
        started = time.perf_counter()
        build(*SIZES["fresh"], analyze=False)
        built = time.perf_counter() - started
        print(f"fresh database {name}: farm built in {built:.1f} s; {_statistics()}")
        sent: list[str] = []
        with mock.patch("scheduling.claiming.send_assignment.delay", sent.append):
            outcomes = _concurrent_ticks(schedulers)
        for seconds, applied, error in sorted(outcomes):
            print(f"  tick: {seconds:6.2f} s, {applied} assignments {error}")
        total = sum(applied for _, applied, _ in outcomes)
        print(f"  {schedulers} scheduler(s): {total} assignments in all")


def main() -> None:
    """Build the farm, then time the ticks."""
    parser = argparse.ArgumentParser()
    parser.add_argument("size", choices=sorted(SIZES))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--schedulers",
        type=int,
        default=1,
        help="fresh: how many ticks run at once (the first tick under load)",
    )
    parser.add_argument(
        "--analysed-empty",
        action="store_true",
        help="fresh: analyse the tables once while they are still empty",
    )
    args = parser.parse_args()
    if args.size == "fresh":
        fresh(args.schedulers, analysed_empty=args.analysed_empty)
        return
    build(*SIZES[args.size])

    from scheduling.tick import run_tick

    sent: list[str] = []
    results = []
    # A plain function rather than a MagicMock, whose bookkeeping (some 20 us
    # a call, 5,000 calls a tick) would be timed as part of apply.
    with mock.patch("scheduling.claiming.send_assignment.delay", sent.append):
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as queries:
                result = run_tick()
            results.append((result, len(queries)))
            Task.objects.filter(agent__isnull=False).update(agent=None)
    first = results[0][0]
    print(
        f"{args.size}: {first.agents} idle agents, {first.jobs} jobs, {first.tasks} "
        f"runnable tasks, {len(first.applied)} assignments per tick"
    )
    for phase in ("load_ms", "plan_ms", "apply_ms"):
        values = [getattr(result, phase) for result, _ in results]
        median = statistics.median(values)
        print(f"  {phase[:-3]:>5}: best {min(values):7.1f} ms, median {median:7.1f} ms")
    totals = [r.load_ms + r.plan_ms + r.apply_ms for r, _ in results]
    median = statistics.median(totals)
    print(f"  total: best {min(totals):7.1f} ms, median {median:7.1f} ms")
    print(f"  SQL statements per tick: {sorted({count for _, count in results})}")


if __name__ == "__main__":
    main()
