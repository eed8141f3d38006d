"""``manage.py assign_tasks``: run one scheduler tick and print its assignments."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from scheduling import tick
from scheduling.tick import describe_assignments, run_tick


@contextmanager
def without_info(logger: logging.Logger) -> Iterator[None]:
    """Let only warnings and errors of ``logger`` through inside the block."""
    level = logger.level
    logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        logger.setLevel(level)


class Command(BaseCommand):
    """One tick of the planner; ``--dry-run`` plans without assigning anything."""

    help = (
        "Assigns queued tasks to idle agents once, as the periodic task does, "
        "and prints each assignment (agent -> job: frames). With --dry-run, "
        "prints the plan and changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Plan and print the assignments without applying them.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = options["dry_run"]
        # The tick logs its summary for the worker's log; here the command
        # prints it (below), once.
        with without_info(tick.logger):
            result = run_tick(dry_run=dry_run)
        shown = result.planned if dry_run else result.applied
        for line in describe_assignments(shown):
            self.stdout.write(str(line))
        summary = (
            f"{len(result.planned)} assignments planned"
            f" for {result.agents} idle agents, {result.jobs} jobs,"
            f" {result.tasks} runnable tasks"
        )
        if dry_run:
            summary += "; dry run, nothing changed"
        else:
            summary += f"; {len(result.applied)} applied, {result.skipped} skipped"
        self.stdout.write(
            f"{summary} (load {result.load_ms:.1f} ms, plan {result.plan_ms:.1f} ms,"
            f" apply {result.apply_ms:.1f} ms)"
        )
