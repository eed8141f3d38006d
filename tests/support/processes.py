"""Running the master's programs from tests, test scripts and benchmarks.

One copy of what each of them needs: a free port (`free_port`), a
``manage.py`` command with a given environment (`manage`), and a process in a
session of its own, stopped with everything it started (`stop_session`).
Scripts run as files (``python benchmarks/latency.py``) put the project's
folder (`ROOT`) on ``sys.path`` before importing this module.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

#: The project's folder (``manage.py``'s).
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ManageError(RuntimeError):
    """A ``manage.py`` command failed; the message has its output."""


def manage(env: Mapping[str, str], *args: str, timeout: float = 300) -> str:
    """``manage.py <args>`` in `ROOT` with ``env``; its standard output.

    Raises `ManageError`, with the command's output, when it fails.
    """
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise ManageError(f"manage.py {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


def stop_session(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """Stop ``process`` (started with ``start_new_session=True``) and what it
    started: SIGTERM to its process group, SIGKILL after ``timeout`` s, and
    SIGKILL to whatever of the group outlived it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
