"""What the A/B benchmarks share: a server's CPU time and wrk's counts.

`heartbeat_ab.py` and `original_ab.py` both load gunicorn servers with wrk
and charge each server the CPU its processes used.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_SCALE = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def server_cpu(base: str) -> float:
    """CPU seconds used so far by the gunicorn processes serving ``base``.

    Gunicorn's workers keep the arbiter's command line, which names the bound
    address, so the processes are found by it: an argument equal to it (the
    machine may run other servers, on ports that start with the same digits).
    """
    bind = urlsplit(base).netloc.encode()
    ticks = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if bind not in (proc / "cmdline").read_bytes().split(b"\0"):
                continue
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        # utime and stime: fields 14 and 15, counted after the command's ")".
        fields = stat.rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class WrkCounts:
    """The requests of one wrk run, those that failed, and its duration."""

    requests: int
    failed: int
    seconds: float


def wrk_counts(output: str) -> WrkCounts:
    """Requests, failures (non-2xx/3xx, socket errors) and duration of a wrk run.

    wrk counts reads that end a closed connection (a sync worker closes each
    one) as read errors; they are not failed requests.
    """
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", output)
    if done is None:
        raise ValueError(f"not wrk's output: {output!r}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failed = int(non_2xx.group(1)) if non_2xx else 0
    failed += sum(int(errors.group(n)) for n in (1, 3, 4)) if errors else 0
    seconds = float(done.group(2)) * _SCALE[done.group(3)]
    return WrkCounts(int(done.group(1)), failed, seconds)
