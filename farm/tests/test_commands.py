"""Operator commands: pyfarm_tables, runmaster, and the console scripts."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from farm.management.commands import runmaster
from pyfarm_site.config import BASE_DIR
from pyfarm_site.processes import ProcessGroup, ProcessSpec


def _tables() -> set[str]:
    return set(connection.introspection.table_names())


@pytest.mark.django_db(transaction=True)
def test_pyfarm_tables_drops_and_creates_every_table() -> None:
    out = io.StringIO()
    call_command("pyfarm_tables", "--drop-all", "--no-create-tables", stdout=out)
    assert "farm" in out.getvalue()
    assert not {"jobs", "tasks", "agents", "users"} & _tables()
    call_command("pyfarm_tables", stdout=io.StringIO())
    assert {"jobs", "tasks", "agents", "users", "task_logs"} <= _tables()


@pytest.mark.django_db(transaction=True)
def test_pyfarm_tables_echo_prints_the_sql() -> None:
    call_command(
        "pyfarm_tables", "--drop-all", "--no-create-tables", stdout=io.StringIO()
    )
    out = io.StringIO()
    call_command("pyfarm_tables", "--echo", stdout=out)
    assert 'CREATE TABLE "tasks"' in out.getvalue()


@pytest.mark.django_db
def test_pyfarm_tables_is_idempotent() -> None:
    out = io.StringIO()
    call_command("pyfarm_tables", stdout=out)
    assert "up to date" in out.getvalue()
    assert "jobs" in _tables()


@pytest.mark.django_db
@pytest.mark.parametrize("confirm", [None, "wrong-name"])
def test_runmaster_refuses_to_drop_without_the_database_name(confirm) -> None:
    args = ["--drop-all"] + (["--confirm-drop", confirm] if confirm else [])
    with pytest.raises(CommandError, match="--confirm-drop"):
        call_command("runmaster", *args)
    assert "jobs" in _tables()


@pytest.mark.django_db
def test_runmaster_refuses_the_configured_drop_without_confirmation(
    farm_config,
) -> None:
    farm_config(dev_db_drop_all=True)
    with pytest.raises(CommandError, match="--confirm-drop"):
        call_command("runmaster")


@pytest.mark.django_db(transaction=True)
def test_runmaster_drops_creates_and_serves(monkeypatch) -> None:
    started: dict[str, Any] = {}

    def fake_run(self: ProcessGroup, **kwargs: object) -> int:
        started["specs"] = self.specs
        started["env"] = self.env
        return 0

    monkeypatch.setattr(ProcessGroup, "run", fake_run)
    name = Path(connection.settings_dict["NAME"]).name
    out = io.StringIO()
    call_command(
        "runmaster",
        "-D",
        "--confirm-drop",
        name,
        "--allow-agent-loopback-addresses",
        "--bind",
        "127.0.0.1:5999",
        stdout=out,
    )
    assert "Dropped the tables" in out.getvalue()
    assert "jobs" in _tables()
    # The periodic tasks are set up with the tables.
    assert "scheduling.delete_jobs" in out.getvalue()
    web, worker, beat = started["specs"]
    assert (web.name, worker.name, beat.name) == ("web", "worker", "beat")
    assert web.argv[1:4] == ["-m", "gunicorn", "pyfarm_site.wsgi:application"]
    assert "127.0.0.1:5999" in web.argv
    assert worker.argv[-2:] == ["--concurrency", str(runmaster.DEFAULT_CONCURRENCY)]
    assert started["env"]["PYFARM_DEV_ALLOW_AGENT_LOOPBACK_ADDRESSES"] == "true"


@pytest.mark.django_db
def test_runmaster_without_the_scheduler_runs_the_web_server_only(
    monkeypatch,
) -> None:
    started = {}

    def fake_run(self: ProcessGroup, **kwargs: object) -> int:
        started["specs"] = self.specs
        return 0

    monkeypatch.setattr(ProcessGroup, "run", fake_run)
    call_command("runmaster", "--dev", "--no-scheduler", stdout=io.StringIO())
    assert [spec.name for spec in started["specs"]] == ["web"]


@pytest.mark.django_db
def test_runmaster_passes_the_concurrency_to_the_worker(monkeypatch) -> None:
    started = {}

    def fake_run(self: ProcessGroup, **kwargs: object) -> int:
        started["specs"] = self.specs
        return 0

    monkeypatch.setattr(ProcessGroup, "run", fake_run)
    call_command("runmaster", "--dev", "--concurrency", "3", stdout=io.StringIO())
    worker = next(spec for spec in started["specs"] if spec.name == "worker")
    assert worker.argv[-2:] == ["--concurrency", "3"]


@pytest.mark.parametrize("option", ["--workers", "--concurrency"])
def test_runmaster_refuses_fewer_than_one_process(option: str) -> None:
    with pytest.raises(CommandError, match=f"{option} must be at least 1"):
        call_command("runmaster", option, "0", stdout=io.StringIO())


def test_the_scheduler_runs_as_a_celery_worker_and_beat() -> None:
    _, worker, beat = runmaster.master_processes(
        bind="127.0.0.1:1", dev=False, workers=1, concurrency=2
    )
    celery = [sys.executable, "-m", "celery", "-A", "pyfarm_site"]
    assert worker.argv == [
        *celery,
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        "2",
    ]
    assert beat.argv == [
        *celery,
        "beat",
        "--loglevel",
        "INFO",
        "--scheduler",
        "django_celery_beat.schedulers:DatabaseScheduler",
    ]


def test_runmaster_listens_where_the_configuration_says(farm_config) -> None:
    farm_config(
        base_url="http://farm.example.com:8080/", flask_listen_address="0.0.0.0"
    )
    assert runmaster.listen_address() == "0.0.0.0:8080"


def test_dev_mode_uses_the_development_server() -> None:
    web, *scheduler = runmaster.master_processes(
        bind="127.0.0.1:1", dev=True, workers=1
    )
    assert web.argv[-2:] == ["runserver", "127.0.0.1:1"]
    assert [spec.name for spec in scheduler] == ["worker", "beat"]


@pytest.mark.django_db
def test_runmaster_stops_with_the_exit_code_of_a_failed_child(monkeypatch) -> None:
    monkeypatch.setattr(
        runmaster,
        "master_processes",
        lambda **kwargs: [
            ProcessSpec("web", [sys.executable, "-c", "raise SystemExit(3)"])
        ],
    )
    with pytest.raises(CommandError, match="exit code 3"):
        call_command("runmaster", "--dev", stdout=io.StringIO())


def test_process_group_stops_the_others_when_one_exits() -> None:
    group = ProcessGroup(
        [
            ProcessSpec(
                "sleeper", [sys.executable, "-c", "import time; time.sleep(60)"]
            ),
            ProcessSpec("quitter", [sys.executable, "-c", "raise SystemExit(0)"]),
        ]
    )
    started = time.monotonic()
    assert group.run(interval=0.05) == 1
    assert time.monotonic() - started < 15
    assert all(child.poll() is not None for child in group.children.values())


def test_process_group_poll_reports_an_exited_child() -> None:
    group = ProcessGroup([ProcessSpec("quick", [sys.executable, "-c", "pass"])])
    group.start()
    group.children["quick"].wait()
    assert group.poll() == ("quick", 0)
    group.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (read from /proc: Linux only)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        # Fields after the command name: state, ppid, ...
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return children


def _wait_for_log(path: Path, *texts: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = path.read_text(errors="replace") if path.exists() else ""
        if all(text in log for text in texts):
            return
        time.sleep(0.2)
    raise AssertionError(f"{texts} not all in the master's log within {timeout}s")


@pytest.mark.slow
def test_the_master_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The real thing: migrate a fresh database, serve with gunicorn, run a
    Celery worker and beat on the embedded broker, stop them all."""
    port = _free_port()
    env = {
        **os.environ,
        "PYFARM_DATABASE_URI": f"sqlite:///{tmp_path}/farm.sqlite",
        "PYFARM_BASE_URL": f"http://127.0.0.1:{port}/",
        "PYFARM_SCHEDULER_BROKER": "filesystem://",
        "PYFARM_SCHEDULER_BROKER_DIR": str(tmp_path / "broker"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = tmp_path / "master.log"
    with log.open("wb") as output:
        master = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "runmaster",
                "--create-all",
                "--workers",
                "1",
                "--concurrency",
                "1",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        assert _wait_for(f"http://127.0.0.1:{port}/login/") == 200
        assert _wait_for(f"http://127.0.0.1:{port}/setup/") == 200
        # The worker is connected to the embedded broker, beat reads the
        # database's schedule: web, worker and beat are the master's children.
        _wait_for_log(log, "filesystem://", " ready.", "beat: Starting...")
        children = _children(master.pid)
        assert len(children) == 3
        assert (tmp_path / "broker" / "queue").is_dir()
        master.send_signal(signal.SIGTERM)
        assert master.wait(timeout=30) == 0
    finally:
        if master.poll() is None:
            master.kill()
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "command"),
    [("pyfarm-master", "runmaster"), ("pyfarm-tables", "pyfarm_tables")],
)
def test_console_scripts_run_the_commands(script: str, command: str) -> None:
    executable = Path(sys.executable).parent / script
    assert executable.exists(), f"{script} is not installed (pip install -e .)"
    result = subprocess.run(
        [str(executable), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "--drop-all" in result.stdout
