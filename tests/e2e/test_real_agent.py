"""End to end with the real agent: pyfarm-agent 0.8.6 from PyPI on Python 2.7.

Run by ``make e2e`` (and CI after ``make test``), not by the plain suite: it
builds (once, cached) a Python 2.7 virtualenv with the agent
(``agent-venv.sh``), starts our master as operators do (``manage.py
runmaster``: gunicorn, a Celery worker and beat, with a Redis broker) and two
agents on 127.0.0.1, then drives the farm through the API only:

1. a job of 6 frames in batches of 2 runs to done: every task done in one
   attempt, on both agents, each attempt's log registered, uploaded and
   readable, both agents online again;
2. a job with a frame whose command fails: that task is requeued up to the
   job's ``requeue`` (never on the agent it failed on) and the job ends
   failed while its other frames are done;
3. the master polled both agents meanwhile (``GET /status``, ``GET /tasks/``)
   and kept them online;
4. a job paused while an agent runs its task: the master takes the task back
   and sends the agent ``DELETE /tasks/<id>``, the agent stops it, the task
   is queued again without a failure; resumed, the job ends done;
5. an agent killed with SIGKILL while it runs a long task: the master's
   polls find it gone, mark it offline and requeue the task, which the
   other agent finishes; the job ends done.

Everything is bounded in time (``PYFARM_E2E_TIMEOUT`` seconds per wait,
default 180) and every process is stopped at the end. The database is
``PYFARM_E2E_DATABASE_URI`` (default: SQLite in the run's folder) and the
broker ``PYFARM_E2E_REDIS_URL`` (default: a redis-server of its own).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.processes import free_port, manage

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TIMEOUT = float(os.environ.get("PYFARM_E2E_TIMEOUT", "180"))
TOKEN_USER = "e2e"

# Python 2 source the agent downloads (R4) and loads. One process per
# assignment prints the frames of its batch; it exits 3 when the batch holds
# the job's ``data["fail_frame"]``. With ``data["first_attempt_sleep"]`` the
# first attempt of a task sleeps that many seconds first (work to stop or to
# kill); later attempts do not.
JOBTYPE_CODE = '''\
from pyfarm.jobtypes.core.jobtype import JobType


class E2EShell(JobType):
    """Echo the batch's frames; fail on the job's fail_frame."""

    def get_command_data(self):
        tasks = self.assignment["tasks"]
        frames = [int(task["frame"]) for task in tasks]
        data = self.assignment["job"].get("data") or {}
        exit_code = 3 if data.get("fail_frame") in frames else 0
        first = min(task.get("attempt", 1) for task in tasks) <= 1
        pause = int(data.get("first_attempt_sleep", 0)) if first else 0
        script = "echo e2e-render frames %s; sleep %d; exit %d" % (
            " ".join(str(frame) for frame in frames), pause, exit_code)
        return self.COMMAND_DATA("/bin/sh", "-c", script)
'''


def _free_agent_port() -> int:
    """A free port for an agent: 0.8.6 takes only 49152-65535.

    Above Linux's ephemeral range (32768-60999), so that no outgoing
    connection of the run takes it between this check and the agent's bind.
    """
    for port in random.sample(range(61000, 65536), 200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 61000-65535")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes], sig: int, wait: float) -> None:
    """Signal a process group, then kill it if it outlives ``wait`` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=wait)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass
class Farm:
    """The running master and agents, and an API client with a user's token."""

    workdir: Path
    api: str
    env: dict[str, str]
    session: requests.Session = field(default_factory=requests.Session)
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(
        default_factory=list
    )
    agent_ids: list[str] = field(default_factory=list)
    agent_ports: dict[str, int] = field(default_factory=dict)

    def logs(self) -> str:
        """The last lines of every process's output, for failure messages."""
        return "\n".join(
            f"--- {name} ({log})\n{_tail(log)}" for name, _, log in self.processes
        )

    def manage(self, *args: str) -> str:
        """Run ``manage.py`` with the master's configuration; its stdout."""
        return manage(self.env, *args)

    def start(self, name: str, command: list[str], **kwargs: Any) -> None:
        """Start a process in its own group, its output in ``<name>.log``."""
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **kwargs,
            )
        self.processes.append((name, process, log))

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        """One API request (JSON body) with the user's token."""
        return self.session.request(
            method,
            self.api + path,
            data=None if body is None else json.dumps(body),
            timeout=30,
        )

    def get(self, path: str) -> Any:
        """GET an API path that must answer 200; its JSON."""
        response = self.call("GET", path)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    def wait_for(self, what: str, check: Callable[[], Any]) -> Any:
        """Poll ``check`` until it returns something true; fail after TIMEOUT."""
        deadline = time.monotonic() + TIMEOUT
        last: Any = None
        while time.monotonic() < deadline:
            for name, process, _ in self.processes:
                if process.poll() is not None:
                    pytest.fail(
                        f"{name} exited ({process.returncode}) while waiting for "
                        f"{what}\n{self.logs()}"
                    )
            try:
                last = check()
            except (requests.RequestException, ValueError) as error:
                last = error
            if last and not isinstance(last, Exception):
                return last
            time.sleep(0.5)
        pytest.fail(f"timed out waiting for {what} (last: {last!r})\n{self.logs()}")


def _agent_venv() -> Path:
    """The cached Python 2.7 virtualenv with pyfarm-agent 0.8.6."""
    done = subprocess.run(
        [str(HERE / "agent-venv.sh")], capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, f"agent venv: {done.stderr[-3000:]}"
    return Path(done.stdout.strip().splitlines()[-1])


def _redis(workdir: Path) -> tuple[str, Callable[[], None]]:
    """The broker: PYFARM_E2E_REDIS_URL, or a redis-server of our own."""
    given = os.environ.get("PYFARM_E2E_REDIS_URL")
    if given:
        return given, lambda: None
    folder = workdir / "redis"
    url = subprocess.run(
        [str(ROOT / ".ci/redis"), "start", str(folder)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    def stop() -> None:
        subprocess.run([str(ROOT / ".ci/redis"), "stop", str(folder)], check=False)

    return url, stop


def _master_config(workdir: Path, port: int, broker: str) -> Path:
    """The operator's configuration file of the run (PYFARM_CONFIG).

    Short periodic intervals so that polling and the periodic tick run
    within the test; everything else is the shipped default.
    """
    config = workdir / "master.yml"
    config.write_text(
        "\n".join(
            [
                f"base_url: http://127.0.0.1:{port}",
                f"scheduler_broker: {broker}",
                f"tasklogs_dir: {workdir / 'tasklogs'}",
                f"agent_updates_dir: {workdir / 'updates'}",
                "allow_agents_from_loopback: true",
                "secret_key: e2e-not-secret",
                "assign_tasks_interval: {seconds: 5}",
                "agent_poll_interval: {seconds: 3}",
                "poll_busy_agents_interval: {seconds: 3}",
                "poll_idle_agents_interval: {seconds: 3}",
                "",
            ]
        )
    )
    return config


def _start_agent(farm: Farm, venv: Path, number: int, master_port: int) -> None:
    """Start one agent as agent-protocol.md Part 2.2 describes."""
    home = farm.workdir / f"agent{number}"
    port = _free_agent_port()
    farm.agent_ports[f"agent{number}"] = port
    for folder in ("tmp", "static", "tasklogs", "updates"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    (home / "static" / "favicon.ico").write_bytes(b"")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
    }
    farm.start(
        f"agent{number}",
        [
            str(venv / "bin" / "pyfarm-agent"),
            "--master",
            f"127.0.0.1:{master_port}",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--agent-id-file",
            str(home / "uuid.dat"),
            "--pidfile",
            str(home / "agent.pid"),
            "-n",
            "start",
            "--time-offset",
            "0",
            "--run-control-file",
            str(home / "should_be_running"),
            "--task-log-dir",
            str(home / "tasklogs"),
            "--updates-drop-dir",
            str(home / "updates"),
            "--static-files",
            str(home / "static"),
        ],
        cwd=home,
        env=env,
    )


def _agent_states(farm: Farm) -> dict[str, str]:
    """Each registered agent's state (the list has no states: one GET each)."""
    return {
        agent["id"]: farm.get(f"/agents/{agent['id']}")["state"]
        for agent in farm.get("/agents/")
    }


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """Our master (web, worker, beat) and two real agents, all on 127.0.0.1."""
    workdir = tmp_path_factory.mktemp("e2e")
    venv = _agent_venv()
    broker, stop_redis = _redis(workdir)
    port = free_port()
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("PYFARM_")
    }
    env.update(
        {
            "PYFARM_CONFIG": str(_master_config(workdir, port, broker)),
            "PYFARM_DATABASE_URI": os.environ.get("PYFARM_E2E_DATABASE_URI")
            or f"sqlite:///{workdir / 'farm.sqlite'}",
            "DJANGO_SUPERUSER_PASSWORD": "e2e-password",
        }
    )
    farm = Farm(workdir=workdir, api=f"http://127.0.0.1:{port}/api/v1", env=env)
    try:
        farm.manage("migrate", "--no-input")
        farm.manage("setup_periodic_tasks", "--reset")
        farm.manage(
            "createsuperuser",
            "--no-input",
            "--username",
            TOKEN_USER,
            "--email",
            "e2e@localhost",
        )
        token = farm.manage("drf_create_token", TOKEN_USER).split()[2]
        farm.session.headers.update(
            {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        )
        farm.start(
            "master",
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
        )
        farm.wait_for("the master to answer", lambda: farm.get("/agents/") == [])
        for number in (1, 2):
            _start_agent(farm, venv, number, port)

        def two_online_agents() -> list[str] | None:
            states = _agent_states(farm)
            online = [pk for pk, state in states.items() if state == "online"]
            return online if len(online) == 2 else None

        farm.agent_ids = farm.wait_for("two agents online", two_online_agents)
        yield farm
    finally:
        for name, process, _ in reversed(farm.processes):
            # SIGINT: the agents' clean stop (they say "offline"); the
            # master's supervisor stops gunicorn, the worker and beat.
            _stop(
                process,
                signal.SIGINT if name.startswith("agent") else signal.SIGTERM,
                30,
            )
        stop_redis()


def _create_jobtype(farm: Farm) -> None:
    response = farm.call(
        "POST",
        "/jobtypes/",
        {
            "name": "E2EShell",
            "classname": "E2EShell",
            "code": JOBTYPE_CODE,
            "description": "End-to-end test job type",
            "max_batch": 2,
            "batch_contiguous": True,
        },
    )
    assert response.status_code == 201, response.text


def _submit(farm: Farm, **fields: Any) -> int:
    body = {"jobtype": "E2EShell", "cpus": 1, "ram": 16, **fields}
    response = farm.call("POST", "/jobs/", body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _job_in(farm: Farm, job_id: int, state: str) -> dict[str, Any] | None:
    job = farm.get(f"/jobs/{job_id}")
    return job if job["state"] == state else None


def _agents_online(farm: Farm) -> bool:
    states = _agent_states(farm)
    return sorted(pk for pk, state in states.items() if state == "online") == sorted(
        farm.agent_ids
    )


def test_a_job_of_six_frames_in_batches_of_two_runs_to_done(farm: Farm) -> None:
    _create_jobtype(farm)
    job_id = _submit(farm, title="e2e frames", start=1, end=6, batch=2, requeue=0)

    farm.wait_for(f"job {job_id} done", lambda: _job_in(farm, job_id, "done"))

    tasks = farm.get(f"/jobs/{job_id}/tasks/")
    assert sorted(float(t["frame"]) for t in tasks) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert {t["state"] for t in tasks} == {"done"}
    assert {t["attempts"] for t in tasks} == {1}
    assert {t["failures"] for t in tasks} == {0}
    assert {t["agent_id"] for t in tasks} == set(farm.agent_ids)

    identifiers: dict[str, list[float]] = {}
    for task in tasks:
        base = f"/jobs/{job_id}/tasks/{task['id']}/attempts/1/logs/"
        logs = farm.get(base)
        assert len(logs) == 1, (task, logs)
        identifier = logs[0]["identifier"]
        identifiers.setdefault(identifier, []).append(float(task["frame"]))
        response = farm.call("GET", f"{base}{identifier}/logfile")
        assert response.status_code == 200, response.text
        assert "e2e-render frames" in response.text
    # One log per assignment, shared by the batch's two contiguous frames.
    assert sorted(sorted(frames) for frames in identifiers.values()) == [
        [1.0, 2.0],
        [3.0, 4.0],
        [5.0, 6.0],
    ]

    farm.wait_for("both agents online again", lambda: _agents_online(farm))


def test_a_failing_frame_is_requeued_then_the_job_fails(farm: Farm) -> None:
    job_id = _submit(
        farm,
        title="e2e failing frame",
        start=1,
        end=3,
        batch=1,
        requeue=1,
        data={"fail_frame": 2},
    )

    farm.wait_for(f"job {job_id} failed", lambda: _job_in(farm, job_id, "failed"))

    tasks = {float(t["frame"]): t for t in farm.get(f"/jobs/{job_id}/tasks/")}
    assert [tasks[1.0]["state"], tasks[3.0]["state"]] == ["done", "done"]
    failing = tasks[2.0]
    # One try, then `requeue` (1) more; the second on the other agent.
    assert (failing["state"], failing["attempts"], failing["failures"]) == (
        "failed",
        2,
        2,
    )
    failed_on = farm.get(f"/jobs/{job_id}/tasks/{failing['id']}/failed_on_agents/")
    assert sorted(agent["id"] for agent in failed_on) == sorted(farm.agent_ids)
    for attempt in (1, 2):
        logs = farm.get(
            f"/jobs/{job_id}/tasks/{failing['id']}/attempts/{attempt}/logs/"
        )
        assert len(logs) == 1, (attempt, logs)

    farm.wait_for("both agents online again", lambda: _agents_online(farm))


def test_the_master_polled_both_agents_and_kept_them_online(farm: Farm) -> None:
    code = (
        "from farm.models import Agent; import json; "
        "print(json.dumps([[str(a.pk), a.state, a.last_polled is not None] "
        "for a in Agent.objects.all()]))"
    )

    def polled() -> list[list[Any]] | None:
        rows = json.loads(farm.manage("shell", "-c", code).strip().splitlines()[-1])
        return rows if all(row[2] for row in rows) else None

    rows = farm.wait_for("a poll of both agents", polled)

    assert sorted(rows) == sorted(
        [agent_id, "online", True] for agent_id in farm.agent_ids
    )


def _agent_tasks(farm: Farm, agent_id: str) -> list[int]:
    """The ids of the tasks an agent runs, asked of the agent itself."""
    port = farm.get(f"/agents/{agent_id}")["port"]
    response = requests.get(f"http://127.0.0.1:{port}/api/v1/tasks/", timeout=10)
    assert response.status_code == 200, response.text
    return [int(task["id"]) for task in json.loads(response.content)]


def _running_task(farm: Farm, job_id: int) -> dict[str, Any] | None:
    """The job's only task once an agent reports it running."""
    (task,) = farm.get(f"/jobs/{job_id}/tasks/")
    return task if task["state"] == "running" and task["agent_id"] else None


def test_pausing_a_job_stops_its_task_on_the_agent(farm: Farm) -> None:
    job_id = _submit(
        farm,
        title="e2e paused",
        start=1,
        end=1,
        batch=1,
        requeue=0,
        data={"first_attempt_sleep": 120},
    )
    task = farm.wait_for(f"job {job_id} running", lambda: _running_task(farm, job_id))
    agent_id = task["agent_id"]
    assert task["id"] in _agent_tasks(farm, agent_id)

    response = farm.call("POST", f"/jobs/{job_id}", {"state": "paused"})
    assert response.status_code == 200, response.text

    farm.wait_for(
        f"agent {agent_id} to stop task {task['id']}",
        lambda: task["id"] not in _agent_tasks(farm, agent_id),
    )
    # The agent reports the stopped task queued (R6); nothing counts it as
    # a failure, and the master took it back from the agent.
    again = farm.get(f"/jobs/{job_id}/tasks/{task['id']}")
    assert (again["state"], again["agent_id"]) == ("queued", None)
    assert (again["attempts"], again["failures"]) == (1, 0)
    assert farm.get(f"/jobs/{job_id}")["state"] == "paused"
    # The worker's stop task told the agent (not only the next poll).
    master_log = next(log for name, _, log in farm.processes if name == "master")
    farm.wait_for(
        "the stop task's log line",
        lambda: f": stopped tasks [{task['id']}]" in master_log.read_text(),
    )

    response = farm.call("POST", f"/jobs/{job_id}", {"state": "queued"})
    assert response.status_code == 200, response.text
    farm.wait_for(f"job {job_id} done", lambda: _job_in(farm, job_id, "done"))
    done = farm.get(f"/jobs/{job_id}/tasks/{task['id']}")
    assert (done["state"], done["attempts"], done["failures"]) == ("done", 2, 0)
    farm.wait_for("both agents online again", lambda: _agents_online(farm))


def test_an_agent_killed_mid_task_is_offline_and_its_task_runs_elsewhere(
    farm: Farm,
) -> None:
    # Last: one agent stays dead.
    job_id = _submit(
        farm,
        title="e2e killed agent",
        start=1,
        end=1,
        batch=1,
        requeue=0,
        data={"first_attempt_sleep": 120},
    )
    task = farm.wait_for(f"job {job_id} running", lambda: _running_task(farm, job_id))
    killed = task["agent_id"]
    (survivor,) = set(farm.agent_ids) - {killed}
    port = farm.get(f"/agents/{killed}")["port"]
    (name,) = [name for name, number in farm.agent_ports.items() if number == port]
    process = next(p for n, p, _ in farm.processes if n == name)
    farm.processes = [entry for entry in farm.processes if entry[0] != name]

    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)

    farm.wait_for(
        f"agent {killed} offline",
        lambda: farm.get(f"/agents/{killed}")["state"] == "offline",
    )
    farm.wait_for(f"job {job_id} done", lambda: _job_in(farm, job_id, "done"))
    done = farm.get(f"/jobs/{job_id}/tasks/{task['id']}")
    assert (done["state"], done["agent_id"]) == ("done", survivor)
    assert farm.get(f"/agents/{killed}")["state"] == "offline"
