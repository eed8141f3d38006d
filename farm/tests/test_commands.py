"""Operator commands: pyfarm_tables, runmaster, and the console scripts."""

from __future__ import annotations

import http.client
import io
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from farm.management.commands import runmaster
from pyfarm_site.config import BASE_DIR
from pyfarm_site.processes import ProcessGroup
from tests.support.processes import free_port


def _tables() -> set[str]:
    return set(connection.introspection.table_names())


def _database_file_name() -> str:
    return Path(connection.settings_dict["NAME"]).name


@pytest.mark.django_db(transaction=True)
def test_pyfarm_tables_drops_and_creates_every_table() -> None:
    out = io.StringIO()
    call_command(
        "pyfarm_tables",
        "--drop-all",
        "--confirm-drop",
        _database_file_name(),
        "--no-create-tables",
        stdout=out,
    )
    assert "farm" in out.getvalue()
    assert not {"jobs", "tasks", "agents", "users"} & _tables()
    call_command("pyfarm_tables", stdout=io.StringIO())
    assert {"jobs", "tasks", "agents", "users", "task_logs"} <= _tables()


@pytest.mark.django_db(transaction=True)
def test_pyfarm_tables_echo_prints_the_sql() -> None:
    call_command(
        "pyfarm_tables",
        "--drop-all",
        "--confirm-drop",
        _database_file_name(),
        "--no-create-tables",
        stdout=io.StringIO(),
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
def test_pyfarm_tables_refuses_to_drop_without_the_database_name(confirm) -> None:
    args = ["--drop-all"] + (["--confirm-drop", confirm] if confirm else [])
    with pytest.raises(CommandError, match="--confirm-drop"):
        call_command("pyfarm_tables", *args, stdout=io.StringIO())
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
    bind = f"127.0.0.1:{free_port()}"
    out = io.StringIO()
    call_command(
        "runmaster",
        "-D",
        "--confirm-drop",
        _database_file_name(),
        "--allow-agent-loopback-addresses",
        "--bind",
        bind,
        stdout=out,
    )
    assert "Dropped the tables" in out.getvalue()
    assert "jobs" in _tables()
    # The periodic tasks are set up with the tables.
    assert "scheduling.delete_jobs" in out.getvalue()
    web, worker, beat = started["specs"]
    assert (web.name, worker.name, beat.name) == ("web", "worker", "beat")
    assert web.argv[1:4] == ["-m", "gunicorn", "pyfarm_site.wsgi:application"]
    assert bind in web.argv
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
    call_command(
        "runmaster", "--dev", "--no-scheduler", "--bind", _bind(), stdout=io.StringIO()
    )
    assert [spec.name for spec in started["specs"]] == ["web"]


@pytest.mark.django_db
def test_runmaster_passes_the_concurrency_to_the_worker(monkeypatch) -> None:
    started = {}

    def fake_run(self: ProcessGroup, **kwargs: object) -> int:
        started["specs"] = self.specs
        return 0

    monkeypatch.setattr(ProcessGroup, "run", fake_run)
    call_command(
        "runmaster",
        "--dev",
        "--concurrency",
        "3",
        "--bind",
        _bind(),
        stdout=io.StringIO(),
    )
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


def _bind() -> str:
    return f"127.0.0.1:{free_port()}"


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


def _master_env(folder: Path, port: int) -> dict[str, str]:
    """The environment of a master on ``folder``'s database and broker."""
    env = {
        **os.environ,
        "PYFARM_DATABASE_URI": f"sqlite:///{folder}/farm.sqlite",
        "PYFARM_BASE_URL": f"http://127.0.0.1:{port}/",
        "PYFARM_SCHEDULER_BROKER": "filesystem://",
        "PYFARM_SCHEDULER_BROKER_DIR": str(folder / "broker"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def _start_master(folder: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    """``manage.py runmaster`` on a fresh SQLite database and broker folder."""
    env = _master_env(folder, port)
    log = folder / "master.log"
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
    return master, log


def _stop_master(master: subprocess.Popen[bytes]) -> int:
    if master.poll() is None:
        master.send_signal(signal.SIGTERM)
        try:
            master.wait(timeout=30)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait()
    return master.returncode


@pytest.mark.slow
def test_the_master_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The real thing: migrate a fresh database, serve with gunicorn, run a
    Celery worker and beat on the embedded broker, stop them all."""
    port = free_port()
    master, log = _start_master(tmp_path, port)
    try:
        assert _wait_for(f"http://127.0.0.1:{port}/login/") == 200
        assert _wait_for(f"http://127.0.0.1:{port}/setup/") == 200
        # The worker is connected to the embedded broker, beat reads the
        # database's schedule: web, worker and beat are the master's children.
        _wait_for_log(log, "Connected to pyfarm_site.broker:Transport://", " ready.")
        _wait_for_log(log, "beat: Starting...")
        children = _children(master.pid)
        assert len(children) == 3
        assert (tmp_path / "broker" / "queue").is_dir()
        master.send_signal(signal.SIGTERM)
        assert master.wait(timeout=30) == 0
    finally:
        _stop_master(master)
    assert not [pid for pid in children if _alive(pid)]
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _child(pid: int, *words: str) -> int | None:
    """The live child of ``pid`` whose command line has all of ``words``."""
    for child in _children(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if all(word.encode() in argv for word in words):
            return child
    return None


@pytest.fixture(scope="module")
def running_master(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.Popen[bytes], Path, int]]:
    """One real ``runmaster`` (web, worker, beat) for the tests of this module
    that only watch it or kill one of its children."""
    folder = tmp_path_factory.mktemp("master")
    port = free_port()
    master, log = _start_master(folder, port)
    try:
        _wait_for(f"http://127.0.0.1:{port}/login/")
        _wait_for_log(log, " ready.", "beat: Starting...")
        yield master, log, port
    finally:
        _stop_master(master)


@pytest.mark.slow
def test_a_killed_worker_is_restarted_while_the_web_server_serves(
    running_master: tuple[subprocess.Popen[bytes], Path, int],
) -> None:
    master, log, port = running_master
    worker = _child(master.pid, "celery", "worker")
    assert worker is not None
    failures: list[str] = []
    answered = 0
    done = threading.Event()

    def poll_web() -> None:
        nonlocal answered
        while not done.is_set():
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/login/", timeout=5
                ) as response:
                    assert response.status == 200
                    answered += 1
            except (OSError, AssertionError) as error:
                failures.append(repr(error))
            time.sleep(0.1)

    poller = threading.Thread(target=poll_web)
    poller.start()
    try:
        ready = log.read_text(errors="replace").count(" ready.")
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 60
        restarted = None
        while restarted in (None, worker):
            assert time.monotonic() < deadline, "the worker was not restarted"
            assert master.poll() is None, "the master stopped"
            time.sleep(0.2)
            restarted = _child(master.pid, "celery", "worker")
        # The new worker gets ready, on the broker again.
        while log.read_text(errors="replace").count(" ready.") <= ready:
            assert time.monotonic() < deadline, "the new worker never got ready"
            time.sleep(0.2)
    finally:
        done.set()
        poller.join(timeout=30)
    text = log.read_text(errors="replace")
    assert f"worker (pid {worker}) was killed by SIGKILL" in text
    assert f"restarted worker (pid {restarted}, restart 1)" in text
    assert master.poll() is None
    assert answered > 0
    assert failures == []


def _send_task(folder: Path, port: int, name: str) -> str:
    """Queue the task ``name`` on the master's broker, from another process;
    its id."""
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            f"from pyfarm_site.celery import app; print(app.send_task({name!r}).id)",
        ],
        cwd=BASE_DIR,
        env=_master_env(folder, port),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_the_worker_survives_empty_and_half_written_broker_messages(
    running_master: tuple[subprocess.Popen[bytes], Path, int],
) -> None:
    """``make run``'s embedded broker: a message file that is empty or cut
    short (a writer that died, a reader that came too early) is set aside;
    the worker keeps running and the next task still runs."""
    master, log, port = running_master
    folder = log.parent
    worker = _child(master.pid, "celery", "worker")
    assert worker is not None
    queue = folder / "broker" / "queue"
    now = int(time.monotonic() * 1000)
    empty = queue / f"{now}_{uuid.uuid4()}.celery.msg"
    half = queue / f"{now + 1}_{uuid.uuid4()}.celery.msg"
    empty.touch()
    half.write_text('{"body": "eyJ0YXNrIjogInNjaGVk", "content-enc')

    bad = folder / "broker" / "bad"
    deadline = time.monotonic() + 60
    while not (bad / empty.name).exists() or not (bad / half.name).exists():
        assert time.monotonic() < deadline, "the broken messages were not set aside"
        assert master.poll() is None, "the master stopped"
        time.sleep(0.2)
    task_id = _send_task(folder, port, "scheduling.count_agents")
    _wait_for_log(log, f"Task scheduling.count_agents[{task_id}] succeeded")

    assert _child(master.pid, "celery", "worker") == worker
    assert "Unrecoverable error" not in log.read_text(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize(
    "path", ["/static/farm/css/base.css", "/static/admin/css/base.css"]
)
def test_the_master_serves_static_files_with_debug_off(
    running_master: tuple[subprocess.Popen[bytes], Path, int], path: str
) -> None:
    _, _, port = running_master
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/css")


@pytest.mark.slow
def test_the_master_answers_its_own_404_page_with_debug_off(
    running_master: tuple[subprocess.Popen[bytes], Path, int],
) -> None:
    _, _, port = running_master
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/no/such/page", timeout=10)
    assert raised.value.code == 404
    page = raised.value.read().decode()
    assert "<h1>Page not found</h1>" in page
    # Not Django's debug page, which lists every URL.
    assert "URLconf" not in page


@pytest.mark.slow
def test_the_web_server_keeps_a_connection_open_between_reports(
    running_master: tuple[subprocess.Popen[bytes], Path, int],
) -> None:
    """An agent reuses its connection after a pause (a 2 s frame); gunicorn's
    default keep-alive of 2 s had closed it by then."""
    _, _, port = running_master
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/login/")
        first = connection.getresponse()
        first.read()
        sock = connection.sock
        time.sleep(3)
        connection.request("GET", "/login/")
        second = connection.getresponse()
        second.read()
        reused = sock is not None and connection.sock is sock
    finally:
        connection.close()
    assert (first.status, second.status) == (200, 200)
    assert not first.will_close
    assert reused


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
