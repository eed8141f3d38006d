"""Server time of the dashboard's pages on a farm of 100,000 jobs and 5,000,000 tasks.

Usage (a scratch PostgreSQL database: it is migrated, EMPTIED and filled):

    d=$(mktemp -d); url=$(.ci/postgres start $d)
    PYFARM_DATABASE_URI=$url .venv/bin/python benchmarks/dashboard.py
    PYFARM_DATABASE_URI=$url .venv/bin/python benchmarks/dashboard.py --reuse
    .ci/postgres stop $d

Builds the farm with SQL, not the ORM row by row (``INSERT ... SELECT`` over a
series): ``--jobs`` jobs (several queues, users, job types and groups, every
state) with ``--tasks`` tasks in all, one job of ``--big-job`` frames among
them, ``--agents`` agents (each running tasks), five minutes' statistics rows
(agents for 30 days, tasks per queue for 7 days) and one task log of
``--log-mb`` MB. Then ``VACUUM ANALYZE``, as autovacuum keeps a live database.
``--reuse`` keeps a farm built before (the database is not emptied).

Then measures in-process (Django's test ``Client``, logged in as a plain
user, so no network and no other process): each page is requested
``--warmup`` times, then ``--repeat`` times, timed; one more request counts
its SQL statements. ``--url`` adds pages (``{job}`` stands for the big job's
id). Prints a table of URL, median and p95 server time and
statements against the target (150 ms, issue #10). A page that answers
anything but 200 is reported and the script exits with status 1.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")
if __name__ == "__main__":
    # The benchmark's task log (20 MB) goes to var/, not the temp folder.
    os.environ.setdefault(
        "PYFARM_LOGFILES_DIR",
        str(Path(__file__).resolve().parent.parent / "var" / "benchmark-task-logs"),
    )

import django
from django.apps import apps

if not apps.ready:
    django.setup()

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from accounts.models import User
from farm.models import (
    Agent,
    Job,
    JobGroup,
    JobQueue,
    JobType,
    JobTypeVersion,
    Software,
    SoftwareVersion,
    Tag,
    Task,
    TaskLog,
    TaskTaskLogAssociation,
)
from farm.services.logs import logfile_path
from farm.web.forms_statistics import RANGES

TARGET_MS = 150
BIG_JOB_TITLE = "bench big job"
VIEWER = "bench-viewer"
USERS = 40
JOBTYPES = 8
TAGS = 12
GROUPS = 500
SOFTWARE = 5
SOFTWARE_VERSIONS = 5
#: Measured URLs starting with this are requested as htmx does (``HX-Request``).
HTMX = "htmx:"
# Five-minute samples: agent counts for 30 days, task counts and events for 7.
STAT_STEP = 300
AGENT_COUNT_SAMPLES = 30 * 24 * 12
TASK_COUNT_SAMPLES = 7 * 24 * 12


@dataclass(frozen=True)
class Size:
    """How big a farm to build."""

    jobs: int = 100_000
    tasks: int = 5_000_000
    agents: int = 5_000
    big_job: int = 100_000
    log_mb: float = 200.0
    agent_count_samples: int = AGENT_COUNT_SAMPLES
    task_count_samples: int = TASK_COUNT_SAMPLES


@dataclass(frozen=True)
class Farm:
    """What the pages are measured on."""

    viewer: User
    big_job_id: int
    log_task_id: int


# --- SQL of each database ----------------------------------------------------


class Dialect:
    """The few expressions PostgreSQL and SQLite spell differently."""

    def __init__(self, vendor: str) -> None:
        self.postgres = vendor == "postgresql"

    def series(self, alias: str) -> str:
        """A FROM item of the integers 1 to %s, as ``alias(i)``."""
        if self.postgres:
            return f"generate_series(1, %s) AS {alias}(i)"
        return (
            f"(WITH RECURSIVE {alias}(i) AS (SELECT 1 UNION ALL SELECT i + 1"
            f" FROM {alias} WHERE i < %s) SELECT i FROM {alias}) AS {alias}"
        )

    def uuid(self, number: str) -> str:
        """The agent id made of an integer (``0000...00<hex>``)."""
        if self.postgres:
            return f"lpad(to_hex({number}), 32, '0')::uuid"
        return f"printf('%%032x', {number})"

    def ago(self, seconds: str) -> str:
        """The time %s (a timestamp parameter) minus ``seconds``."""
        if self.postgres:
            return f"(%s::timestamptz - make_interval(secs => {seconds}))"
        return (
            f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, '-' || ({seconds}) || ' seconds')"
        )

    def inet(self, text: str) -> str:
        """An IP address from text."""
        return f"({text})::inet" if self.postgres else text


def _execute(cursor: CursorWrapper, sql: str, params: Sequence[Any]) -> int:
    cursor.execute(sql, list(params))
    return cursor.rowcount


@contextmanager
def _phase(name: str, timings: dict[str, float]) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - started


# --- the farm ----------------------------------------------------------------


def _small_tables(now: datetime) -> tuple[User, list[JobQueue]]:
    """Users, queues, job types, tags, groups (a few hundred rows: the ORM)."""
    users = User.objects.bulk_create(
        [User(username=VIEWER, email=f"{VIEWER}@example.com")]
        + [
            User(username=f"artist{n:02d}", email=f"artist{n:02d}@example.com")
            for n in range(USERS - 1)
        ]
    )
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_update(users, ["password"])
    leaves = []
    for top in ("film", "episodic", "commercials", "rnd"):
        parent = JobQueue.objects.create(name=top, weight=2)
        for child in ("lighting", "fx", "comp", "sim"):
            leaves.append(JobQueue.objects.create(name=child, parent=parent))
    jobtypes = JobType.objects.bulk_create(
        JobType(name=name)
        for name in (
            "Maya",
            "Houdini",
            "Nuke",
            "Blender",
            "Katana",
            "Arnold",
            "VRay",
            *(f"Tool{n}" for n in range(JOBTYPES - 7)),
        )
    )
    JobTypeVersion.objects.bulk_create(
        JobTypeVersion(jobtype=jobtype, version=version, classname="Bench", code="")
        for jobtype in jobtypes
        for version in (1, 2)
    )
    Tag.objects.bulk_create(Tag(tag=f"tag{n}") for n in range(TAGS))
    software = Software.objects.bulk_create(
        Software(software=f"software{n}") for n in range(SOFTWARE)
    )
    SoftwareVersion.objects.bulk_create(
        SoftwareVersion(software=item, version=f"{rank}.0", rank=rank)
        for item in software
        for rank in range(1, SOFTWARE_VERSIONS + 1)
    )
    JobGroup.objects.bulk_create(
        JobGroup(
            title=f"shot {n:04d}",
            main_jobtype=jobtypes[n % len(jobtypes)],
            user=users[n % len(users)],
        )
        for n in range(GROUPS)
    )
    return users[0], leaves


def _ids(model: type[Any]) -> tuple[int, int]:
    """The lowest and highest id of a model's rows (they are consecutive)."""
    rows = model.objects.order_by("pk").values_list("pk", flat=True)
    return rows.first(), rows.last()


def _jobs(cursor: CursorWrapper, sql: Dialect, size: Size, now: str) -> None:
    """``size.jobs - 1`` jobs of every state, then the big job (the last id)."""
    version_lo, version_hi = _ids(JobTypeVersion)
    queue_lo, queue_hi = _ids(JobQueue)
    user_lo, user_hi = _ids(User)
    group_lo, group_hi = _ids(JobGroup)
    per_job = max(1, (size.tasks - size.big_job) // max(1, size.jobs - 1))
    # State by i % 20: 14 done, 1 failed, 2 queued, 1 paused, 2 running.
    state = (
        "CASE WHEN i %% 20 < 14 THEN 'done' WHEN i %% 20 = 14 THEN 'failed'"
        " WHEN i %% 20 < 17 THEN 'queued' WHEN i %% 20 = 17 THEN 'paused'"
        " ELSE 'running' END"
    )
    submitted = sql.ago(f"({size.jobs} - i) * 30")
    started = sql.ago(f"({size.jobs} - i) * 30 - 60")
    finished = sql.ago(f"({size.jobs} - i) * 30 - 3600")
    _execute(
        cursor,
        f"""
        INSERT INTO jobs (title, state, priority, weight, start, "end", by, batch,
            requeue, cpus, ram, hidden, to_be_deleted, notes, time_submitted,
            time_started, time_finished, completion_notify_sent,
            jobtype_version_id, job_queue_id, user_id, job_group_id)
        SELECT 'shot ' || (i / 10) || ' pass ' || (i %% 10), {state},
            i %% 5, 1 + i %% 3, 1, {per_job}, 1, 1, 3, 1, 1024, FALSE, FALSE, '',
            {submitted},
            CASE WHEN {state} IN ('queued') THEN NULL ELSE {started} END,
            CASE WHEN {state} IN ('done', 'failed') THEN {finished} END,
            FALSE,
            {version_lo} + i %% ({version_hi - version_lo + 1}),
            {queue_lo} + i %% ({queue_hi - queue_lo + 1}),
            {user_lo} + i %% ({user_hi - user_lo + 1}),
            CASE WHEN i %% 3 = 0 THEN {group_lo} + i %% ({group_hi - group_lo + 1})
            END
        FROM {sql.series("s")} ORDER BY i
        """,
        [now, now, now, size.jobs - 1],
    )
    job = Job.objects.create(
        title=BIG_JOB_TITLE,
        state="running",
        start=1,
        end=size.big_job,
        jobtype_version_id=version_lo,
        queue_id=queue_lo,
        user_id=user_lo,
        time_started=datetime.fromisoformat(now),
    )
    tag_lo, tag_hi = _ids(Tag)
    _execute(
        cursor,
        f"""
        INSERT INTO job_tag_associations (job_id, tag_id)
        SELECT id, {tag_lo} + id %% ({tag_hi - tag_lo + 1}) FROM jobs
        WHERE id %% 4 = 0 AND id <> %s
        """,
        [job.pk],
    )


def _tasks(cursor: CursorWrapper, sql: Dialect, size: Size, now: str) -> None:
    """The tasks of every job, their states following their job's."""
    big = Job.objects.get(title=BIG_JOB_TITLE)
    per_job = int(Job.objects.exclude(pk=big.pk).values_list("end", flat=True)[0])
    half = per_job // 2 + 1
    # Running jobs come in pairs every 20 jobs: number them, for every agent
    # to get tasks (two each at full size).
    agent = sql.uuid(f"(id / 20 * 2 + id %% 2) %% {size.agents} + 1")
    columns = (
        "frame, state, priority, attempts, failures, progress, hidden,"
        " sent_to_agent, time_submitted, time_started, time_finished, job_id,"
        " agent_id"
    )
    state = (
        "CASE j.state WHEN 'done' THEN 'done' WHEN 'queued' THEN 'queued'"
        " WHEN 'paused' THEN 'paused'"
        " WHEN 'failed' THEN CASE WHEN f.i %% 7 = 0 THEN 'failed' ELSE 'done' END"
        f" ELSE CASE WHEN f.i < {half} THEN 'done' WHEN f.i = {half} THEN 'running'"
        " ELSE 'queued' END END"
    )
    _execute(
        cursor,
        f"""
        INSERT INTO tasks ({columns})
        SELECT i, st, 0,
            CASE WHEN st IN ('queued', 'paused') THEN 0 ELSE 1 END,
            CASE WHEN st = 'failed' THEN 1 ELSE 0 END,
            CASE WHEN st = 'done' THEN 1.0 WHEN st = 'running' THEN 0.5 ELSE 0.0 END,
            FALSE, st = 'running', time_submitted,
            CASE WHEN st IN ('queued', 'paused') THEN NULL ELSE time_started END,
            CASE WHEN st IN ('done', 'failed') THEN time_started END,
            id, CASE WHEN st = 'running' THEN {agent} END
        FROM (SELECT j.id, j.time_submitted, j.time_started, f.i, {state} AS st
              FROM jobs j CROSS JOIN {sql.series("f")} WHERE j.id <> %s) AS t
        ORDER BY id, i
        """,
        [per_job, big.pk],
    )
    done, failed = size.big_job * 30 // 100, size.big_job * 31 // 100
    running = failed + min(100, size.agents)
    big_state = (
        f"CASE WHEN i <= {done} THEN 'done' WHEN i <= {failed} THEN 'failed'"
        f" WHEN i <= {running} THEN 'running' ELSE 'queued' END"
    )
    _execute(
        cursor,
        f"""
        INSERT INTO tasks ({columns})
        SELECT i, st, 0, CASE WHEN st = 'queued' THEN 0 ELSE 1 END,
            CASE WHEN st = 'failed' THEN 1 ELSE 0 END,
            CASE WHEN st = 'done' THEN 1.0 WHEN st = 'running' THEN 0.3 ELSE 0.0 END,
            FALSE, st = 'running', {sql.ago("7200")},
            CASE WHEN st <> 'queued' THEN {sql.ago("7200 - i %% 3600")} END,
            CASE WHEN st IN ('done', 'failed') THEN {sql.ago("3600 - i %% 3600")}
            END,
            %s, CASE WHEN st = 'running' THEN {sql.uuid(f"i %% {size.agents} + 1")}
            END
        FROM (SELECT i, {big_state} AS st FROM {sql.series("s")}) AS b
        ORDER BY i
        """,
        [now, now, now, big.pk, size.big_job],
    )


def _agents(cursor: CursorWrapper, sql: Dialect, size: Size, now: str) -> None:
    """Agents ``render10001`` on: mostly running, some offline or disabled."""
    address = "'10.' || (i / 62500) || '.' || (i / 250 %% 250) || '.' || (i %% 250 + 1)"
    _execute(
        cursor,
        f"""
        INSERT INTO agents (id, hostname, port, use_address, state, cpus, ram,
            free_ram, ram_allocation, cpu_allocation, time_offset, notes,
            restart_requested, remote_ip, os_class, os_fullname, cpu_name,
            last_heard_from, version)
        SELECT {sql.uuid("i")}, 'render' || (10000 + i), 50000,
            'remote',
            CASE WHEN i %% 50 = 0 THEN 'offline' WHEN i %% 97 = 0 THEN 'disabled'
                ELSE 'running' END,
            16, 65536, 20000 + i %% 40000, 0.8, 1.0, 0, '', FALSE,
            {sql.inet(address)},
            'linux', 'Debian 12', 'AMD EPYC', {sql.ago("i %% 60")}, '0.9'
        FROM {sql.series("s")}
        """,
        [now, size.agents],
    )
    tag_lo, _ = _ids(Tag)
    version_lo, _ = _ids(SoftwareVersion)
    _execute(
        cursor,
        f"""
        INSERT INTO agent_tag_associations (agent_id, tag_id)
        SELECT {sql.uuid("i")}, %s + i %% %s FROM {sql.series("s")}
        UNION ALL
        SELECT {sql.uuid("i")}, %s + (i + 1) %% %s FROM {sql.series("t")}
        """,
        [tag_lo, TAGS, size.agents, tag_lo, TAGS, size.agents],
    )
    _execute(
        cursor,
        f"""
        INSERT INTO agent_software_version_associations (agent_id,
            softwareversion_id)
        SELECT {sql.uuid("i")}, %s + i %% %s FROM {sql.series("s")}
        """,
        [version_lo, SOFTWARE * SOFTWARE_VERSIONS, size.agents],
    )


def _statistics(cursor: CursorWrapper, sql: Dialect, size: Size, now: str) -> None:
    """Five-minute samples: agent counts, and task counts and events per queue."""
    _execute(
        cursor,
        f"""
        INSERT INTO agent_counts (counted_time, num_online, num_running,
            num_offline, num_disabled)
        SELECT {sql.ago(f"i * {STAT_STEP}")}, 100 + i %% 50, 4000 + i %% 900,
            100 + i %% 7, 51
        FROM {sql.series("s")}
        """,
        [now, size.agent_count_samples],
    )
    queue_lo, queue_hi = _ids(JobQueue)
    _execute(
        cursor,
        f"""
        INSERT INTO task_counts (counted_time, job_queue_id, total_queued,
            total_running, total_done, total_failed)
        SELECT {sql.ago(f"s.i * {STAT_STEP}")}, q.id, 10000 + s.i %% 5000,
            300 + s.i %% 200, 200000 + s.i, 1000 + s.i %% 100
        FROM job_queues q CROSS JOIN {sql.series("s")}
        WHERE q.id BETWEEN %s AND %s
        """,
        [now, size.task_count_samples, queue_lo, queue_hi],
    )
    _execute(
        cursor,
        f"""
        INSERT INTO task_event_counts (time_start, time_end, job_queue_id,
            num_new, num_deleted, num_restarted, num_started, num_failed, num_done)
        SELECT {sql.ago(f"(s.i + 1) * {STAT_STEP}")}, {sql.ago(f"s.i * {STAT_STEP}")},
            q.id, s.i %% 300, s.i %% 3, s.i %% 5, 100 + s.i %% 90, s.i %% 11,
            90 + s.i %% 80
        FROM job_queues q CROSS JOIN {sql.series("s")}
        WHERE q.id BETWEEN %s AND %s
        """,
        [now, now, size.task_count_samples, queue_lo, queue_hi],
    )


LOG_LINE = b"[render] frame 1: sampling tile 0042 of 0256, 12.5 Msamples/s\n"


def _write_log(task: Task, size: Size, *, compressed: bool) -> None:
    """A log of ``size.log_mb`` MB for ``task``, written in chunks (gzipped)."""
    log = TaskLog.objects.create(identifier=f"bench-{task.pk}-1.log")
    TaskTaskLogAssociation.objects.create(task=task, log=log, attempt=1, state="done")
    path = logfile_path(log.identifier)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = max(1, int(size.log_mb * 1e6) // len(LOG_LINE))
    chunk = LOG_LINE * 10_000
    with (
        gzip.open(path.with_name(path.name + ".gz"), "wb")
        if compressed
        else path.open("wb")
    ) as handle:
        for _ in range(lines // 10_000):
            handle.write(chunk)
        handle.write(LOG_LINE * (lines % 10_000))


def _log(size: Size, big_job_id: int) -> int:
    """Logs of ``size.log_mb`` MB: the big job's first task's (plain, its id
    is returned) and its second task's (gzipped)."""
    first, second = Task.objects.filter(job_id=big_job_id).order_by("frame")[:2]
    _write_log(first, size, compressed=False)
    _write_log(second, size, compressed=True)
    return int(first.pk)


def _postgres_bulk_settings(cursor: CursorWrapper) -> None:
    """Settings of the filling transaction, on PostgreSQL.

    Room to sort the tasks in memory (by job and frame, as submitted); and,
    for a superuser (as on ``.ci/postgres``), no foreign-key triggers: the
    rows are consistent by construction, and checking 5,000,000 tasks'
    references at COMMIT would double the time of the build.
    """
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    if cursor.fetchone()[0]:
        cursor.execute("SET LOCAL session_replication_role = replica")


def build(size: Size, *, now: datetime | None = None) -> tuple[Farm, dict[str, float]]:
    """Fill an empty farm database; returns the farm and each phase's seconds."""
    timings: dict[str, float] = {}
    stamp = (now or datetime.now(UTC)).isoformat(sep=" ")
    sql = Dialect(connection.vendor)
    started = time.perf_counter()
    with transaction.atomic():
        cursor = connection.cursor()
        if sql.postgres:
            _postgres_bulk_settings(cursor)
        with _phase("users, queues, job types", timings):
            viewer, _ = _small_tables(now or datetime.now(UTC))
        with _phase("agents", timings):
            _agents(cursor, sql, size, stamp)
        with _phase("jobs", timings):
            _jobs(cursor, sql, size, stamp)
        with _phase("tasks", timings):
            _tasks(cursor, sql, size, stamp)
        with _phase("statistics", timings):
            _statistics(cursor, sql, size, stamp)
    timings["commit"] = time.perf_counter() - started - sum(timings.values())
    big_job_id = int(Job.objects.get(title=BIG_JOB_TITLE).pk)
    with _phase("task log", timings):
        log_task_id = _log(size, big_job_id)
    return Farm(viewer, big_job_id, log_task_id), timings


def analyze() -> None:
    """Statistics (and, on PostgreSQL, a visibility map) for the planner."""
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE"
        )


def existing_farm() -> Farm | None:
    """The farm a previous run built (``--reuse``), if there is one."""
    big = Job.objects.filter(title=BIG_JOB_TITLE).first()
    viewer = User.objects.filter(username=VIEWER).first()
    if big is None or viewer is None:
        return None
    link = (
        TaskTaskLogAssociation.objects.filter(task__job=big)
        .order_by("task__frame")
        .first()
    )
    if link is None:
        return None
    return Farm(viewer, int(big.pk), int(link.task_id))


# --- measuring -----------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One page's measurement."""

    url: str
    status: int
    first_ms: float = 0.0
    median_ms: float = 0.0
    p95_ms: float = 0.0
    queries: int = 0
    peak_mb: float = 0.0


def pages(farm: Farm) -> list[str]:
    """The URLs measured: every page, its filters, deep pages, htmx refreshes.

    A URL starting with `HTMX` is the page's own refresh (``HX-Request``).
    """
    job = farm.big_job_id
    jobs_middle = max(1, Job.objects.count() // 50 // 2)
    tasks_middle = max(1, Task.objects.filter(job_id=job).count() // 100 // 2)
    agents_middle = max(1, Agent.objects.count() // 100 // 2)
    agent = Agent.objects.order_by("hostname").values_list("pk", flat=True).first()
    group = JobGroup.objects.order_by("pk").values_list("pk", flat=True).first()
    jobtype = JobType.objects.order_by("pk").values_list("pk", flat=True).first()
    software = Software.objects.order_by("pk").values_list("pk", flat=True).first()
    queue = JobQueue.objects.order_by("pk").values_list("pk", flat=True).first()
    logs = dict(
        TaskTaskLogAssociation.objects.filter(task__job_id=job)
        .order_by("task__frame")
        .values_list("task_id", "log_id")
    )
    plain, packed = list(logs)[:2]
    log = TaskLog.objects.get(pk=logs[plain])
    near_end = max(0, logfile_path(log.identifier).stat().st_size - 10_000)
    jobs = reverse("web:jobs")
    job_page = reverse("web:job", args=[job])
    agents = reverse("web:agents")
    statistics_page = reverse("web:statistics")
    return [
        jobs,
        f"{jobs}?state=running",
        f"{jobs}?state=done&state=failed&sort=-priority",
        f"{jobs}?sort=title",
        f"{jobs}?sort=-finished",
        f"{jobs}?q=shot",
        f"{jobs}?mine=1",
        f"{jobs}?tag=tag3",
        f"{jobs}?page={jobs_middle}",
        f"{HTMX}{jobs}",
        job_page,
        f"{job_page}?page={tasks_middle}",
        f"{job_page}?task_state=failed",
        f"{job_page}?task_state=queued",
        reverse("web:job_live", args=[job]),
        reverse("web:job_chart", args=[job]),
        reverse("web:job_explain", args=[job]),
        reverse("web:task_logs", args=[plain]),
        reverse("web:task_log_more", args=[plain, logs[plain]]) + f"?offset={near_end}",
        reverse("web:task_logs", args=[packed]),
        agents,
        f"{agents}?sort=-free_ram&tag=tag3",
        f"{agents}?page={agents_middle}",
        f"{HTMX}{agents}",
        reverse("web:agent", args=[agent]),
        reverse("web:queues"),
        reverse("web:jobgroups"),
        reverse("web:jobgroup", args=[group]),
        reverse("web:jobtypes"),
        reverse("web:jobtype", args=[jobtype]),
        reverse("web:software_list"),
        reverse("web:software", args=[software]),
        statistics_page,
        *(f"{statistics_page}?range={key}" for key in RANGES if key != "custom"),
        f"{statistics_page}?range=1w&queue={queue}",
        reverse("web:account"),
    ]


def _get(client: Client, url: str) -> int:
    """GET ``url`` (an `HTMX` one as htmx asks), read it whole; the status."""
    headers = {}
    if url.startswith(HTMX):
        url = url.removeprefix(HTMX)
        headers["HX-Request"] = "true"
    response = client.get(url, headers=headers)
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return int(response.status_code)


def measure(
    client: Client, url: str, *, warmup: int, repeat: int, clock: Callable[[], float]
) -> Result:
    """Time ``repeat`` GETs of ``url`` after ``warmup`` (and the first, uncached).

    One more request counts its statements, another the peak memory Python
    allocated (tracemalloc, apart from the timings: it slows Python down).
    """
    started = clock()
    status = _get(client, url)
    first = (clock() - started) * 1000
    if status != 200:
        return Result(url, status)
    for _ in range(warmup):
        _get(client, url)
    times = []
    for _ in range(repeat):
        started = clock()
        _get(client, url)
        times.append((clock() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        _get(client, url)
    # Read now: the next request empties the connection's log of statements.
    statements = len(queries)
    tracemalloc.start()
    try:
        _get(client, url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return Result(
        url, 200, first, statistics.median(times), p95, statements, peak / 1e6
    )


def measure_pages(
    farm: Farm, urls: Sequence[str], *, warmup: int, repeat: int
) -> list[Result]:
    """Measure each of ``urls`` as the farm's plain user."""
    client = Client()
    client.force_login(farm.viewer)
    hosts = [*settings.ALLOWED_HOSTS, "testserver"]
    with override_settings(DEBUG=False, ALLOWED_HOSTS=hosts):
        return [
            measure(client, url, warmup=warmup, repeat=repeat, clock=time.perf_counter)
            for url in urls
        ]


def report(results: list[Result]) -> bool:
    """Print the table; whether every page answered 200."""
    width = max([34, *(len(result.url) for result in results)])
    print(
        f"{'URL':<{width}} {'first ms':>9} {'median ms':>10} {'p95 ms':>8}"
        f" {'queries':>8} {'peak MB':>8}  target"
    )
    for result in results:
        if result.status != 200:
            print(f"{result.url:<{width}} {'FAILED: answered ' + str(result.status)}")
            continue
        verdict = "ok" if result.p95_ms <= TARGET_MS else "SLOW"
        print(
            f"{result.url:<{width}} {result.first_ms:>9.1f} {result.median_ms:>10.1f}"
            f" {result.p95_ms:>8.1f} {result.queries:>8} {result.peak_mb:>8.1f}"
            f"  <= {TARGET_MS} ms: {verdict}"
        )
    try:
        load = os.getloadavg()
        print("load average: " + " ".join(f"{value:.2f}" for value in load))
    except OSError:
        pass
    return all(result.status == 200 for result in results)


def main() -> None:
    """Build (or reuse) the farm, then measure the pages; see the docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    defaults = Size()
    parser.add_argument("--jobs", type=int, default=defaults.jobs)
    parser.add_argument("--tasks", type=int, default=defaults.tasks)
    parser.add_argument("--agents", type=int, default=defaults.agents)
    parser.add_argument("--big-job", type=int, default=defaults.big_job)
    parser.add_argument("--log-mb", type=float, default=defaults.log_mb)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the farm a previous run built"
    )
    parser.add_argument(
        "--url",
        action="append",
        default=[],
        help="measure this URL too ({job}: the big job's id), e.g. a deep page"
        " of its tasks: --url '/jobs/{job}/?page=1000'",
    )
    args = parser.parse_args()
    size = Size(args.jobs, args.tasks, args.agents, args.big_job, args.log_mb)

    # Whitenoise looks for collected static files the pages do not need here.
    warnings.filterwarnings("ignore", message="No directory at")
    call_command("migrate", verbosity=0)
    farm = existing_farm() if args.reuse else None
    if farm is None:
        started = time.perf_counter()
        call_command("flush", interactive=False, verbosity=0)
        farm, timings = build(size)
        with _phase("VACUUM ANALYZE", timings):
            analyze()
        total = time.perf_counter() - started
        print(f"farm built in {total:.1f} s on {connection.vendor}:")
        for name, seconds in timings.items():
            print(f"  {name:<26} {seconds:7.1f} s")
    else:
        print("reusing the farm built before")
    big_tasks = Task.objects.filter(job_id=farm.big_job_id).count()
    busy = Task.objects.filter(state="running").values("agent").distinct().count()
    print(
        f"{Job.objects.count()} jobs, {Task.objects.count()} tasks (job"
        f" {farm.big_job_id}: {big_tasks}), agents with running tasks: {busy}"
    )
    urls = pages(farm) + [url.format(job=farm.big_job_id) for url in args.url]
    results = measure_pages(farm, urls, warmup=args.warmup, repeat=args.repeat)
    if not report(results):
        raise SystemExit("some pages did not answer 200 (see above)")


if __name__ == "__main__":
    main()
