"""Time from ``POST /api/v1/jobs/`` to the assignment reaching an idle agent.

Starts the master as operators do (``manage.py runmaster``: gunicorn, a
Celery worker and beat) on the database the configuration names and a Redis
broker (``--broker``, or a redis-server of its own), registers ``--agents``
stand-in agents (HTTP servers on 127.0.0.1 that answer ``POST /assign`` with
202, note when it arrived, and report the tasks done through the API as the
real agent does), then submits ``--samples`` one-frame jobs one after another,
each to an idle farm, and measures how long each took to reach an agent.

    d=$(mktemp -d); url=$(.ci/postgres start $d)
    PYFARM_DATABASE_URI=$url .venv/bin/python benchmarks/latency.py --samples 100
    .ci/postgres stop $d

Prints the percentiles of the latency and of the POST itself, then where
the time went, from the Celery worker's log (its "received" and "succeeded
in" lines, to the millisecond): from the POST to the start of the tick that
assigned the job (the request, the enqueueing, the worker's pickup), the
tick, from its end to the start of the sending task (the commit's sending
enqueued, the worker's pickup), and the sending until the agent has the
assignment.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a file: tests.support from the project

from tests.support.processes import free_port, manage  # noqa: E402

AGENT_HEADERS = {"User-Agent": "PyFarm/1.0 (agent)", "Content-Type": "application/json"}


class StandInAgent:
    """One agent: an HTTP server that takes assignments and reports them done."""

    def __init__(self, api: str) -> None:
        self.id = str(uuid.uuid4())
        self.api = api
        self.arrivals: dict[int, float] = {}
        self.arrived = threading.Condition()
        self.session = requests.Session()
        self.session.headers.update(AGENT_HEADERS)
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.monotonic()
                body = json.loads(raw or b"{}")
                self._answer(202, {"id": str(uuid.uuid4())})
                if self.path.endswith("/assign"):
                    with agent.arrived:
                        agent.arrivals[int(body["job"]["id"])] = now
                        agent.arrived.notify_all()
                    threading.Thread(target=agent.finish, args=(body,)).start()

            def do_GET(self) -> None:
                if self.path.endswith("/status"):
                    self._answer(200, {"state": "online", "agent_id": agent.id})
                else:
                    self._answer(200, [])

            def _answer(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def register(self) -> None:
        body = {
            "id": self.id,
            "hostname": f"bench-{self.port}.local",
            "version": "0.8.6",
            "os_class": "linux",
            "ram": 16384,
            "free_ram": 16000,
            "cpus": 8,
            "port": self.port,
            "time_offset": 0,
            "state": "online",
            "current_assignments": {},
        }
        response = self.session.post(f"{self.api}/agents/", json=body, timeout=10)
        response.raise_for_status()

    def finish(self, assignment: dict[str, Any]) -> None:
        """Report the assignment's tasks running, then done (R6)."""
        job_id = assignment["job"]["id"]
        for state in ("running", "done"):
            for task in assignment["tasks"]:
                self.session.post(
                    f"{self.api}/jobs/{job_id}/tasks/{task['id']}",
                    json={"state": state},
                    timeout=10,
                )
        self.session.post(
            f"{self.api}/agents/{self.id}", json={"state": "online"}, timeout=10
        )


#: A Celery worker's log line about a task (``%(asctime)s`` is local time).
TASK_LINE = re.compile(
    r"^\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+/[\w-]+\] "
    r"Task (?P<name>[\w.]+)\[(?P<id>[\w-]+)\] succeeded in (?P<took>[\d.e-]+)s"
)


def task_runs(log: Path) -> dict[str, list[tuple[float, float]]]:
    """Each task name's runs in the worker's log: (start, end), wall clock, in order."""
    runs: dict[str, list[tuple[float, float]]] = {}
    for line in log.read_text(errors="replace").splitlines():
        match = TASK_LINE.match(line)
        if match:
            end = datetime.datetime.strptime(
                match["at"], "%Y-%m-%d %H:%M:%S,%f"
            ).timestamp()
            runs.setdefault(match["name"], []).append((end - float(match["took"]), end))
    for found in runs.values():
        found.sort()
    return runs


def stages(
    samples: list[tuple[float, float]], log: Path
) -> tuple[dict[str, list[float]], int]:
    """Where each sample's time went, from the worker's log, and samples found.

    ``samples`` are (POST sent, assignment arrived), wall clock. A sample's
    sending is the ``send_assignments`` (one message per chunk of agents) or
    ``send_assignment`` (an agent's retry) that was running when the assignment
    arrived; its tick, the last ``assign_tasks`` that ended before that
    sending started (it may have started before the POST, if it read the
    farm after the job was committed: then its first part is negative). A
    sample without either in the log is left out.
    """
    runs = task_runs(log)
    ticks = runs.get("scheduling.assign_tasks", [])
    sends = sorted(
        runs.get("scheduling.send_assignments", [])
        + runs.get("scheduling.send_assignment", [])
    )
    found: dict[str, list[float]] = {
        "POST to the tick's start": [],
        "the tick": [],
        "the tick's end to the sending's start": [],
        "the sending, until the agent has it": [],
    }
    slack = 0.001  # the log's times are truncated to the millisecond
    count = 0
    for sent, arrived in samples:
        send = next(
            (
                run
                for run in reversed(sends)
                if run[0] <= arrived + slack and run[1] >= arrived - slack
            ),
            None,
        )
        tick = None
        if send is not None:
            tick = next(
                (run for run in reversed(ticks) if run[1] <= send[0] + slack), None
            )
        if send is None or tick is None:
            continue
        count += 1
        found["POST to the tick's start"].append(tick[0] - sent)
        found["the tick"].append(tick[1] - tick[0])
        found["the tick's end to the sending's start"].append(send[0] - tick[1])
        found["the sending, until the agent has it"].append(arrived - send[0])
    return found, count


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument(
        "--broker", help="Redis URL (default: a redis-server of its own)"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pyfarm-latency-"))
    stops: list[Any] = []
    broker = args.broker
    if not broker:
        broker = subprocess.run(
            [str(ROOT / ".ci/redis"), "start", str(work / "redis")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        stops.append(
            lambda: subprocess.run(
                [str(ROOT / ".ci/redis"), "stop", str(work / "redis")]
            )
        )
    port = free_port()
    config = work / "master.yml"
    config.write_text(
        f"base_url: http://127.0.0.1:{port}\n"
        f"scheduler_broker: {broker}\n"
        f"tasklogs_dir: {work / 'tasklogs'}\n"
        "allow_agents_from_loopback: true\n"
        "secret_key: latency-benchmark\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYFARM_CONFIG"}
    env.update(PYFARM_CONFIG=str(config), DJANGO_SUPERUSER_PASSWORD="bench")
    manage(env, "migrate", "--no-input")
    manage(env, "setup_periodic_tasks", "--reset")
    manage(
        env,
        "createsuperuser",
        "--no-input",
        "--username",
        "bench-user",
        "--email",
        "bench@localhost",
    )
    token = manage(env, "drf_create_token", "bench-user").split()[2]
    log = (work / "master.log").open("wb")
    master = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "runmaster",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--concurrency",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    user = requests.Session()
    user.headers.update({"Authorization": f"Token {token}"})
    try:
        for _ in range(200):
            with contextlib.suppress(requests.RequestException):
                if user.get(f"{api}/agents/", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        agents = [StandInAgent(api) for _ in range(args.agents)]
        for agent in agents:
            agent.register()
        user.post(
            f"{api}/jobtypes/",
            json={
                "name": "Bench",
                "classname": "Bench",
                "code": "class Bench(object):\n    pass\n",
            },
            timeout=10,
        ).raise_for_status()
        time.sleep(3)  # the registrations' ticks, and the worker warmed up

        latencies: list[float] = []
        posts: list[float] = []
        wall = time.time() - time.monotonic()
        walls: list[tuple[float, float]] = []
        for number in range(args.samples):
            started = time.monotonic()
            response = user.post(
                f"{api}/jobs/",
                json={
                    "jobtype": "Bench",
                    "title": f"sample {number}",
                    "start": 1,
                    "end": 1,
                    "cpus": 1,
                    "ram": 32,
                },
                timeout=30,
            )
            posted = time.monotonic()
            response.raise_for_status()
            job_id = int(response.json()["id"])
            arrival = None
            deadline = started + 30
            while arrival is None and time.monotonic() < deadline:
                for agent in agents:
                    with agent.arrived:
                        arrival = agent.arrivals.get(job_id)
                        if arrival is None:
                            agent.arrived.wait(0.005)
                    if arrival is not None:
                        break
            if arrival is None:
                raise SystemExit(f"job {job_id} reached no agent within 30 s")
            latencies.append(arrival - started)
            walls.append((wall + started, wall + arrival))
            posts.append(posted - started)
            time.sleep(random.uniform(0.5, 1.0))  # the agent reports it done

        def summary(values: list[float]) -> str:
            return (
                f"p50 {percentile(values, 0.5) * 1000:.0f} ms, "
                f"p95 {percentile(values, 0.95) * 1000:.0f} ms, "
                f"max {max(values) * 1000:.0f} ms, "
                f"mean {statistics.mean(values) * 1000:.0f} ms"
            )

        print(f"{args.samples} one-frame jobs, {args.agents} idle agents")
        print(f"POST /jobs/ answered:          {summary(posts)}")
        print(f"assignment reached the agent:  {summary(latencies)}")
        (work / "samples.json").write_text(json.dumps(walls))  # to look again
        time.sleep(1)  # the worker's last lines
        parts, count = stages(walls, work / "master.log")
        if not count:
            print("where the time went: not found in the worker's log")
        else:
            print(f"where the time went ({count} samples, from the worker's log):")
            for name, values in parts.items():
                print(f"  {name + ':':40s} {summary(values)}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(master.pid, signal.SIGTERM)
        master.wait(timeout=60)
        for stop in stops:
            stop()


if __name__ == "__main__":
    main()
