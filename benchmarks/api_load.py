"""Load the API under the production server: job submission and agent updates.

Usage (PostgreSQL recommended; the database is migrated and filled):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/api_load.py \
        [--frames 5000 100000] [--clients 10] [--seconds 20] [--workers 4]

Starts ``manage.py runmaster`` (gunicorn) on a free 127.0.0.1 port, then:
1. ``POST /api/v1/jobs/`` with each frame count, as an admin with a token,
   timing the request;
2. ``--clients`` threads posting task updates (``{"progress": p}``, what the
   agent sends as R10) for ``--seconds``, each on its own keep-alive session,
   and reports requests per second and latency percentiles.
Talks only to 127.0.0.1 and stops the server when done.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prepare() -> tuple[str, str]:
    """Migrate; create an admin token and a job type; return (token, jobtype)."""
    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from accounts.models import User
    from farm.models import JobType, JobTypeVersion

    call_command("migrate", verbosity=0)
    admin, _ = User.objects.get_or_create(
        username="benchmark-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    token, _ = Token.objects.get_or_create(user=admin)
    jobtype, _ = JobType.objects.get_or_create(name="BenchmarkJobType")
    JobTypeVersion.objects.get_or_create(
        jobtype=jobtype, version=1, defaults={"code": "", "classname": "Bench"}
    )
    return token.key, jobtype.name


def _wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def _hammer(
    base: str,
    targets: list[tuple[int, int]],
    stop: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    session = requests.Session()
    session.headers.update(
        {"User-Agent": "PyFarm/1.0 (agent)", "Content-Type": "application/json"}
    )
    rng = random.Random()
    while time.monotonic() < stop:
        job_id, task_id = rng.choice(targets)
        started = time.perf_counter()
        response = session.post(
            f"{base}/jobs/{job_id}/tasks/{task_id}",
            data=f'{{"progress": {rng.random():.3f}}}',
            timeout=10,
        )
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            errors.append(response.status_code)


def main() -> None:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, nargs="+", default=[5000, 100_000])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    token, jobtype = _prepare()
    port = _free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    server = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "runmaster",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
        ],
        cwd=ROOT,
        env={**os.environ, "PYFARM_DEBUG": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"{base}/jobs/schema")
        admin = requests.Session()
        admin.headers["Authorization"] = f"Token {token}"
        job_ids = []
        for frames in args.frames:
            started = time.perf_counter()
            response = admin.post(
                f"{base}/jobs/",
                json={
                    "title": f"bench {frames}",
                    "jobtype": jobtype,
                    "start": 1,
                    "end": frames,
                },
                timeout=600,
            )
            elapsed = time.perf_counter() - started
            status = response.status_code
            print(f"POST /jobs/ {frames:>7} frames: {status} in {elapsed:.2f} s")
            response.raise_for_status()
            job_ids.append(response.json()["id"])
        tasks = admin.get(f"{base}/jobs/{job_ids[0]}/tasks/", timeout=60).json()
        targets = [(job_ids[0], task["id"]) for task in tasks[:1000]]

        latencies: list[float] = []
        errors: list[int] = []
        stop = time.monotonic() + args.seconds
        threads = [
            threading.Thread(
                target=_hammer, args=(base, targets, stop, latencies, errors)
            )
            for _ in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = len(latencies)
        quantiles = statistics.quantiles(latencies, n=100)
        print(
            f"task updates, {args.clients} clients, {args.seconds:.0f} s: "
            f"{total / args.seconds:.0f} req/s, {len(errors)} errors, "
            f"p50 {quantiles[49] * 1000:.1f} ms, p95 {quantiles[94] * 1000:.1f} ms"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
