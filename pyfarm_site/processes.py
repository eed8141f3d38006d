"""Running the master's processes together (``manage.py runmaster``).

`ProcessGroup` starts a set of child processes, forwards SIGTERM/SIGINT to
them, and stops all of them as soon as one exits, so that the master never
runs half up.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessSpec:
    """A named command line to run as a child process."""

    name: str
    argv: Sequence[str]


class ProcessGroup:
    """Children that start together and stop together."""

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        *,
        env: Mapping[str, str] | None = None,
        stop_timeout: float = 15.0,
    ) -> None:
        self.specs = list(specs)
        self.env = dict(os.environ if env is None else env)
        self.stop_timeout = stop_timeout
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = False

    def start(self) -> None:
        """Start every child; if one fails to start, stop the others."""
        try:
            for spec in self.specs:
                logger.info("starting %s: %s", spec.name, " ".join(spec.argv))
                self.children[spec.name] = subprocess.Popen(
                    list(spec.argv), env=self.env
                )
        except OSError:
            self.stop()
            raise

    def poll(self) -> tuple[str, int] | None:
        """One supervision step: the first child that exited, with its code."""
        for name, child in self.children.items():
            code = child.poll()
            if code is not None:
                return name, code
        return None

    def stop(self) -> None:
        """Terminate every child, killing those still alive after the timeout."""
        self._stopping = True
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + self.stop_timeout
        for name, child in self.children.items():
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in time; killing it", name)
                child.kill()
                child.wait()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info("received signal %s; stopping", signal.Signals(signum).name)
        self._stopping = True

    def run(self, *, interval: float = 0.5) -> int:
        """Start, supervise until a signal or a child's exit, stop; the exit code."""
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        code = 0
        try:
            self.start()
            while not self._stopping:
                exited = self.poll()
                if exited is not None:
                    name, code = exited
                    logger.error(
                        "%s exited with code %s; stopping the others", name, code
                    )
                    code = code or 1
                    break
                time.sleep(interval)
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code
