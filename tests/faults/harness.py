"""The farm under fault injection: servers we can stop, freeze and restart.

`FaultFarm` runs the master as operators do (``manage.py runmaster``:
gunicorn, a Celery worker and beat) on a throwaway PostgreSQL and a Redis
server of its own (broker and cache), with stand-in agents (`StandInAgent`)
that register, take assignments and report their tasks done through the API,
retrying server errors and refused connections as the real agent does
(agent-protocol.md §1.2). Each server can be stopped and started again on
the same port, and Redis frozen (SIGSTOP) and thawed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.support.processes import free_port, manage

ROOT = Path(__file__).resolve().parents[2]
AGENT_HEADERS = {
    "User-Agent": "PyFarm/1.0 (agent)",
    "Content-Type": "application/json",
}


# --- Servers ----------------------------------------------------------------------


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def _answers(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Redis:
    """A redis-server of our own on a fixed port: stopped, started, frozen."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        """Start it (empty: no persistence, like a broker that lost its data)."""
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise RuntimeError("redis-server is not installed")
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                redis_server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait("redis-server to answer", self._ping, 30)

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL); its port refuses connections."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)  # a frozen server cannot exit
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def freeze(self) -> None:
        """SIGSTOP: connections are accepted, nothing is answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: it answers again, with its data."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


class Postgres:
    """A throwaway PostgreSQL (``.ci/postgres``) that can be stopped and started."""

    def __init__(self) -> None:
        # Of its own under the system's temporary folder: as root, the server
        # runs as the postgres user, who cannot enter a test's private folder.
        self.folder = Path(tempfile.mkdtemp(prefix="pyfarm-faults-pg-"))
        started = subprocess.run(
            [str(ROOT / ".ci/postgres"), "start", str(self.folder)],
            capture_output=True,
            text=True,
        )
        if started.returncode:
            self.remove()
            raise RuntimeError(f"PostgreSQL did not start: {started.stderr[-2000:]}")
        self.url = started.stdout.strip()
        self.port = int(urlsplit(self.url).port or 5432)

    def _pg_ctl(self, *args: str) -> None:
        pg_ctl = shutil.which("pg_ctl") or "/usr/lib/postgresql/15/bin/pg_ctl"
        command = [pg_ctl, "-D", str(self.folder / "data"), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are cut)."""
        self._pg_ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        """Start it again on the same port, with the options of ``.ci/postgres``."""
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._pg_ctl(
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )

    def remove(self) -> None:
        """Stop it for good and remove its files."""
        subprocess.run(
            [str(ROOT / ".ci/postgres"), "stop", str(self.folder)], check=False
        )
        shutil.rmtree(self.folder, ignore_errors=True)


# --- Stand-in agents --------------------------------------------------------------


@dataclass
class Assignment:
    """One ``POST /assign`` a stand-in agent received."""

    at: float
    job_id: int
    task_ids: list[int]


@dataclass
class StandInAgent:
    """An agent's HTTP API and its reports, without running anything.

    Each assignment's tasks are reported running at once and done after
    ``seconds``; a report that gets a 5xx or no connection is retried every
    half second, as the real agent retries (forever, here until ``stop``).
    Requests to the master are timed (``report_times``).
    """

    api: str
    number: int
    seconds: float = 1.0
    agent_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    port: int = 0
    assignments: list[Assignment] = field(default_factory=list)
    running: dict[int, int] = field(default_factory=dict)  # task id -> job id
    report_times: list[tuple[float, float, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    def serve(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        agent = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def _send(self, status: int, body: Any = None) -> None:
                raw = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/api/v1/assign":
                    self._send(404, {"error": "no such path"})
                    return
                body = json.loads(raw)
                assignment = Assignment(
                    at=time.monotonic(),
                    job_id=int(body["job"]["id"]),
                    task_ids=[int(task["id"]) for task in body["tasks"]],
                )
                with agent.lock:
                    agent.assignments.append(assignment)
                    for task_id in assignment.task_ids:
                        agent.running[task_id] = assignment.job_id
                threading.Thread(
                    target=agent._run, args=(assignment,), daemon=True
                ).start()
                self._send(202, {"id": str(uuid.uuid4())})

            def do_GET(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with agent.lock:
                    running = dict(agent.running)
                if self.path == "/api/v1/status":
                    self._send(
                        200,
                        {
                            "agent_id": agent.agent_id,
                            "state": "running" if running else "online",
                            "free_ram": 4000,
                        },
                    )
                elif self.path.rstrip("/") == "/api/v1/tasks":
                    self._send(200, [{"id": task_id} for task_id in running])
                else:
                    self._send(404, {"error": "no such path"})

            def do_DELETE(self) -> None:
                self._send(204)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def request(self, method: str, path: str, body: Any) -> requests.Response:
        """One request to the master, retried on 5xx and connection errors."""
        while not self.stopping.is_set():
            start = time.monotonic()
            try:
                response = requests.request(
                    method,
                    self.api + path,
                    data=json.dumps(body),
                    headers=AGENT_HEADERS,
                    timeout=90,
                )
            except requests.RequestException:
                self.report_times.append((start, time.monotonic() - start, 0))
                time.sleep(0.5)
                continue
            self.report_times.append(
                (start, time.monotonic() - start, response.status_code)
            )
            if response.status_code < 500:
                return response
            time.sleep(0.5)
        raise RuntimeError("stopped")

    def register(self) -> None:
        """R1: announce the agent (its id echoed back)."""
        response = self.request(
            "POST",
            "/agents/",
            {
                "id": self.agent_id,
                "hostname": f"standin{self.number}",
                "version": "0.8.6",
                "os_class": "linux",
                "os_fullname": "Linux",
                "ram": 4096,
                "cpus": 1,
                "cpu_name": "stand-in",
                "port": self.port,
                "free_ram": 4000,
                "time_offset": 0,
                "state": "online",
                "mac_addresses": [],
                "current_assignments": {},
            },
        )
        assert response.status_code in (200, 201), response.text
        assert response.json()["id"] == self.agent_id

    def _report(self, job_id: int, task_id: int, state: str) -> None:
        with contextlib.suppress(RuntimeError):
            response = self.request(
                "POST", f"/jobs/{job_id}/tasks/{task_id}", {"state": state}
            )
            assert response.status_code == 200, response.text

    def _run(self, assignment: Assignment) -> None:
        for task_id in assignment.task_ids:
            self._report(assignment.job_id, task_id, "running")
        self.stopping.wait(self.seconds)
        for task_id in assignment.task_ids:
            self._report(assignment.job_id, task_id, "done")
            with self.lock:
                self.running.pop(task_id, None)

    def stop(self) -> None:
        """Stop answering and reporting."""
        self.stopping.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


# --- The master --------------------------------------------------------------------


JOBTYPE_CODE = "from pyfarm.jobtypes.core.jobtype import JobType\n"


@dataclass
class FaultFarm:
    """The master, its servers and stand-in agents, and a user's API session."""

    workdir: Path
    postgres: Postgres
    redis: Redis
    port: int
    env: dict[str, str]
    session: requests.Session = field(default_factory=requests.Session)
    master: subprocess.Popen[bytes] | None = None
    agents: list[StandInAgent] = field(default_factory=list)

    @property
    def base(self) -> str:
        """The master's root URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        """The API's root URL."""
        return self.base + "/api/v1"

    @property
    def log(self) -> Path:
        """The output of ``runmaster`` (web, worker and beat)."""
        return self.workdir / "master.log"

    def log_size(self) -> int:
        """Where the log ends now (to read what comes after)."""
        return self.log.stat().st_size

    def log_since(self, offset: int) -> str:
        """What the master logged after ``offset``."""
        with self.log.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def manage(self, *args: str) -> str:
        """``manage.py`` with the master's configuration; its stdout."""
        return manage(self.env, *args)

    def start_master(self) -> None:
        """``runmaster`` in its own process group, its output in ``master.log``."""
        with self.log.open("ab") as out:
            self.master = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "runmaster",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    "2",
                    "--concurrency",
                    "2",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop_master(self) -> None:
        """SIGTERM to the group, SIGKILL if it lingers."""
        master, self.master = self.master, None
        if master is None or master.poll() is not None:
            return
        try:
            os.killpg(master.pid, signal.SIGTERM)
            master.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(master.pid, signal.SIGKILL)
            master.wait(timeout=10)

    def call(
        self, method: str, path: str, body: Any = None, timeout: float = 90
    ) -> requests.Response:
        """One API request with the user's token."""
        return self.session.request(
            method,
            self.api + path,
            data=None if body is None else json.dumps(body),
            timeout=timeout,
        )

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        """Poll ``check`` until it returns something true; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.master is not None and self.master.poll() is not None:
                raise AssertionError(f"the master exited while waiting for {what}")
            try:
                last = check()
            except (requests.RequestException, ValueError) as error:
                last = error
            if last and not isinstance(last, Exception):
                return last
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what} (last: {last!r})")

    def add_agents(self, count: int, seconds: float) -> None:
        """Start and register ``count`` stand-in agents."""
        for _ in range(count):
            agent = StandInAgent(
                api=self.api, number=len(self.agents) + 1, seconds=seconds
            )
            agent.serve()
            self.agents.append(agent)
            agent.register()

    def submit(self, title: str, frames: int) -> int:
        """A job of ``frames`` tasks of one frame each; its id."""
        response = self.call(
            "POST",
            "/jobs/",
            {
                "jobtype": "FaultShell",
                "title": title,
                "start": 1,
                "end": frames,
                "batch": 1,
                "cpus": 1,
                "ram": 16,
                "requeue": 0,
            },
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def job_state(self, job_id: int) -> str:
        """A job's state (one API request)."""
        response = self.call("GET", f"/jobs/{job_id}", timeout=10)
        assert response.status_code == 200, response.text
        return str(response.json()["state"])

    def assignments(self) -> list[Assignment]:
        """Every assignment any stand-in agent received, in time order."""
        every = [a for agent in self.agents for a in agent.assignments]
        return sorted(every, key=lambda a: a.at)

    def sent_task_ids(self) -> list[int]:
        """Each task id as often as it was sent to an agent."""
        return [task_id for a in self.assignments() for task_id in a.task_ids]


def _config(workdir: Path, port: int, broker: str) -> Path:
    """The operator's configuration: a periodic tick too rare to hide a stall."""
    config = workdir / "master.yml"
    config.write_text(
        "\n".join(
            [
                f"base_url: http://127.0.0.1:{port}",
                f"scheduler_broker: {broker}",
                f"tasklogs_dir: {workdir / 'tasklogs'}",
                f"agent_updates_dir: {workdir / 'updates'}",
                "allow_agents_from_loopback: true",
                "secret_key: faults-not-secret",
                "assign_tasks_interval: {minutes: 10}",
                "poll_busy_agents_interval: {minutes: 10}",
                "",
            ]
        )
    )
    return config


@contextlib.contextmanager
def fault_farm(workdir: Path) -> Iterator[FaultFarm]:
    """The master on PostgreSQL and Redis, a user with a token, the job type."""
    postgres = Postgres()
    redis = Redis(workdir / "redis")
    farm: FaultFarm | None = None
    try:
        redis.start()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYFARM_")}
        env.update(
            {
                "PYFARM_CONFIG": str(_config(workdir, port, redis.url)),
                "PYFARM_DATABASE_URI": postgres.url,
                "DJANGO_SUPERUSER_PASSWORD": "faults-password",
            }
        )
        farm = FaultFarm(
            workdir=workdir, postgres=postgres, redis=redis, port=port, env=env
        )
        farm.manage("migrate", "--no-input")
        farm.manage("setup_periodic_tasks", "--reset")
        farm.manage(
            "createsuperuser",
            "--no-input",
            "--username",
            "faults",
            "--email",
            "faults@example.com",
        )
        token = farm.manage("drf_create_token", "faults").split()[2]
        farm.session.headers.update(
            {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        )
        farm.start_master()
        farm.wait_for(
            "the master to answer",
            lambda: farm.call("GET", "/agents/", timeout=5).status_code == 200,
            120,
        )
        response = farm.call(
            "POST",
            "/jobtypes/",
            {
                "name": "FaultShell",
                "classname": "FaultShell",
                "code": JOBTYPE_CODE,
                "description": "fault injection",
                "max_batch": 1,
            },
        )
        assert response.status_code == 201, response.text
        yield farm
    finally:
        if farm is not None:
            for agent in farm.agents:
                agent.stop()
            farm.stop_master()
        redis.stop()
        postgres.remove()
