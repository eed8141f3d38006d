"""Submit a big job and list its tasks under gunicorn: time and server memory.

Usage (PostgreSQL recommended; the database is migrated and filled):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/list_tasks.py \
        [--tasks 1000000] [--workers 1] [--page 1000]

Starts the web server (``runmaster --no-scheduler``: gunicorn, ``--workers``
processes of 4 threads) on a free 127.0.0.1 port, submits a job of
``--tasks`` tasks (frames 0 to tasks - 1) as an admin (``POST
/api/v1/jobs/``, timed), and lists its tasks (``GET
/api/v1/jobs/<id>/tasks/``), reading the answer as it comes without keeping
it. Prints the time to the first byte and to the last, the answer's
size and rows, and the web server's memory: the resident set of each
gunicorn worker before the request and its peak (``VmHWM``) after. Then
times one page of ``--page`` tasks from the middle of the list
(``?limit=&offset=``; ``--page 0``: not). Stops the server and deletes the
job when done.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from accounts.models import User  # noqa: E402
from farm.models import Job, JobType, JobTypeVersion, Task  # noqa: E402
from farm.services.jobs import delete_tasks  # noqa: E402

TITLE = "bench list"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _workers(server: int) -> list[int]:
    """The gunicorn workers under runmaster (runmaster -> master -> workers)."""
    return [worker for master in _children(server) for worker in _children(master)]


def _memory(pid: int) -> tuple[int, int]:
    """(resident, peak resident) of a process, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(value.split()[0]) // 1024
    return values["VmRSS"], values["VmHWM"]


def _reset_peak(pid: int) -> None:
    """Start the process's peak resident set (``VmHWM``) again from now."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError as error:
        print(f"  (the peak of {pid} could not be reset: {error})")


def _prepare() -> str:
    """Migrate; an admin token and the job type; returns the token."""
    call_command("migrate", verbosity=0)
    _clean_up()
    admin, _ = User.objects.get_or_create(
        username="benchmark-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    token, _ = Token.objects.get_or_create(user=admin)
    jobtype, _ = JobType.objects.get_or_create(name="BenchmarkJobType")
    JobTypeVersion.objects.get_or_create(
        jobtype=jobtype, version=1, defaults={"code": "", "classname": "Bench"}
    )
    return str(token.key)


def _clean_up() -> None:
    jobs = Job.objects.filter(title=TITLE)
    delete_tasks(Task.objects.filter(job__in=jobs))
    jobs.delete()


def _get(session: requests.Session, url: str) -> tuple[float, float, int, int]:
    """GET ``url`` reading the body as it comes: first byte, total, bytes, rows."""
    started = time.perf_counter()
    first = 0.0
    size = rows = 0
    tail = b""
    with session.get(url, stream=True, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_content(chunk_size=1 << 16):
            if not first:
                first = time.perf_counter() - started
            size += len(chunk)
            # Rows start with {"id": (the tail catches one split in two).
            rows += (tail + chunk).count(b'{"id":') - tail.count(b'{"id":')
            tail = chunk[-8:]
    return first, time.perf_counter() - started, size, rows


def main() -> None:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--page", type=int, default=1000)
    args = parser.parse_args()

    token = _prepare()
    port = _free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    server = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "runmaster",
            "--no-scheduler",
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
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        deadline = time.monotonic() + 60
        while True:
            try:
                session.get(f"{base}/jobs/schema", timeout=2)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not come up") from None
                time.sleep(0.2)
        started = time.perf_counter()
        response = session.post(
            f"{base}/jobs/",
            json={
                "title": TITLE,
                "jobtype": "BenchmarkJobType",
                "start": 0,
                "end": args.tasks - 1,
            },
            timeout=600,
        )
        elapsed = time.perf_counter() - started
        print(
            f"POST /jobs/ of {args.tasks} tasks: {response.status_code}"
            f" in {elapsed:.1f} s"
        )
        response.raise_for_status()
        job_id = response.json()["id"]
        # Every worker has served a request, so its baseline is a warm one.
        for _ in range(4 * args.workers):
            session.get(f"{base}/jobs/{job_id}", timeout=30)
        workers = _workers(server.pid)
        before = {}
        for pid in workers:
            before[pid], peak = _memory(pid)
            print(f"  worker {pid}: peak {peak} MB after the POST")
            _reset_peak(pid)

        first, total, size, rows = _get(session, f"{base}/jobs/{job_id}/tasks/")
        print(
            f"GET /jobs/<id>/tasks/: {rows} rows, {size / 1e6:.0f} MB, first byte "
            f"{first:.2f} s, all {total:.1f} s"
        )
        for pid in workers:
            rss, peak = _memory(pid)
            print(
                f"  worker {pid}: resident {before[pid]} MB before the GET, peak "
                f"{peak} MB, {rss} MB after"
            )
        if not args.page:
            return
        offset = args.tasks // 2
        first, total, size, rows = _get(
            session,
            f"{base}/jobs/{job_id}/tasks/?limit={args.page}&offset={offset}",
        )
        print(f"  a page of {rows} rows from offset {offset}: {total * 1000:.0f} ms")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        _clean_up()


if __name__ == "__main__":
    main()
