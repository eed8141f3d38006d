"""Our list endpoints against the original master's, A/B interleaved (issue #12).

Usage (PostgreSQL; our database is migrated and gets 1,000 agents and a job
of 5,000 tasks; the original's database is created beside it if missing and
filled with the same farm):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/original_ab.py \
        --original-venv /tmp/original/venv \
        [--original-database postgresql://.../pyfarm_original] \
        [--agents 1000] [--tasks 5000] [--workers 2] [--clients 2] \
        [--rounds 3] [--seconds 5]
    python benchmarks/original_ab.py --in-process 200 [--agents ...] [--tasks ...]

The original (``pyfarm.master==0.8.6``) runs from a virtualenv of its own,
never from ours: see "The original master" in ``benchmarks/README.md`` for
how to install it (``requirements/original-bench.txt``).

Both masters get the same farm: ``--agents`` agents (the same ids, host
names, ports and addresses) and one job of ``--tasks`` frames, all queued,
written through each one's own models (ours: ``bulk_create`` and
``create_job``; the original's: its SQLAlchemy models, by running this file
under the original's interpreter with ``--fill-original``). Both then run
under the same gunicorn settings: ``--workers`` sync workers, nothing else
(ours as ``pyfarm_site.wsgi:application``, the original as
``pyfarm.master.entrypoints:create_app()``), each on a free loopback port.

For ``GET /api/v1/agents/`` and then ``GET /api/v1/jobs/<id>/tasks/``, the
two answers are compared first (the keys of each row, and the values, rows
matched by agent id or by frame; differences are listed, not fixed). Then
``--rounds`` rounds alternate which master goes first; in each, wrk
(``--clients`` connections, one thread; a Python client when wrk is not
installed) loads one master for ``--seconds``, then the other, so only one
is loaded at a time. Per round and overall: requests per second, latency
(p50, p99), and server CPU per request (utime + stime of the master's
gunicorn processes, from ``/proc``), and the ratio ours / the original's
(issue #12's goals: 3x for the agents, 5x for the tasks).

Ours is asked with an admin token (``GET /agents/`` is not open to the
agent networks); the original asks no credentials.

``--in-process N`` measures ours alone, without the original, a server or a
client (any database): the CPU time of N requests to each endpoint through
Django's WSGI handler (median and best), for before/after comparisons that
the machine's load disturbs less.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# Its neighbours by their own names, as when run as a file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import server_cpu, wrk_counts  # noqa: E402

#: The bench job's title, in both masters.
JOB_TITLE = "bench original ab"
#: Agent ids are uuid5 of their host name in this namespace: the same in both.
AGENT_NAMESPACE = uuid.UUID("6c6f6e67-2d6c-6973-7473-2d6f66206167")
#: The tasks' submission time (UTC) in both masters, so that their rows compare.
SUBMITTED = (2026, 1, 2, 3, 4, 5, 678901)
WRK = "/usr/bin/wrk"


def farm_agents(count: int) -> list[dict[str, Any]]:
    """The bench farm's agents, as plain values both masters can write."""
    agents = []
    for n in range(count):
        hostname = f"bench-agent{n:05d}"
        agents.append(
            {
                "id": str(uuid.uuid5(AGENT_NAMESPACE, hostname)),
                "hostname": hostname,
                "port": 50000,
                "remote_ip": f"10.{n // 62500}.{n // 250 % 250}.{n % 250 + 1}",
                "cpus": 16,
                "ram": 65536,
                "free_ram": 60000,
            }
        )
    return agents


# --- the original's side (run under the original's interpreter) ---------------


def fill_original(agents: int, tasks: int) -> None:
    """Write the farm into the original's database (``PYFARM_DATABASE_URI``).

    Runs under the original's interpreter: its tables are created
    (``create_all``), the bench agents and job of an earlier run deleted,
    then the agents, a job type and the job of ``tasks`` queued tasks
    inserted through its models. Prints the job's id.
    """
    from datetime import datetime

    from pyfarm.master.application import db
    from pyfarm.master.entrypoints import create_app
    from pyfarm.models.agent import Agent
    from pyfarm.models.job import Job
    from pyfarm.models.jobtype import JobType, JobTypeVersion
    from pyfarm.models.task import Task

    app = create_app()
    with app.app_context():
        db.create_all()
        rows = farm_agents(agents)
        old_jobs = [job.id for job in Job.query.filter_by(title=JOB_TITLE)]
        if old_jobs:
            Task.query.filter(Task.job_id.in_(old_jobs)).delete(
                synchronize_session=False
            )
            Job.query.filter(Job.id.in_(old_jobs)).delete(synchronize_session=False)
        Task.query.filter(Task.agent_id.isnot(None)).update(
            {"agent_id": None}, synchronize_session=False
        )
        Agent.query.delete(synchronize_session=False)
        db.session.commit()
        db.session.bulk_insert_mappings(
            Agent,
            [
                {
                    **row,
                    "id": uuid.UUID(row["id"]),
                    "use_address": "remote",
                    "state": "online",
                    "time_offset": 0,
                    "restart_requested": False,
                    "last_heard_from": datetime.utcnow(),
                }
                for row in rows
            ],
        )
        jobtype = JobType.query.filter_by(name="BenchOriginalAB").first()
        if jobtype is None:
            jobtype = JobType(name="BenchOriginalAB", description="bench")
            db.session.add(jobtype)
            db.session.flush()
            db.session.add(
                JobTypeVersion(jobtype=jobtype, version=1, code="", classname="Bench")
            )
            db.session.flush()
        version = JobTypeVersion.query.filter_by(jobtype_id=jobtype.id).first()
        job = Job(
            title=JOB_TITLE,
            jobtype_version=version,
            weight=10,
            priority=0,
            by=1,
            batch=1,
            requeue=3,
            cpus=1,
            ram=32,
            time_submitted=datetime.utcnow(),
        )
        db.session.add(job)
        db.session.flush()
        now = datetime(*SUBMITTED)
        db.session.bulk_insert_mappings(
            Task,
            [
                {
                    "job_id": job.id,
                    "frame": frame,
                    "priority": 0,
                    "hidden": False,
                    "attempts": 0,
                    "failures": 0,
                    "sent_to_agent": False,
                    "progress": 0.0,
                    "time_submitted": now,
                }
                for frame in range(tasks)
            ],
        )
        db.session.commit()
        print(job.id)


# --- our side -----------------------------------------------------------------


def _setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")
    import django

    django.setup()


def fill_ours(agents: int, tasks: int, *, migrate: bool = True) -> tuple[str, int]:
    """Write the farm into our database; (an admin token, the job's id).

    Migrates (unless not ``migrate``), deletes the bench agents and job of
    an earlier run, then writes the agents (``bulk_create``) and submits the
    job (``create_job``), its tasks submitted at `SUBMITTED`.
    """
    from datetime import UTC, datetime

    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from accounts.models import User
    from farm.models import Agent, Job, JobType, JobTypeVersion, Task
    from farm.services import create_job
    from farm.services.jobs import delete_tasks

    if migrate:
        call_command("migrate", verbosity=0)
    jobs = Job.objects.filter(title=JOB_TITLE)
    delete_tasks(Task.objects.filter(job__in=jobs))
    jobs.delete()
    rows = farm_agents(agents)
    Agent.objects.filter(hostname__startswith="bench-agent").delete()
    Agent.objects.bulk_create(
        Agent(**{**row, "id": uuid.UUID(row["id"])}) for row in rows
    )
    admin, _ = User.objects.get_or_create(
        username="benchmark-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    token, _ = Token.objects.get_or_create(user=admin)
    jobtype, _ = JobType.objects.get_or_create(name="BenchOriginalAB")
    version, _ = JobTypeVersion.objects.get_or_create(
        jobtype=jobtype, version=1, defaults={"code": "", "classname": "Bench"}
    )
    job = create_job(jobtype_version=version, title=JOB_TITLE, start=0, end=tasks - 1)
    Task.objects.filter(job=job).update(time_submitted=datetime(*SUBMITTED, tzinfo=UTC))
    return str(token.key), job.pk


def _original_database(ours: str, given: str | None) -> str:
    """The original's database URL; created on our server when not ``given``."""
    if given:
        return given
    import psycopg

    parts = urlsplit(ours)
    name = parts.path.lstrip("/") + "_original"
    with psycopg.connect(ours, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


# --- servers ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gunicorn(
    python: str, app: str, env: dict[str, str], workers: int, log: Path, cwd: Path
) -> Iterator[str]:
    """``python -m gunicorn`` serving ``app`` on a free port; yields its URL.

    Sync workers, ``workers`` of them, gunicorn's defaults otherwise; the
    output goes to ``log``. Stopped (SIGTERM, then SIGKILL) on exit.
    """
    port = _free_port()
    bind = f"127.0.0.1:{port}"
    with log.open("ab") as output:
        server = subprocess.Popen(
            [
                python,
                "-m",
                "gunicorn",
                "--bind",
                bind,
                "--workers",
                str(workers),
                "--worker-class",
                "sync",
                app,
            ],
            env=env,
            cwd=cwd,
            stdout=output,
            stderr=output,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"{app} exited ({server.returncode}); see {log}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=1),
            ):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{app} did not start; see {log}")
            time.sleep(0.2)
        yield f"http://{bind}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- load ---------------------------------------------------------------------


@dataclass
class Load:
    """One timed load of one URL."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Requests answered per second."""
        return (self.requests - self.errors) / self.seconds

    @property
    def cpu_ms(self) -> float:
        """Server CPU milliseconds per request."""
        return self.cpu_seconds * 1000 / max(self.requests, 1)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _wrk_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> Load:
    """wrk's ``--latency`` report as a `Load` (without the CPU)."""
    counts = wrk_counts(output)
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.M))
    return Load(
        requests=counts.requests,
        seconds=counts.seconds,
        p50_ms=_wrk_ms(percentiles["50"]) if "50" in percentiles else float("nan"),
        p99_ms=_wrk_ms(percentiles["99"]) if "99" in percentiles else float("nan"),
        errors=counts.failed,
    )


def _python_load(
    url: str, headers: dict[str, str], clients: int, seconds: float
) -> Load:
    """The fallback client: ``clients`` keep-alive threads GET ``url``."""
    import requests

    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def client() -> None:
        session = requests.Session()
        session.headers.update(headers)
        while not stop.is_set():
            started = time.perf_counter()
            try:
                status = session.get(url, timeout=60).status_code
            except requests.RequestException:
                status = 0
            samples.append((time.perf_counter() - started, status))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    times = sorted(t * 1000 for t, _ in samples) or [0.0]
    return Load(
        requests=len(samples),
        seconds=elapsed,
        p50_ms=times[len(times) // 2],
        p99_ms=times[min(len(times) - 1, int(len(times) * 0.99))],
        errors=sum(1 for _, status in samples if status != 200),
    )


def load(url: str, headers: dict[str, str], clients: int, seconds: float) -> Load:
    """Load ``url`` for ``seconds`` (wrk when installed); with the server's CPU."""
    base = urlunsplit(urlsplit(url)._replace(path="", query=""))
    cpu = server_cpu(base)
    if shutil.which(WRK):
        command = [
            WRK,
            "-t1",
            f"-c{clients}",
            f"-d{round(seconds)}s",
            "--latency",
            "--timeout",
            "60s",
        ]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        result = parse_wrk(
            subprocess.run(
                [*command, url], capture_output=True, text=True, check=True
            ).stdout
        )
    else:
        result = _python_load(url, headers, clients, seconds)
    result.cpu_seconds = server_cpu(base) - cpu
    return result


# --- answers ------------------------------------------------------------------


def compare_answers(
    ours: list[dict[str, Any]], original: list[dict[str, Any]], key: str
) -> list[str]:
    """How the rows of two answers differ (rows matched on ``key``)."""
    notes: list[str] = []
    if len(ours) != len(original):
        notes.append(f"rows: ours {len(ours)}, original {len(original)}")

    def by_key(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
        return {float(row[key]) if key == "frame" else row[key]: row for row in rows}

    mine, theirs = by_key(ours), by_key(original)
    missing = set(theirs) - set(mine)
    extra = set(mine) - set(theirs)
    if missing:
        notes.append(f"{len(missing)} rows only in the original's answer")
    if extra:
        notes.append(f"{len(extra)} rows only in ours")
    our_keys: set[tuple[str, ...]] = set()
    their_keys: set[tuple[str, ...]] = set()
    differing: dict[str, list[tuple[Any, Any]]] = {}
    for row_key in set(mine) & set(theirs):
        a, b = mine[row_key], theirs[row_key]
        our_keys.add(tuple(a))
        their_keys.add(tuple(b))
        for name in set(a) & set(b):
            if a[name] != b[name]:
                differing.setdefault(name, []).append((a[name], b[name]))
    if our_keys != their_keys:
        ours_only = {k for keys in our_keys for k in keys} - {
            k for keys in their_keys for k in keys
        }
        theirs_only = {k for keys in their_keys for k in keys} - {
            k for keys in our_keys for k in keys
        }
        if ours_only or theirs_only:
            notes.append(
                f"keys only in ours: {sorted(ours_only)}; "
                f"only in the original's: {sorted(theirs_only)}"
            )
    for name, pairs in sorted(differing.items()):
        ours_value, theirs_value = pairs[0]
        notes.append(
            f"{name} differs in {len(pairs)} rows, e.g. ours {ours_value!r}, "
            f"original {theirs_value!r}"
        )
    return notes


@dataclass
class Endpoint:
    """One endpoint to compare: its URL in each master and the headers ours needs."""

    label: str
    ours: str
    original: str
    headers: dict[str, str]
    key: str
    results: dict[str, list[Load]] = field(
        default_factory=lambda: {"ours": [], "original": []}
    )


def check_answers(endpoint: Endpoint) -> None:
    """Fetch both answers once; print their sizes and how they differ."""
    import requests

    ours = requests.get(endpoint.ours, headers=endpoint.headers, timeout=120)
    original = requests.get(endpoint.original, timeout=120)
    for name, response in (("ours", ours), ("original", original)):
        if response.status_code != 200:
            raise RuntimeError(f"{name} answered {response.status_code}")
    print(
        f"  answers: ours {len(ours.json())} rows, {len(ours.content):,} bytes; "
        f"original {len(original.json())} rows, {len(original.content):,} bytes"
    )
    notes = compare_answers(ours.json(), original.json(), endpoint.key)
    for note in notes or ["the same keys and values in every row"]:
        print(f"    {note}")


def _summary(loads: list[Load]) -> str:
    requests = sum(item.requests for item in loads)
    seconds = sum(item.seconds for item in loads)
    errors = sum(item.errors for item in loads)
    cpu = sum(item.cpu_seconds for item in loads)
    text = (
        f"{(requests - errors) / seconds:7.1f} req/s, "
        f"p50 {statistics.median(item.p50_ms for item in loads):6.1f} ms, "
        f"p99 {statistics.median(item.p99_ms for item in loads):6.1f} ms, "
        f"{cpu * 1000 / max(requests, 1):6.2f} ms CPU/req"
    )
    return text + (f", {errors} errors" if errors else "")


def run_rounds(endpoint: Endpoint, args: argparse.Namespace) -> None:
    """Interleaved rounds on ``endpoint``; prints each round and the totals."""
    urls = {"ours": endpoint.ours, "original": endpoint.original}
    headers = {"ours": endpoint.headers, "original": {}}
    for name in urls:  # warm up: imports, connections, caches
        load(urls[name], headers[name], args.clients, 2)
    for round_ in range(args.rounds):
        order = ["ours", "original"] if round_ % 2 == 0 else ["original", "ours"]
        for name in order:
            endpoint.results[name].append(
                load(urls[name], headers[name], args.clients, args.seconds)
            )
        a, b = endpoint.results["ours"][-1], endpoint.results["original"][-1]
        print(
            f"  round {round_ + 1} ({' then '.join(order)}, load "
            f"{os.getloadavg()[0]:.2f}): ours {a.rate:.1f} req/s "
            f"{a.cpu_ms:.2f} ms CPU; original {b.rate:.1f} req/s "
            f"{b.cpu_ms:.2f} ms CPU"
        )
    ours, original = endpoint.results["ours"], endpoint.results["original"]
    print(f"  ours:     {_summary(ours)}")
    print(f"  original: {_summary(original)}")
    rate = sum(i.requests - i.errors for i in ours) / sum(i.seconds for i in ours)
    rate_o = sum(i.requests - i.errors for i in original) / sum(
        i.seconds for i in original
    )
    cpu = sum(i.cpu_seconds for i in ours) / max(sum(i.requests for i in ours), 1)
    cpu_o = sum(i.cpu_seconds for i in original) / max(
        sum(i.requests for i in original), 1
    )
    print(
        f"  ratio ours/original: {rate / rate_o:.2f}x req/s; "
        f"CPU per request {cpu_o / cpu:.2f}x less"
    )


def cpu_in_process(path: str, token: str, requests: int) -> tuple[float, float, int]:
    """CPU ms per ``GET path`` through our WSGI handler: (median, best, bytes).

    No server and no client: ``time.process_time`` around each call of
    Django's handler, the body read to its end (as gunicorn would send it).
    A few requests first warm up the process.
    """
    import io

    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()

    def call() -> int:
        statuses: list[str] = []
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Token {token}",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
        }

        def start_response(
            status: str, headers: list[tuple[str, str]], *info: Any
        ) -> Callable[[bytes], object]:
            statuses.append(status)
            return lambda data: None

        body = handler(environ, start_response)
        size = sum(len(chunk) for chunk in body)
        body.close()  # type: ignore[attr-defined]
        if not statuses[0].startswith("200"):
            raise RuntimeError(f"GET {path}: {statuses[0]}")
        return size

    for _ in range(min(5, requests)):
        size = call()
    times = []
    for _ in range(requests):
        started = time.process_time()
        size = call()
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times), min(times), size


def main() -> None:
    """Fill both masters, start both, compare the answers, load them in turn."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--original-venv", default="/tmp/original/venv")
    parser.add_argument("--original-database")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument(
        "--in-process",
        type=int,
        metavar="N",
        help="only ours, no server: CPU per request of N requests in-process",
    )
    parser.add_argument("--fill-original", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill_original:
        fill_original(args.agents, args.tasks)
        return

    _setup_django()
    ours_database = os.environ.get("PYFARM_DATABASE_URI", "")
    if args.in_process:
        token, job_id = fill_ours(args.agents, args.tasks)
        for path in ("/api/v1/agents/", f"/api/v1/jobs/{job_id}/tasks/"):
            median, best, size = cpu_in_process(path, token, args.in_process)
            print(
                f"GET {path} ({size:,} bytes), in-process: CPU median "
                f"{median:.2f} ms, best {best:.2f} ms per request "
                f"({args.in_process} requests, load {os.getloadavg()[0]:.2f})"
            )
        return
    if not ours_database.startswith("postgres"):
        parser.error("PYFARM_DATABASE_URI must name a PostgreSQL database")
    python_original = str(Path(args.original_venv) / "bin" / "python")
    original_env = {
        **os.environ,
        "PYFARM_DATABASE_URI": _original_database(
            ours_database, args.original_database
        ).replace("postgresql://", "postgresql+psycopg2://", 1),
    }
    print(f"load average {os.getloadavg()[0]:.2f}; filling both masters")
    token, job_id = fill_ours(args.agents, args.tasks)
    original_job = int(
        subprocess.run(
            [
                python_original,
                __file__,
                "--fill-original",
                "--agents",
                str(args.agents),
                "--tasks",
                str(args.tasks),
            ],
            env=original_env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[-1]
    )
    workdir = Path(tempfile.mkdtemp(prefix="original-ab-"))
    print(f"server logs in {workdir}; wrk: {bool(shutil.which(WRK))}")
    with (
        gunicorn(
            sys.executable,
            "pyfarm_site.wsgi:application",
            dict(os.environ),
            args.workers,
            workdir / "ours.log",
            ROOT,
        ) as ours,
        gunicorn(
            python_original,
            "pyfarm.master.entrypoints:create_app()",
            original_env,
            args.workers,
            workdir / "original.log",
            workdir,
        ) as original,
    ):
        auth = {"Authorization": f"Token {token}"}
        endpoints = [
            Endpoint(
                f"GET /api/v1/agents/ ({args.agents} agents)",
                f"{ours}/api/v1/agents/",
                f"{original}/api/v1/agents/",
                auth,
                "id",
            ),
            Endpoint(
                f"GET /api/v1/jobs/<id>/tasks/ ({args.tasks} tasks)",
                f"{ours}/api/v1/jobs/{job_id}/tasks/",
                f"{original}/api/v1/jobs/{original_job}/tasks/",
                auth,
                "frame",
            ),
        ]
        for endpoint in endpoints:
            print(
                f"{endpoint.label}: {args.workers} sync workers, "
                f"{args.clients} connections, {args.rounds} rounds of "
                f"{args.seconds:g} s each"
            )
            check_answers(endpoint)
            run_rounds(endpoint, args)


if __name__ == "__main__":
    main()
