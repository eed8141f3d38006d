"""The helpers that tests, test scripts and benchmarks share (tests/support)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.processes import ManageError, free_port, manage, stop_session


def test_a_free_port_can_be_listened_on() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))
        sock.listen()


def test_manage_returns_the_output_of_the_command(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYFARM_DATABASE_URI": f"sqlite:///{tmp_path}/farm.sqlite",
        "PYFARM_SCHEDULER_BROKER_DIR": str(tmp_path / "broker"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    assert "runmaster" in manage(env, "help", "--commands")


def test_a_failed_manage_command_raises_with_its_output(tmp_path: Path) -> None:
    env = {**os.environ, "PYFARM_DEBUG": "maybe"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    with pytest.raises(ManageError, match="PYFARM_DEBUG: 'maybe' is not a boolean"):
        manage(env, "check")


def test_stop_session_stops_what_the_process_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "time.sleep(60)']); "
        f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())

    stop_session(process, timeout=1)

    assert process.returncode == -signal.SIGTERM
    deadline = time.monotonic() + 10
    while _alive(grandchild):
        assert time.monotonic() < deadline, "the process's child outlived it"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
