"""Heartbeats against a bare Django JSON view, A/B interleaved (issue #12).

Usage (a scratch database; it is migrated and filled with the small farm of
``tick.py``):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/heartbeat_ab.py \
        [--clients 4] [--workers 2] [--rounds 3] [--seconds 5]

Starts two gunicorn servers with the options ``runmaster`` gives it
(``heartbeat._server``): the master (A) and ``bare_wsgi`` (B), a Django view
answering a small JSON. Then, ``--rounds`` times and alternating which goes
first, has ``--clients`` keep-alive clients (``heartbeat._heartbeats``, the
agent's headers and body) post heartbeats for random agents to one server for
``--seconds``, then to the other. Prints the requests per second of each
round and of all rounds, and the ratio A/B (issue #12's goal: at least 25 %).
Only one server is loaded at a time; the other sits idle.

UNFINISHED: no task-update A/B yet (``POST /jobs/<j>/tasks/<t>``), and no CPU
time per request (read ``/proc/<pid>/stat`` of the gunicorn workers).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import heartbeat  # sets Django up (through tick)
import tick

from farm.models import Agent


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


def _rate(
    base: str, agent_ids: list[str], clients: int, seconds: float
) -> tuple[float, float]:
    """Heartbeats answered 200 per second by ``base``, and its CPU ms per request."""
    cpu_before = _server_cpu(base)
    samples: list[tuple[float, float, int]] = []
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=heartbeat._heartbeats, args=(base, agent_ids, stop, samples)
        )
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


def main() -> None:
    """Build the small farm, start both servers, load them in turn."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    tick.build(*tick.SIZES["small"])
    agent_ids = [str(pk) for pk in Agent.objects.values_list("pk", flat=True)]
    totals = {"master": 0.0, "bare": 0.0}
    cpu_totals = {"master": 0.0, "bare": 0.0}
    with (
        heartbeat._server(args.workers) as master,
        heartbeat._server(args.workers, "bare_wsgi:application") as bare,
    ):
        servers = {"master": master, "bare": bare}
        # Warm both up (imports, connections) before timing.
        for base in servers.values():
            _rate(base, agent_ids, args.clients, 1.0)
        for round_ in range(args.rounds):
            order = ["master", "bare"] if round_ % 2 == 0 else ["bare", "master"]
            rates = {}
            cpus = {}
            for name in order:
                rates[name], cpus[name] = _rate(
                    servers[name], agent_ids, args.clients, args.seconds
                )
                totals[name] += rates[name]
                cpu_totals[name] += cpus[name]
            print(
                f"round {round_ + 1}: master {rates['master']:.0f} req/s "
                f"({cpus['master']:.2f} ms CPU/req), "
                f"bare {rates['bare']:.0f} req/s ({cpus['bare']:.2f} ms CPU/req), "
                f"ratio {rates['master'] / rates['bare']:.1%}"
            )
    master_rate = totals["master"] / args.rounds
    bare_rate = totals["bare"] / args.rounds
    print(
        f"{args.clients} clients, {args.workers} gunicorn workers "
        f"(gthread, as runmaster): master {master_rate:.0f} req/s, "
        f"bare Django JSON view {bare_rate:.0f} req/s, "
        f"ratio {master_rate / bare_rate:.1%}"
    )
    master_cpu = cpu_totals["master"] / args.rounds
    bare_cpu = cpu_totals["bare"] / args.rounds
    print(
        f"server CPU per request: master {master_cpu:.2f} ms, bare {bare_cpu:.2f} ms, "
        f"ratio bare/master {bare_cpu / master_cpu:.1%}"
    )


if __name__ == "__main__":
    main()
