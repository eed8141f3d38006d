"""Agent heartbeat latency while a large scheduler tick runs.

Usage (a scratch PostgreSQL database; it is migrated and filled):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/heartbeat.py \
        [large|fresh [--analysed-empty]] [--clients 4] [--ticks 3] [--workers 4]

Builds the farm of ``benchmarks/tick.py`` (``large``: 5,000 agents and
100,000 tasks, analysed; ``fresh``: 500 agents and 12,000 tasks in a new
database that has no statistics, as ``tick.py fresh``), starts the web
server (``runmaster --no-scheduler``: gunicorn) on a free 127.0.0.1 port,
and has ``--clients``
keep-alive clients send heartbeats (``POST /api/v1/agents/<id>``, one
conditional UPDATE of the agent's row) for random agents of the farm as fast
as the server answers. Meanwhile this process runs ``--ticks`` scheduler
ticks (sending replaced by a plain function), ``--seconds`` apart, undoing
each tick's assignments after it. A tick locks the agents it assigns, a
chunk at a time, so a heartbeat for one of them waits until the chunk
commits. Prints the latency percentiles of the heartbeats that overlapped a
tick, those that overlapped its apply phase (when it holds agent locks),
and the others. Talks only to 127.0.0.1 and stops the server when
done.
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
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import tick  # noqa: E402  (sets Django up)
from django.db import connection  # noqa: E402

from farm.models import Agent, Task  # noqa: E402

HEARTBEAT = '{"state": "online", "free_ram": 60000, "current_assignments": {}}'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url() -> str:
    """The configured database URL, naming the database in use now."""
    url = urlsplit(os.environ["PYFARM_DATABASE_URI"])
    return urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"]))


def gunicorn_command(
    bind: str,
    workers: int,
    wsgi_app: str,
    worker_class: str | None = None,
    root: Path = ROOT,
) -> list[str]:
    """Gunicorn's command line as ``runmaster`` builds it, serving ``wsgi_app``.

    ``wsgi_app`` (``module:callable``) may be a module of ``benchmarks/``.
    ``worker_class`` replaces runmaster's (gthread); ``sync`` has no threads.
    ``root`` is the checkout served (another version of the master).
    """
    from farm.management.commands.runmaster import master_processes

    (web,) = master_processes(bind=bind, dev=False, workers=workers, scheduler=False)
    command = [
        wsgi_app if arg == "pyfarm_site.wsgi:application" else arg for arg in web.argv
    ]
    command[command.index("--chdir") + 1] = str(root)
    if worker_class is not None:
        command[command.index("--worker-class") + 1] = worker_class
        if worker_class == "sync":
            at = command.index("--threads")
            del command[at : at + 2]
    return [*command, "--pythonpath", str(Path(__file__).resolve().parent)]


@contextmanager
def _server(
    workers: int,
    wsgi_app: str | None = None,
    worker_class: str | None = None,
    root: Path = ROOT,
) -> Iterator[str]:
    """The web server on a free port, for the block; yields the API's URL.

    Without ``wsgi_app`` nor ``worker_class``: ``runmaster --no-scheduler``.
    Otherwise gunicorn serves ``wsgi_app`` (default: the master) with the
    very options ``runmaster`` gives it (`gunicorn_command`), the worker class
    replaced by ``worker_class`` when given, from the checkout ``root``.
    """
    port = _free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    env = {**os.environ, "PYFARM_DEBUG": "false"}
    if connection.vendor == "postgresql":
        env["PYFARM_DATABASE_URI"] = _database_url()
    bind = f"127.0.0.1:{port}"
    if wsgi_app is None and worker_class is None:
        command = [
            sys.executable,
            "manage.py",
            "runmaster",
            "--no-scheduler",
            "--bind",
            bind,
            "--workers",
            str(workers),
        ]
    else:
        command = gunicorn_command(
            bind,
            workers,
            wsgi_app or "pyfarm_site.wsgi:application",
            worker_class,
            root,
        )
    server = subprocess.Popen(
        command,
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/agents/schema", timeout=2)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not come up") from None
                time.sleep(0.2)
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def _heartbeats(
    base: str,
    agent_ids: list[str],
    stop: threading.Event,
    samples: list[tuple[float, float, int]],
) -> None:
    """Send heartbeats until ``stop``; record (start, end, status) of each."""
    session = requests.Session()
    session.headers.update(
        {"User-Agent": "PyFarm/1.0 (agent)", "Content-Type": "application/json"}
    )
    rng = random.Random()
    while not stop.is_set():
        agent_id = rng.choice(agent_ids)
        started = time.perf_counter()
        try:
            status = session.post(
                f"{base}/agents/{agent_id}", data=HEARTBEAT, timeout=60
            ).status_code
        except requests.RequestException:
            status = 0
        samples.append((started, time.perf_counter(), status))


def _percentiles(latencies: list[float]) -> str:
    if len(latencies) < 2:
        return f"{len(latencies)} heartbeats"
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return (
        f"{len(latencies)} heartbeats: p50 {cuts[49] * 1000:.1f} ms, "
        f"p99 {cuts[98] * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )


def measure(args: argparse.Namespace) -> None:
    """Start the server and the clients, run the ticks, print the latencies."""
    from scheduling.tick import run_tick

    agent_ids = [str(pk) for pk in Agent.objects.values_list("pk", flat=True)]
    samples: list[tuple[float, float, int]] = []
    windows: list[tuple[float, float]] = []
    applying: list[tuple[float, float]] = []
    stop = threading.Event()
    with _server(args.workers) as base:
        clients = [
            threading.Thread(target=_heartbeats, args=(base, agent_ids, stop, samples))
            for _ in range(args.clients)
        ]
        for client in clients:
            client.start()
        sent: list[str] = []
        try:
            with mock.patch("scheduling.claiming.send_assignment.delay", sent.append):
                for _ in range(args.ticks):
                    time.sleep(args.seconds)
                    started = time.perf_counter()
                    result = run_tick()
                    ended = time.perf_counter()
                    windows.append((started, ended))
                    applying.append((ended - result.apply_ms / 1000, ended))
                    print(
                        f"tick: {len(result.applied)} assignments, load "
                        f"{result.load_ms:.0f} ms, plan {result.plan_ms:.0f} ms, "
                        f"apply {result.apply_ms:.0f} ms"
                    )
                    Task.objects.filter(agent__isnull=False).update(agent=None)
                time.sleep(args.seconds)
        finally:
            stop.set()
            for client in clients:
                client.join()

    def latencies(spans: list[tuple[float, float]], inside: bool) -> list[float]:
        """Latencies of the heartbeats that overlap (or not) one of ``spans``."""
        return [
            end - start
            for start, end, _ in samples
            if inside == any(start < last and end > first for first, last in spans)
        ]

    failed = [status for _, _, status in samples if status != 200]
    print(f"{args.clients} clients, {args.workers} gunicorn workers")
    print(f"  during ticks:  {_percentiles(latencies(windows, True))}")
    print(f"  during apply:  {_percentiles(latencies(applying, True))}")
    print(f"  otherwise:     {_percentiles(latencies(windows, False))}")
    print(f"  not 200: {len(failed)} {sorted(set(failed))}")


def main() -> None:
    """Build the farm, then measure; see the module docstring."""
    parser = argparse.ArgumentParser()
    parser.add_argument("size", nargs="?", default="large", choices=["large", "fresh"])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--ticks", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--analysed-empty",
        action="store_true",
        help="fresh: analyse the tables once while they are still empty",
    )
    args = parser.parse_args()
    fresh = args.size == "fresh"
    database = tick.fresh_database(analysed_empty=args.analysed_empty)
    with database if fresh else nullcontext():
        tick.build(*tick.SIZES[args.size], analyze=not fresh)
        measure(args)


if __name__ == "__main__":
    main()
