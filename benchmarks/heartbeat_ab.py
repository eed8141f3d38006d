"""Agent requests against a bare Django JSON view, A/B interleaved (issue #12).

Usage (a scratch database; it is migrated and filled with the small farm of
``tick.py``):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/heartbeat_ab.py \
        [--clients 4] [--workers 2] [--rounds 3] [--seconds 5]

Starts two gunicorn servers with the options ``runmaster`` gives it
(``heartbeat._server``): the master (A) and ``bare_wsgi`` (B), a Django view
answering a small JSON to any path. For heartbeats (``POST /agents/<id>``,
heartbeat.py's body, random agents of the farm) and then for task updates
(``POST /jobs/<j>/tasks/<t>`` with a progress, random queued tasks), runs
``--rounds`` rounds, alternating which server goes first: ``--clients``
keep-alive clients with the agent's headers post to one server for
``--seconds``, then the same to the other. Only one server is loaded at a
time. Prints, per round and overall, each server's requests per second and
CPU milliseconds per request (its gunicorn processes' utime + stime), and the
ratios (issue #12's goal: the master at 25 % of the bare view or more).

UNFINISHED / caveats: the Python client shares the machine's cores and tops
out near 1,150 req/s on 2 cores, so the bare view's req/s (and so the req/s
ratio) is bounded by the client; the CPU-per-request ratio does not depend on
it. A wrk-based load (as api_load.py uses when wrk is installed) would lift
that bound. No README entry and no tiny-size test in tests/test_benchmarks.py
yet.
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import heartbeat  # sets Django up (through tick)
import requests
import tick

from farm.models import Agent, Task

#: (path under /api/v1, body) of one request.
Target = tuple[str, str]


def _server_cpu(base: str) -> float:
    """CPU seconds used so far by the gunicorn processes serving ``base``.

    Gunicorn's workers keep the arbiter's command line, which names the bound
    address, so the processes are found by it.
    """
    bind = urlsplit(base).netloc.encode()
    ticks = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if bind not in (proc / "cmdline").read_bytes():
                continue
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        # utime and stime: fields 14 and 15, counted after the command's ")".
        fields = stat.rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _client(
    base: str,
    targets: list[Target],
    stop: threading.Event,
    samples: list[tuple[float, float, int]],
) -> None:
    """Post random ``targets`` until ``stop``, as the agent; record each one."""
    session = requests.Session()
    session.headers.update(
        {"User-Agent": "PyFarm/1.0 (agent)", "Content-Type": "application/json"}
    )
    rng = random.Random()
    while not stop.is_set():
        path, body = rng.choice(targets)
        started = time.perf_counter()
        try:
            status = session.post(f"{base}{path}", data=body, timeout=60).status_code
        except requests.RequestException:
            status = 0
        samples.append((started, time.perf_counter(), status))


def _rate(
    base: str, targets: list[Target], clients: int, seconds: float
) -> tuple[float, float]:
    """Requests answered 200 per second by ``base``, and its CPU ms per request."""
    cpu_before = _server_cpu(base)
    samples: list[tuple[float, float, int]] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=_client, args=(base, targets, stop, samples))
        for _ in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu = _server_cpu(base) - cpu_before
    failed = sum(1 for _, _, status in samples if status != 200)
    if failed:
        print(f"    {failed} of {len(samples)} not 200")
    answered = sum(1 for _, _, status in samples if status == 200)
    return answered / elapsed, cpu * 1000 / max(len(samples), 1)


def compare(
    label: str, servers: dict[str, str], targets: list[Target], args: argparse.Namespace
) -> None:
    """Load the master and the bare view in turn, interleaved; print the ratios."""
    totals = {"master": 0.0, "bare": 0.0}
    cpu_totals = {"master": 0.0, "bare": 0.0}
    # Warm both up (imports, connections) before timing.
    for base in servers.values():
        _rate(base, targets, args.clients, 1.0)
    print(f"{label}, {args.clients} clients, {args.workers} gunicorn workers:")
    for round_ in range(args.rounds):
        order = ["master", "bare"] if round_ % 2 == 0 else ["bare", "master"]
        rates = {}
        cpus = {}
        for name in order:
            rates[name], cpus[name] = _rate(
                servers[name], targets, args.clients, args.seconds
            )
            totals[name] += rates[name]
            cpu_totals[name] += cpus[name]
        print(
            f"  round {round_ + 1}: master {rates['master']:.0f} req/s "
            f"({cpus['master']:.2f} ms CPU/req), "
            f"bare {rates['bare']:.0f} req/s ({cpus['bare']:.2f} ms CPU/req), "
            f"ratio {rates['master'] / rates['bare']:.1%}"
        )
    master_rate = totals["master"] / args.rounds
    bare_rate = totals["bare"] / args.rounds
    master_cpu = cpu_totals["master"] / args.rounds
    bare_cpu = cpu_totals["bare"] / args.rounds
    print(
        f"  all rounds: master {master_rate:.0f} req/s, bare {bare_rate:.0f} req/s, "
        f"ratio {master_rate / bare_rate:.1%}; CPU per request master "
        f"{master_cpu:.2f} ms, bare {bare_cpu:.2f} ms, "
        f"ratio bare/master {bare_cpu / master_cpu:.1%}"
    )


def main() -> None:
    """Build the small farm, start both servers, compare them per request kind."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    tick.build(*tick.SIZES["small"])
    heartbeats = [
        (f"/agents/{pk}", heartbeat.HEARTBEAT)
        for pk in Agent.objects.values_list("pk", flat=True)
    ]
    updates = [
        (f"/jobs/{job_id}/tasks/{task_id}", '{"progress": 0.5}')
        for task_id, job_id in Task.objects.values_list("pk", "job_id")[:1000]
    ]
    with (
        heartbeat._server(args.workers) as master,
        heartbeat._server(args.workers, "bare_wsgi:application") as bare,
    ):
        servers = {"master": master, "bare": bare}
        compare("heartbeats POST /agents/<id>", servers, heartbeats, args)
        compare("task updates POST /jobs/<j>/tasks/<t>", servers, updates, args)


if __name__ == "__main__":
    main()
