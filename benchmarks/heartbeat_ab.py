"""Agent requests against a bare Django JSON view, A/B interleaved (issue #12).

Usage (a scratch database; it is migrated and filled with a farm of
``tick.py``):

    PYFARM_DATABASE_URI=postgresql://... python benchmarks/heartbeat_ab.py \
        [--clients 4] [--workers 2] [--worker-class sync] [--rounds 3] \
        [--seconds 5] [--load auto|wrk|python] [--farm small|tiny]

Starts two gunicorn servers with the same options (``runmaster``'s, see
``heartbeat.gunicorn_command``, with ``--workers`` workers of class
``--worker-class``; default 2 sync workers, as issue #12 measured): the
master (A) and ``bare_wsgi`` (B), a Django view answering a small JSON to any
path. For heartbeats (``POST /agents/<id>``, the agent's body, random agents
of the farm) and then for task updates (``POST /jobs/<j>/tasks/<t>`` with a
progress, random queued tasks), runs ``--rounds`` rounds, alternating which
server goes first; in each, the load generator posts to one server for
``--seconds`` with ``--clients`` connections and the agent's headers, then
the same to the other. Only one server is loaded at a time.

The load generator is wrk (``--load wrk``; a Lua script picks a random path
per request) when it is installed, else ``--clients`` client processes of
Python (``--load python``); one Python process tops out near 1,100 req/s,
below what the bare view serves. Prints, per round and overall, each
server's requests per second (answered 200) and CPU milliseconds per
request (its gunicorn processes' utime + stime), and the ratios: issue #12's
goal is the master at 25 % of the bare view or more.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import heartbeat  # sets Django up (through tick)
import requests
import tick
from django.db import connection
from serving import server_cpu, wrk_counts

from farm.models import Agent, Task

#: (path under /api/v1, body) of one request.
Target = tuple[str, str]
#: Farm sizes of ``tick.build``: ``tiny`` for the test suite.
FARMS = {"small": tick.SIZES["small"], "tiny": (5, 2, 10, 1)}
AGENT_HEADERS = {"User-Agent": "PyFarm/1.0 (agent)", "Content-Type": "application/json"}


@dataclass(frozen=True)
class Load:
    """What one run of the load generator measured."""

    requests: int
    failed: int
    seconds: float

    @property
    def rate(self) -> float:
        """Requests answered 200 per second."""
        return (self.requests - self.failed) / self.seconds


# --- wrk ---------------------------------------------------------------------


def wrk_script(base: str, targets: list[Target]) -> str:
    """A wrk Lua script posting a random target's body, with the agent's headers."""
    prefix = urlsplit(base).path
    paths = ",\n".join(json.dumps(f"{prefix}{path}") for path, _ in targets)
    bodies = ",\n".join(json.dumps(body) for _, body in targets)
    headers = "\n".join(
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}"
        for k, v in AGENT_HEADERS.items()
    )
    return (
        f"local paths = {{\n{paths}\n}}\n"
        f"local bodies = {{\n{bodies}\n}}\n"
        f"{headers}\n"
        "math.randomseed(os.time())\n"
        "request = function()\n"
        "  local i = math.random(#paths)\n"
        '  return wrk.format("POST", paths[i], nil, bodies[i])\n'
        "end\n"
    )


def parse_wrk(output: str) -> Load:
    """Requests, failures (non-2xx/3xx, socket errors) and duration of a wrk run."""
    counts = wrk_counts(output)
    return Load(counts.requests, counts.failed, counts.seconds)


def wrk_load(base: str, targets: list[Target], clients: int, seconds: float) -> Load:
    """Load ``base`` with wrk for ``seconds``."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(base, targets))
    try:
        output = subprocess.run(
            [
                "wrk",
                f"-t{min(2, clients)}",
                f"-c{clients}",
                f"-d{max(1, round(seconds))}s",
                "-s",
                script.name,
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        Path(script.name).unlink()
    return parse_wrk(output)


# --- client processes of Python ------------------------------------------------


def _client(
    base: str, targets: list[Target], seconds: float, results: multiprocessing.Queue
) -> None:
    """Post random targets for ``seconds``, as the agent; put (requests, failed)."""
    session = requests.Session()
    session.headers.update(AGENT_HEADERS)
    rng = random.Random()
    sent = failed = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        path, body = rng.choice(targets)
        try:
            ok = session.post(f"{base}{path}", data=body, timeout=60).status_code == 200
        except requests.RequestException:
            ok = False
        sent += 1
        failed += not ok
    results.put((sent, failed))


def python_load(base: str, targets: list[Target], clients: int, seconds: float) -> Load:
    """Load ``base`` from ``clients`` processes for ``seconds``."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    connection.close()  # never shared with the children
    processes = [
        context.Process(target=_client, args=(base, targets, seconds, results))
        for _ in range(clients)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    counts = [results.get() for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    return Load(sum(c[0] for c in counts), sum(c[1] for c in counts), elapsed)


# --- the comparison ------------------------------------------------------------


def measure(
    base: str, targets: list[Target], args: argparse.Namespace, seconds: float
) -> tuple[Load, float]:
    """One load of ``base``: what was answered, and the CPU ms per request."""
    generate = wrk_load if args.load == "wrk" else python_load
    cpu_before = server_cpu(base)
    load = generate(base, targets, args.clients, seconds)
    cpu = server_cpu(base) - cpu_before
    return load, cpu * 1000 / max(load.requests, 1)


def compare(
    label: str, servers: dict[str, str], targets: list[Target], args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """Load each server in turn, interleaved; print the ratios to the bare view.

    ``servers`` maps names to URLs: "master", "bare", and "baseline" with
    ``--baseline``. The order rotates from round to round. Returns, per
    server, its overall req/s ("rate") and CPU ms per request ("cpu").
    """
    names = list(servers)
    totals = {name: {"rate": 0.0, "cpu": 0.0} for name in names}
    # Warm them up (imports, connections) before timing.
    for base in servers.values():
        measure(base, targets, args, 1.0)
    print(f"{label}:")
    for round_ in range(args.rounds):
        shift = round_ % len(names)
        this: dict[str, tuple[Load, float]] = {}
        for name in names[shift:] + names[:shift]:
            this[name] = measure(servers[name], targets, args, args.seconds)
            totals[name]["rate"] += this[name][0].rate / args.rounds
            totals[name]["cpu"] += this[name][1] / args.rounds
        bare = this["bare"][0].rate
        parts = []
        for name in names:
            load, cpu = this[name]
            ratio = "" if name == "bare" else f", {load.rate / max(bare, 1e-9):.1%}"
            failed = f", {load.failed} failed" if load.failed else ""
            parts.append(
                f"{name} {load.rate:.0f} req/s ({cpu:.2f} ms CPU/req{ratio}{failed})"
            )
        print(f"  round {round_ + 1}: " + ", ".join(parts))
    bare_rate, bare_cpu = totals["bare"]["rate"], totals["bare"]["cpu"]
    for name in names:
        if name == "bare":
            continue
        rate, cpu = totals[name]["rate"], totals[name]["cpu"]
        print(
            f"  all rounds: {name} {rate:.0f} req/s, bare {bare_rate:.0f} req/s, "
            f"ratio {rate / max(bare_rate, 1e-9):.1%}; CPU per request {name} "
            f"{cpu:.2f} ms, bare {bare_cpu:.2f} ms, "
            f"ratio bare/{name} {bare_cpu / max(cpu, 1e-9):.1%}"
        )
    return totals


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--load", default="auto", choices=["auto", "wrk", "python"])
    parser.add_argument("--farm", default="small", choices=sorted(FARMS))
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of another version of the master (same database "
        "schema), run as a third server: before and after in one run",
    )
    args = parser.parse_args(argv)
    if args.load == "auto":
        args.load = "wrk" if shutil.which("wrk") else "python"
    return args


def main(argv: list[str] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Build the farm, start both servers, compare them per request kind."""
    args = arguments(argv)
    tick.build(*FARMS[args.farm])
    heartbeats = [
        (f"/agents/{pk}", heartbeat.HEARTBEAT)
        for pk in Agent.objects.values_list("pk", flat=True)
    ]
    updates = [
        (f"/jobs/{job_id}/tasks/{task_id}", '{"progress": 0.5}')
        for task_id, job_id in Task.objects.values_list("pk", "job_id")[:1000]
    ]
    print(
        f"load: {args.load}, {args.clients} connections; gunicorn: {args.workers} "
        f"{args.worker_class} workers each; database: {connection.vendor}; "
        + (f"baseline: {args.baseline}; " if args.baseline else "")
        + f"load average {os.getloadavg()[0]:.2f}"
    )
    with contextlib.ExitStack() as stack:
        servers = {
            "master": stack.enter_context(
                heartbeat._server(args.workers, worker_class=args.worker_class)
            ),
            "bare": stack.enter_context(
                heartbeat._server(
                    args.workers,
                    "bare_wsgi:application",
                    worker_class=args.worker_class,
                )
            ),
        }
        if args.baseline is not None:
            servers["baseline"] = stack.enter_context(
                heartbeat._server(
                    args.workers,
                    worker_class=args.worker_class,
                    root=args.baseline.resolve(),
                )
            )
        return {
            "heartbeats": compare(
                "heartbeats POST /agents/<id>", servers, heartbeats, args
            ),
            "task updates": compare(
                "task updates POST /jobs/<j>/tasks/<t>", servers, updates, args
            ),
        }


if __name__ == "__main__":
    main()
