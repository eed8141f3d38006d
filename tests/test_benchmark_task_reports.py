"""The task report benchmark (benchmarks/task_reports.py) at a tiny size."""

from __future__ import annotations

import pytest

from benchmarks.task_reports import KINDS, build, count_statements, measure, report

pytestmark = pytest.mark.django_db


def test_both_paths_are_measured_for_every_kind_of_report() -> None:
    tasks = build(2 * 2 * 2 * 4 + 10)
    counts = count_statements(tasks[-6:])
    cpu = measure(tasks[:-6], rounds=2, per_round=2)
    lines = report(cpu, counts)
    assert len(lines) == 1 + len(KINDS)
    for kind, _ in KINDS:
        assert len(cpu[kind]["lean"]) == len(cpu[kind]["orm"]) == 2
        # The lean path never sends more than the ORM path did.
        assert counts[kind]["lean"] < counts[kind]["orm"]
