"""``manage.py setup_periodic_tasks``: the beat schedule rows from the configuration."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from scheduling.schedules import setup_periodic_tasks


class Command(BaseCommand):
    """Create the missing periodic tasks; ``--reset`` restores the configured ones."""

    help = (
        "Creates the periodic tasks of the scheduler that are missing, with the "
        "intervals of the configuration; existing ones are left as the admins "
        "set them unless --reset is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Also rewrite existing periodic tasks to the configured intervals.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = setup_periodic_tasks(reset=options["reset"])
        for name in report.created:
            self.stdout.write(f"created {name}")
        for name in report.reset:
            self.stdout.write(f"reset {name}")
        for name in report.kept:
            self.stdout.write(f"kept {name} (unchanged; --reset restores it)")
        for name in report.disabled:
            self.stdout.write(f"skipped {name}: enable_statistics is off")
        for name in report.unregistered:
            self.stdout.write(f"skipped {name}: no such task is registered")
