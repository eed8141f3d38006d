"""The latency benchmark's breakdown from the worker's log (benchmarks/latency.py)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from benchmarks.latency import stages

LOG = """\
[2026-01-05 12:00:00,010: INFO/MainProcess] Task scheduling.assign_tasks[a1] received
[2026-01-05 12:00:00,050: INFO/ForkPoolWorker-1] Task scheduling.assign_tasks[a1] \
succeeded in 0.03s: {'agents': 4}
[2026-01-05 12:00:00,051: INFO/MainProcess] Task scheduling.send_assignment[s1] received
[2026-01-05 12:00:00,070: INFO/ForkPoolWorker-2] Task scheduling.send_assignment[s1] \
succeeded in 0.015s: {'sent': [1]}
"""


def _at(milliseconds: float) -> float:
    """Wall-clock seconds, the local time of the log plus ``milliseconds``."""
    start = datetime.datetime(2026, 1, 5, 12, 0, 0).timestamp()
    return start + milliseconds / 1000


def test_the_breakdown_splits_a_sample_at_its_tick_and_sending(
    tmp_path: Path,
) -> None:
    log = tmp_path / "master.log"
    log.write_text(LOG)
    parts, count = stages([(_at(5), _at(62))], log)
    assert count == 1
    assert {name: round(v[0] * 1000) for name, v in parts.items()} == {
        "POST to the tick's start": 15,
        "the tick": 30,
        "the tick's end to the sending's start": 5,
        "the sending, until the agent has it": 7,
    }


def test_the_breakdown_finds_the_sending_in_a_chunk_message(tmp_path: Path) -> None:
    """Ticks send one ``send_assignments`` message per chunk of agents."""
    log = tmp_path / "master.log"
    log.write_text(LOG.replace("send_assignment[", "send_assignments["))
    parts, count = stages([(_at(5), _at(62))], log)
    assert count == 1
    assert round(parts["the sending, until the agent has it"][0] * 1000) == 7


def test_the_breakdown_leaves_out_a_sample_whose_sending_is_not_in_the_log(
    tmp_path: Path,
) -> None:
    log = tmp_path / "master.log"
    log.write_text(LOG)
    parts, count = stages([(_at(5), _at(62)), (_at(100), _at(180))], log)
    assert count == 1
    assert len(parts["the tick"]) == 1


def test_the_breakdown_takes_a_tick_that_started_before_the_post(
    tmp_path: Path,
) -> None:
    log = tmp_path / "master.log"
    log.write_text(LOG)
    parts, _ = stages([(_at(25), _at(62))], log)
    assert round(parts["POST to the tick's start"][0] * 1000) == -5


@pytest.mark.parametrize("text", ["", "gunicorn started\n"])
def test_the_breakdown_finds_nothing_without_worker_lines(
    tmp_path: Path, text: str
) -> None:
    log = tmp_path / "master.log"
    log.write_text(text)
    assert stages([(_at(5), _at(62))], log)[1] == 0
