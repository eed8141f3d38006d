"""Start-up errors are one line naming the key or file, never a traceback.

Each case runs a real command (``manage.py``, ``runmaster``, the console
scripts, ``make run``) as a subprocess with one thing wrong.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyfarm_site.config import BASE_DIR
from tests.support.processes import free_port

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def _run(
    argv: list[str], tmp_path: Path, **environ: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYFARM_DATABASE_URI": f"sqlite:///{tmp_path}/farm.sqlite",
        "PYFARM_SCHEDULER_BROKER_DIR": str(tmp_path / "broker"),
        **environ,
    }
    for name in ("DJANGO_SETTINGS_MODULE", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    return subprocess.run(
        argv, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The only line on stderr, after checking that the command failed."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


MANAGE = [sys.executable, "manage.py"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"PYFARM_DEBUG": "maybe"},
            "error: configuration: PYFARM_DEBUG: 'maybe' is not a boolean",
        ),
        (
            {"PYFARM_CONFIG": "/nonexistent/farm.yml"},
            "error: configuration: cannot read configuration file "
            "/nonexistent/farm.yml",
        ),
        (
            {"PYFARM_DATABASE_URI": "mysql://farm@db/farm"},
            "error: configuration: database: unsupported database 'mysql'",
        ),
        (
            {"PYFARM_DATABASE_URI": "sqlite:////nonexistent/folder/farm.sqlite"},
            "error: database: cannot use the SQLite database "
            "/nonexistent/folder/farm.sqlite: unable to open database file "
            "(the folder /nonexistent/folder does not exist)",
        ),
        (
            {"PYFARM_AGENT_NETWORKS": "10.0.0.0/8,10.0.0.0/33"},
            "error: configuration: agent_networks: '10.0.0.0/33' is not an IP "
            "network (e.g. 10.0.0.0/8)",
        ),
    ],
    ids=[
        "bad-value",
        "missing-file",
        "bad-database-url",
        "sqlite-folder-missing",
        "bad-agent-network",
    ],
)
def test_manage_py_says_what_is_wrong_in_one_line(
    tmp_path: Path, environ: dict[str, str], expected: str
) -> None:
    line = _one_error_line(_run([*MANAGE, "migrate"], tmp_path, **environ))

    assert line.startswith(expected), line


def test_a_broken_yaml_file_is_one_line_naming_the_file(tmp_path: Path) -> None:
    operator = tmp_path / "farm.yml"
    operator.write_text("farm_name: [unclosed\nbase_url: x\n")

    line = _one_error_line(
        _run([*MANAGE, "migrate"], tmp_path, PYFARM_CONFIG=str(operator))
    )

    assert line.startswith(f"error: configuration: {operator} is not valid YAML")


def test_an_unreachable_database_is_one_line_naming_it(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://farm:secret@127.0.0.1:{port}/farm"

    line = _one_error_line(
        _run([*MANAGE, "migrate"], tmp_path, PYFARM_DATABASE_URI=url)
    )

    assert line.startswith(
        f"error: database: cannot use the PostgreSQL database farm on 127.0.0.1:{port}:"
    ), line
    assert "secret" not in line


def test_a_database_error_that_is_no_outage_keeps_its_traceback(
    tmp_path: Path,
) -> None:
    """A missing table (here: a database never migrated) is a bug to see in
    full, not "cannot use the database"."""
    result = _run(
        [*MANAGE, "shell", "-c", "from farm.models import Job; Job.objects.count()"],
        tmp_path,
    )

    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "no such table: jobs" in result.stderr
    assert "cannot use the SQLite database" not in result.stderr


def test_runmaster_stops_on_an_unreachable_database_before_starting_anything(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"postgresql://farm@127.0.0.1:{port}/farm"

    result = _run(
        [*MANAGE, "runmaster", "--bind", f"127.0.0.1:{free_port()}"],
        tmp_path,
        PYFARM_DATABASE_URI=url,
    )

    line = _one_error_line(result)
    assert line.startswith("CommandError: database: cannot use the PostgreSQL"), line


def test_runmaster_stops_on_a_bad_agent_network(tmp_path: Path) -> None:
    result = _run(
        [*MANAGE, "runmaster", "--bind", f"127.0.0.1:{free_port()}"],
        tmp_path,
        PYFARM_AGENT_NETWORKS="garbage",
    )

    line = _one_error_line(result)
    assert line == (
        "error: configuration: agent_networks: 'garbage' is not an IP network "
        "(e.g. 10.0.0.0/8)"
    ), line


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_runmaster_stops_on_a_port_in_use(tmp_path: Path, busy_port: int) -> None:
    result = _run(
        [*MANAGE, "runmaster", "--no-scheduler"],
        tmp_path,
        PYFARM_BASE_URL=f"http://127.0.0.1:{busy_port}/",
    )

    line = _one_error_line(result)
    assert line.startswith(
        f"CommandError: cannot listen on 127.0.0.1:{busy_port}: Address already in use"
    ), line
    assert "base_url" in line


@pytest.mark.parametrize("script", ["pyfarm-master", "pyfarm-tables"])
def test_the_console_scripts_say_what_is_wrong_in_one_line(
    tmp_path: Path, script: str
) -> None:
    line = _one_error_line(
        _run([str(BIN / script)], tmp_path, PYFARM_AGENT_REQUEST_TIMEOUT="soon")
    )

    assert line == (
        "error: configuration: PYFARM_AGENT_REQUEST_TIMEOUT: 'soon' is not an integer"
    )


def test_traceback_shows_the_traceback_after_all(tmp_path: Path) -> None:
    result = _run([*MANAGE, "migrate", "--traceback"], tmp_path, PYFARM_DEBUG="maybe")

    assert "Traceback" in result.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_says_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    venv = Path(sys.prefix)
    result = _run(
        # The virtualenv of this test, taken as up to date (-o: not rebuilt).
        ["make", "-s", "-o", f"{venv}/.installed", f"VENV={venv}", "run"],
        tmp_path,
        PYFARM_DATABASE_URI="sqlite:////nonexistent/folder/farm.sqlite",
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    ours, *rest = result.stderr.splitlines()
    assert ours.startswith(
        "error: database: cannot use the SQLite database "
        "/nonexistent/folder/farm.sqlite"
    )
    # Then make's own word that the step failed.
    assert [line for line in rest if not line.startswith("make")] == []
