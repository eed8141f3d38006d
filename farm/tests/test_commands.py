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
    started = {}

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
    (web,) = started["specs"]
    assert web.argv[1:4] == ["-m", "gunicorn", "pyfarm_site.wsgi:application"]
    assert "127.0.0.1:5999" in web.argv
    assert started["env"]["PYFARM_DEV_ALLOW_AGENT_LOOPBACK_ADDRESSES"] == "true"


def test_runmaster_listens_where_the_configuration_says(farm_config) -> None:
    farm_config(
        base_url="http://farm.example.com:8080/", flask_listen_address="0.0.0.0"
    )
    assert runmaster.listen_address() == "0.0.0.0:8080"


def test_dev_mode_uses_the_development_server() -> None:
    (web,) = runmaster.master_processes(bind="127.0.0.1:1", dev=True, workers=1)
    assert web.argv[-2:] == ["runserver", "127.0.0.1:1"]


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


@pytest.mark.slow
def test_the_master_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The real thing: migrate a fresh database, serve with gunicorn, stop."""
    port = _free_port()
    env = {
        **os.environ,
        "PYFARM_DATABASE_URI": f"sqlite:///{tmp_path}/farm.sqlite",
        "PYFARM_BASE_URL": f"http://127.0.0.1:{port}/",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    master = subprocess.Popen(
        [sys.executable, "manage.py", "runmaster", "--create-all", "--workers", "1"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_for(f"http://127.0.0.1:{port}/login/") == 200
        assert _wait_for(f"http://127.0.0.1:{port}/setup/") == 200
        master.send_signal(signal.SIGTERM)
        assert master.wait(timeout=20) == 0
    finally:
        if master.poll() is None:
            master.kill()
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
