"""Load the API under the production server: job submission and agent updates.

Usage (PostgreSQL recommended; the database is migrated and filled):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/api_load.py \
        [--frames 5000 100000] [--clients 10] [--seconds 20] [--workers 4]

Starts ``manage.py runmaster`` (gunicorn) on a free 127.0.0.1 port, then:
1. ``POST /api/v1/jobs/`` with each frame count, as an admin with a token,
   timing the request;
2. ``--clients`` concurrent keep-alive connections for ``--seconds`` each, of
   agent heartbeats (``POST /agents/<id>``, R2) and of task updates
   (``POST /jobs/<j>/tasks/<t>``, R10), reporting requests per second and
   latency percentiles. With ``wrk`` installed (``apt-get install wrk``, as
   the original's figures were taken) it generates the load; otherwise Python
   threads do, which cost CPU the server then lacks on a small machine.
Talks only to 127.0.0.1 and stops the server when done.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")

from tests.support.processes import free_port  # noqa: E402


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


def _wrk(url: str, body: str, args: argparse.Namespace) -> str:
    """Run wrk with a POST of ``body``; its requests/s and latency percentiles."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(body)}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
            'wrk.headers["User-Agent"] = "PyFarm/1.0 (agent)"\n'
        )
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{args.clients}",
            f"-d{int(args.seconds)}s",
            "--latency",
            "-s",
            script.name,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    Path(script.name).unlink()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    percentiles = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", output, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return (
        f"{float(rate.group(1)) if rate else 0:.0f} req/s, "
        f"p50 {percentiles.get('50')}, p90 {percentiles.get('90')}, "
        f"p99 {percentiles.get('99')}, non-2xx {errors.group(1) if errors else 0}"
    )


def main() -> None:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, nargs="+", default=[5000, 100_000])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    token, jobtype = _prepare()
    port = free_port()
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
        agent_id = str(uuid.uuid4())
        registration = {
            "id": agent_id,
            "hostname": "bench-agent",
            "port": 50000,
            "cpus": 8,
            "ram": 16384,
            "free_ram": 8000,
            "remote_ip": "10.9.8.7",
            "state": "online",
        }
        requests.post(
            f"{base}/agents/", json=registration, timeout=30
        ).raise_for_status()
        if shutil.which("wrk"):
            heartbeat = (
                '{"state": "running", "free_ram": 7000, "current_assignments": {}}'
            )
            job_id, task_id = targets[0]
            for label, url, body in (
                ("agent heartbeats", f"{base}/agents/{agent_id}", heartbeat),
                (
                    "task updates",
                    f"{base}/jobs/{job_id}/tasks/{task_id}",
                    '{"progress": 0.5}',
                ),
            ):
                print(f"{label}, {args.clients} connections: {_wrk(url, body, args)}")
            return

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
