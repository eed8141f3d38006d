"""Time one scheduler tick (load, plan, apply, publish) on a generated farm.

Usage (a scratch PostgreSQL database; it is migrated and filled):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/tick.py small
    PYFARM_DATABASE_URI=postgresql://... python benchmarks/tick.py large
    PYFARM_DATABASE_URI=postgresql://... python benchmarks/tick.py large --broker redis

``small``: 200 idle agents, 50 jobs x 100 tasks in one queue (the original
took 15.7 s and 166 SQL statements per agent). ``large``: 5,000 agents, 1,000
jobs, 100,000 queued tasks in a queue tree of depth 3. Each tick is run
``--repeat`` times on the same data, the assignments being undone (in one
UPDATE) between runs. The tick publishes its sending messages to a real
broker, as in production: the configured one by default (the filesystem
broker), ``--broker redis://...`` for a Redis server, or ``--broker redis``
for a redis-server of its own (``.ci/redis``); no worker consumes them, and
the queue is purged between runs. ``--no-publish`` replaces publishing with a
plain function. On PostgreSQL the farm is vacuumed and analysed once built,
as autovacuum keeps a live database. Prints the best and median times of
each phase (apply is the claim, publish the messages' publishing after each
chunk's commit), the SQL statements and the messages per tick.
"""

from __future__ import annotations

import argparse
import atexit
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")

SIZES = {
    "small": (200, 50, 100, 1),
    "large": (5000, 1000, 100, 3),
    "fresh": (500, 120, 100, 1),
}


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("size", choices=sorted(SIZES))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--broker",
        help="redis://... for that Redis server, 'redis' for a redis-server of"
        " its own (default: the configured broker, the filesystem one)",
    )
    parser.add_argument(
        "--no-publish",
        action="store_true",
        help="replace publishing with a plain function (no Celery message)",
    )
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
    return parser.parse_args(argv)


def _own_redis() -> str:
    """Start a redis-server of our own (stopped at exit); its URL."""
    work = Path(tempfile.mkdtemp(prefix="pyfarm-tick-"))
    url = subprocess.run(
        [str(ROOT / ".ci/redis"), "start", str(work / "redis")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    atexit.register(
        subprocess.run, [str(ROOT / ".ci/redis"), "stop", str(work / "redis")]
    )
    return url


if __name__ == "__main__":
    # The broker is read from the configuration when Django starts.
    _ARGS = _arguments()
    if _ARGS.broker:
        broker = _own_redis() if _ARGS.broker == "redis" else _ARGS.broker
        os.environ["PYFARM_SCHEDULER_BROKER"] = broker

import django  # noqa: E402
from django.apps import apps  # noqa: E402

if not apps.ready:
    django.setup()

from django.conf import settings  # noqa: E402
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
    agents: int,
    jobs: int,
    tasks_per_job: int,
    depth: int,
    *,
    analyze: bool = True,
    migrate: bool = True,
) -> None:
    """Fill the database with a fresh farm of the given size.

    With ``analyze`` (PostgreSQL), the farm is vacuumed and analysed once
    built; with ``migrate``, the database is migrated first.
    """
    if migrate:
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
        with mock.patch("scheduling.claiming.send_assignments.delay", sent.append):
            outcomes = _concurrent_ticks(schedulers)
        for seconds, applied, error in sorted(outcomes):
            print(f"  tick: {seconds:6.2f} s, {applied} assignments {error}")
        total = sum(applied for _, applied, _ in outcomes)
        print(f"  {schedulers} scheduler(s): {total} assignments in all")


@dataclass
class Measurement:
    """One tick: its phases (ms), SQL statements and messages published.

    ``cpu_ms`` is the benchmark process's CPU time during the tick (the
    database server's is not in it): steadier than wall time on a busy
    machine.
    """

    agents: int
    jobs: int
    tasks: int
    assignments: int
    load_ms: float
    plan_ms: float
    apply_ms: float
    publish_ms: float
    statements: int
    messages: int
    cpu_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        """The whole tick, publishing included."""
        return self.load_ms + self.plan_ms + self.apply_ms + self.publish_ms


def _purge() -> None:
    """Drop the messages the ticks published (no worker consumes them)."""
    from pyfarm_site.celery import app

    app.control.purge()


def measure(repeat: int, *, publish: bool = True) -> list[Measurement]:
    """Run ``repeat`` ticks on the farm built, undoing each one's assignments.

    With ``publish``, each tick publishes its messages to the configured
    broker (the time spent in ``delay`` is the publish phase); without, a
    plain function stands in for publishing.
    """
    from scheduling import claiming
    from scheduling.tick import run_tick

    real_delay: Callable[[list[str]], Any] = claiming.send_assignments.delay
    published = {"seconds": 0.0, "messages": 0}

    def timed_delay(agent_ids: list[str]) -> None:
        started = time.perf_counter()
        if publish:
            real_delay(agent_ids)
        published["seconds"] += time.perf_counter() - started
        published["messages"] += 1

    measurements = []
    if publish:
        _purge()
    # A plain function rather than a MagicMock, whose bookkeeping would be
    # timed as part of the tick.
    with mock.patch.object(claiming.send_assignments, "delay", timed_delay):
        for _ in range(repeat):
            published.update(seconds=0.0, messages=0)
            with CaptureQueriesContext(connection) as queries:
                cpu_started = time.process_time()
                result = run_tick()
                cpu_ms = (time.process_time() - cpu_started) * 1000
            publish_ms = published["seconds"] * 1000
            measurements.append(
                Measurement(
                    agents=result.agents,
                    jobs=result.jobs,
                    tasks=result.tasks,
                    assignments=len(result.applied),
                    load_ms=result.load_ms,
                    plan_ms=result.plan_ms,
                    # The tick's apply includes the publishing after commits.
                    apply_ms=result.apply_ms - publish_ms,
                    publish_ms=publish_ms,
                    statements=len(queries),
                    messages=int(published["messages"]),
                    cpu_ms=cpu_ms,
                )
            )
            Task.objects.filter(agent__isnull=False).update(
                agent=None, sent_to_agent=False
            )
            if publish:
                _purge()
    return measurements


def report(size: str, measurements: list[Measurement], broker: str) -> list[str]:
    """The lines printed: the farm, each phase's best and median, the counts."""
    first = measurements[0]
    lines = [
        f"{size}: {first.agents} idle agents, {first.jobs} jobs, {first.tasks} "
        f"runnable tasks, {first.assignments} assignments per tick; {broker}"
    ]
    for phase in ("load", "plan", "apply", "publish", "total", "cpu"):
        values = [getattr(m, f"{phase}_ms") for m in measurements]
        median = statistics.median(values)
        lines.append(
            f"  {phase:>7}: best {min(values):7.1f} ms, median {median:7.1f} ms"
        )
    lines.append(
        f"  SQL statements per tick: {sorted({m.statements for m in measurements})}"
    )
    lines.append(f"  messages per tick: {sorted({m.messages for m in measurements})}")
    return lines


def _broker_name(publish: bool) -> str:
    """Where the messages went, without credentials."""
    if not publish:
        return "no publishing (a plain function)"
    url = str(settings.CELERY_BROKER_URL)
    scheme, _, rest = url.partition("://")
    return f"published to {scheme}://{rest.rpartition('@')[2]}"


def main() -> None:
    """Build the farm, then time the ticks."""
    args = _ARGS
    if args.size == "fresh":
        fresh(args.schedulers, analysed_empty=args.analysed_empty)
        return
    build(*SIZES[args.size])
    publish = not args.no_publish
    measurements = measure(args.repeat, publish=publish)
    print("\n".join(report(args.size, measurements, _broker_name(publish))))


if __name__ == "__main__":
    main()
