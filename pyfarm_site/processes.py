"""Running the master's processes together (``manage.py runmaster``).

`ProcessGroup` starts a set of child processes and supervises them: a child
that exits (a crashed Celery worker, beat or web server) is started again
after a delay that doubles while it keeps failing (`Backoff`), and each exit
and restart is logged, while the other children keep running. SIGTERM,
SIGINT, SIGHUP (a closed terminal, a dropped ssh session) or SIGQUIT to the
supervising process stops them all.

Each child runs in a process group of its own: a terminal's Ctrl+C reaches
the supervisor alone, which then stops the children in order, and when a
child dies, what it leaves behind (gunicorn's or Celery's own worker
processes) is killed with it, so its replacement starts clean. On Linux, each
child also gets SIGTERM from the kernel when the supervisor dies without
stopping it (SIGKILL, the OOM killer): `parent_death_signal`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

logger = logging.getLogger(__name__)

#: The signals that stop the supervisor and all its children.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
#: ``prctl(2)`` option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcessSpec:
    """A named command line to run as a child process."""

    name: str
    argv: Sequence[str]


@dataclass(frozen=True)
class Backoff:
    """How long to wait before starting a child that exited again.

    The first restart waits ``initial`` seconds, each further one twice as
    long as the one before, up to ``maximum``; a child that had run for
    ``reset_after`` seconds before it exited counts as healthy, and starts
    over at ``initial``.
    """

    initial: float = 1.0
    maximum: float = 30.0
    reset_after: float = 60.0

    def next_delay(self, previous: float | None, ran_for: float) -> float:
        """The delay before the next start, after one of ``previous``."""
        if previous is None or ran_for >= self.reset_after:
            return self.initial
        return min(previous * 2, self.maximum)


@dataclass
class Child:
    """One supervised child: its spec, its current process and restart state."""

    spec: ProcessSpec
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    #: The delay of the last restart (None: it has not failed yet).
    delay: float | None = None
    #: When to start it again, while it is down.
    restart_at: float | None = None
    restarts: int = 0


def describe_exit(code: int) -> str:
    """``exited with code 3`` or ``was killed by SIGKILL``."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class ProcessGroup:
    """Children that start together, are restarted alone and stop together."""

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        *,
        env: Mapping[str, str] | None = None,
        stop_timeout: float = 15.0,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.specs = list(specs)
        self.env = dict(os.environ if env is None else env)
        self.stop_timeout = stop_timeout
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.supervised = {spec.name: Child(spec) for spec in self.specs}
        self._stopping = False

    @property
    def children(self) -> dict[str, subprocess.Popen[bytes]]:
        """The current process of each child that has one."""
        return {
            name: child.process
            for name, child in self.supervised.items()
            if child.process is not None
        }

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(
            list(child.spec.argv),
            env=self.env,
            process_group=0,
            preexec_fn=parent_death_signal(),
        )
        child.started_at = self.clock()
        child.restart_at = None

    def start(self) -> None:
        """Start every child; if one fails to start, stop the others."""
        try:
            for child in self.supervised.values():
                logger.info(
                    "starting %s: %s", child.spec.name, " ".join(child.spec.argv)
                )
                self._spawn(child)
                assert child.process is not None
                logger.info("started %s (pid %d)", child.spec.name, child.process.pid)
        except OSError:
            self.stop()
            raise

    def supervise(self) -> None:
        """One supervision step: notice children that exited, restart those due."""
        now = self.clock()
        for child in self.supervised.values():
            process = child.process
            if process is not None:
                code = process.poll()
                if code is None:
                    continue
                _kill_group(process.pid)
                ran_for = now - child.started_at
                child.delay = self.backoff.next_delay(child.delay, ran_for)
                child.restart_at = now + child.delay
                child.process = None
                logger.error(
                    "%s (pid %d) %s after %.1f s; restarting it in %.0f s",
                    child.spec.name,
                    process.pid,
                    describe_exit(code),
                    ran_for,
                    child.delay,
                )
            if self._stopping or child.restart_at is None or now < child.restart_at:
                continue
            try:
                self._spawn(child)
            except OSError as error:
                child.delay = self.backoff.next_delay(child.delay, 0.0)
                child.restart_at = now + child.delay
                logger.error(
                    "cannot restart %s: %s; trying again in %.0f s",
                    child.spec.name,
                    error,
                    child.delay,
                )
                continue
            child.restarts += 1
            assert child.process is not None
            logger.warning(
                "restarted %s (pid %d, restart %d)",
                child.spec.name,
                child.process.pid,
                child.restarts,
            )

    def stop(self) -> None:
        """Terminate every child, killing those still alive after the timeout."""
        self._stopping = True
        running = self.children
        for process in running.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + self.stop_timeout
        for name, process in running.items():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in time; killing it", name)
                process.kill()
                process.wait()
            _kill_group(process.pid)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info("received signal %s; stopping", signal.Signals(signum).name)
        self._stopping = True

    def run(self, *, interval: float = 0.5) -> int:
        """Start, supervise until a `STOP_SIGNALS` signal, stop; the exit code (0)."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        try:
            self.start()
            while not self._stopping:
                self.supervise()
                time.sleep(interval)
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0


def _kill_group(pgid: int) -> None:
    """Kill what is left of a child's process group (its own children)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel send SIGTERM to the child when its
    parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``); None elsewhere.

    So a supervisor killed by SIGKILL leaves no orphan (gunicorn holding the
    port, a worker consuming tasks). The C function is looked up here, in the
    parent: the hook itself only calls it, imports nothing and takes no lock,
    so it stays safe to run between fork and exec. Like every ``preexec_fn``,
    it is meant for a process that starts children from one thread, as
    ``runmaster`` does; the signal comes when that thread ends, so children
    must be started from the main thread. A parent that died before the call
    is noticed (the child's parent changed), and the child ends itself.
    """
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None).prctl  # the C library, already loaded
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    term = int(signal.SIGTERM)

    def set_parent_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, term)
        if os.getppid() != parent:
            os.kill(os.getpid(), term)

    return set_parent_death_signal
