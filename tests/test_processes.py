"""Supervision of the master's processes (pyfarm_site.processes.ProcessGroup).

Cheap children (``python -c``) and a clock the tests move by hand; the real
``runmaster`` with a killed worker is in farm/tests/test_commands.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyfarm_site.processes import Backoff, ProcessGroup, ProcessSpec, describe_exit

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
QUITTER = [sys.executable, "-c", "raise SystemExit(3)"]


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def groups() -> Iterator[list[ProcessGroup]]:
    """Groups the test makes; stopped at the end whatever happens."""
    made: list[ProcessGroup] = []
    yield made
    for group in made:
        group.stop()


def _group(
    groups: list[ProcessGroup], clock: Clock, *specs: ProcessSpec
) -> ProcessGroup:
    group = ProcessGroup(
        specs, backoff=Backoff(initial=1, maximum=8, reset_after=60), clock=clock
    )
    groups.append(group)
    return group


def _wait_exit(group: ProcessGroup, name: str) -> int:
    return group.children[name].wait(timeout=30)


def test_a_child_that_exits_is_started_again_after_the_first_delay(
    groups: list[ProcessGroup], clock: Clock
) -> None:
    group = _group(groups, clock, ProcessSpec("quitter", QUITTER))
    group.start()
    first = group.children["quitter"].pid
    _wait_exit(group, "quitter")

    group.supervise()  # notices the exit
    assert "quitter" not in group.children
    clock.now += 0.9
    group.supervise()
    assert "quitter" not in group.children
    clock.now += 0.1
    group.supervise()

    assert group.children["quitter"].pid != first


def test_the_delay_doubles_while_a_child_keeps_failing_up_to_the_cap(
    groups: list[ProcessGroup], clock: Clock
) -> None:
    group = _group(groups, clock, ProcessSpec("quitter", QUITTER))
    group.start()
    delays = []
    for _ in range(6):
        _wait_exit(group, "quitter")
        group.supervise()
        crashed_at = clock.now
        while "quitter" not in group.children:
            clock.now += 0.5
            group.supervise()
        delays.append(clock.now - crashed_at)

    assert delays == [1, 2, 4, 8, 8, 8]


def test_the_delay_starts_over_after_a_child_ran_long_enough(
    groups: list[ProcessGroup], clock: Clock
) -> None:
    group = _group(groups, clock, ProcessSpec("quitter", QUITTER))
    group.start()
    for _ in range(3):  # delays 1, 2, 4
        _wait_exit(group, "quitter")
        group.supervise()
        clock.now += 10
        group.supervise()
    clock.now += 60  # the third run lasted a minute
    _wait_exit(group, "quitter")

    group.supervise()
    clock.now += 1
    group.supervise()

    assert "quitter" in group.children


def test_the_others_keep_running_while_one_is_restarted(
    groups: list[ProcessGroup], clock: Clock
) -> None:
    group = _group(
        groups, clock, ProcessSpec("web", SLEEPER), ProcessSpec("worker", SLEEPER)
    )
    group.start()
    web = group.children["web"]
    group.children["worker"].kill()
    _wait_exit(group, "worker")

    group.supervise()
    clock.now += 1
    group.supervise()

    assert group.children["web"] is web
    assert web.poll() is None
    assert group.children["worker"].poll() is None


def test_each_exit_and_restart_is_logged(
    groups: list[ProcessGroup], clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    group = _group(groups, clock, ProcessSpec("worker", SLEEPER))
    group.start()
    first = group.children["worker"]
    first.kill()
    first.wait()
    caplog.clear()

    with caplog.at_level(logging.INFO, logger="pyfarm_site.processes"):
        clock.now += 2.5
        group.supervise()
        clock.now += 1
        group.supervise()

    second = group.children["worker"]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "ERROR",
            f"worker (pid {first.pid}) was killed by SIGKILL after 2.5 s; "
            "restarting it in 1 s",
        ),
        ("WARNING", f"restarted worker (pid {second.pid}, restart 1)"),
    ]


def test_a_child_that_cannot_be_started_again_is_retried(
    groups: list[ProcessGroup], clock: Clock, tmp_path: Path
) -> None:
    program = tmp_path / "program"
    program.write_text("#!/bin/sh\nexit 1\n")
    program.chmod(0o755)
    group = _group(groups, clock, ProcessSpec("flaky", [str(program)]))
    group.start()
    _wait_exit(group, "flaky")
    program.unlink()

    group.supervise()
    clock.now += 1
    group.supervise()  # cannot start it: tries again later, 2 s on
    assert "flaky" not in group.children
    program.write_text("#!/bin/sh\nsleep 60\n")
    program.chmod(0o755)
    clock.now += 2
    group.supervise()

    assert group.children["flaky"].poll() is None


def test_what_a_dead_child_leaves_behind_is_killed_with_it(
    groups: list[ProcessGroup], clock: Clock, tmp_path: Path
) -> None:
    """A child's own children (gunicorn's workers, Celery's pool) do not
    outlive it, so they cannot hold its port or its work."""
    pid_file = tmp_path / "grandchild.pid"
    parent = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    group = _group(groups, clock, ProcessSpec("web", [sys.executable, "-c", parent]))
    group.start()
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    group.children["web"].kill()
    _wait_exit(group, "web")

    group.supervise()

    deadline = time.monotonic() + 10
    while _alive(grandchild):
        assert time.monotonic() < deadline, "the grandchild outlived its parent"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_run_supervises_until_sigterm_then_stops_everything(
    groups: list[ProcessGroup],
) -> None:
    group = ProcessGroup(
        [ProcessSpec("sleeper", SLEEPER), ProcessSpec("quitter", QUITTER)],
        backoff=Backoff(initial=0.05, maximum=0.05),
    )
    groups.append(group)
    handler = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        code = group.run(interval=0.02)
    finally:
        timer.cancel()

    assert code == 0
    assert group.supervised["quitter"].restarts >= 3
    assert all(child.poll() is not None for child in group.children.values())
    # The handlers are given back.
    assert signal.getsignal(signal.SIGTERM) is handler


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (3, "exited with code 3"),
        (0, "exited with code 0"),
        (-9, "was killed by SIGKILL"),
    ],
)
def test_exits_are_described_in_words(code: int, text: str) -> None:
    assert describe_exit(code) == text


def test_the_backoff_doubles_caps_and_resets() -> None:
    backoff = Backoff(initial=1, maximum=30, reset_after=60)
    assert backoff.next_delay(None, 0) == 1
    assert backoff.next_delay(1, 5) == 2
    assert backoff.next_delay(16, 5) == 30
    assert backoff.next_delay(30, 5) == 30
    assert backoff.next_delay(30, 60) == 1


def _runner(tmp_path: Path, count: int) -> tuple[subprocess.Popen[bytes], list[int]]:
    """A ``ProcessGroup.run()`` in a process of its own, and its children's pids.

    Each child writes its pid to a file, so that the test can see it after
    the runner is gone.
    """
    specs = []
    for number in range(count):
        pid_file = tmp_path / f"child{number}.pid"
        code = (
            "import os, time; "
            f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
        )
        specs.append(f"ProcessSpec('child{number}', [sys.executable, '-c', {code!r}])")
    runner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pyfarm_site.processes import ProcessGroup, ProcessSpec; "
            f"ProcessGroup([{', '.join(specs)}], stop_timeout=5).run(interval=0.05)",
        ],
        cwd=Path(__file__).resolve().parents[1],
    )
    pids = []
    deadline = time.monotonic() + 30
    for number in range(count):
        pid_file = tmp_path / f"child{number}.pid"
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the children did not start"
            time.sleep(0.05)
        pids.append(int(pid_file.read_text()))
    return runner, pids


def _wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    """The pids still alive after ``timeout`` seconds (killed, so none linger)."""
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = [pid for pid in pids if _alive(pid)]
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return alive


@pytest.mark.parametrize(
    "signum", [signal.SIGHUP, signal.SIGQUIT], ids=["SIGHUP", "SIGQUIT"]
)
def test_a_hangup_or_quit_stops_every_child_like_sigterm(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """A closed terminal or dropped ssh session leaves no orphan holding the port."""
    runner, pids = _runner(tmp_path, 2)
    try:
        runner.send_signal(signum)
        code = runner.wait(timeout=30)
    finally:
        runner.kill()
        orphans = _wait_gone(pids)

    assert orphans == []
    assert code == 0


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_the_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    runner, pids = _runner(tmp_path, 2)
    try:
        runner.kill()
        runner.wait(timeout=30)
    finally:
        orphans = _wait_gone(pids)

    assert orphans == []
