"""``manage.py explain_job <id or title>``: why a job gets no agents."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from farm.models import Job
from scheduling.explain import explain


class Command(BaseCommand):
    """Print each constraint that blocks a job and the agents it rules out."""

    help = (
        "Explains why a job is not running: its state, unfinished parent jobs, "
        "reached maximums, and the idle agents each requirement rules out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "job",
            help="The job's id or title (a number is tried as an id first), "
            "as in the API's /jobs/<id or title>/explain.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            # The API's lookup, so that the command finds what the URL finds.
            job = Job.objects.only("pk", "title").by_id_or_title(options["job"])
            result = explain(job.pk)
        except Job.DoesNotExist:
            raise CommandError(f"job {options['job']!r} not found") from None
        self.stdout.write(
            f"job {result.job} ({result.title}): {result.state},"
            f" {result.runnable_tasks} runnable tasks,"
            f" {result.assigned_agents} agents working on it"
        )
        self.stdout.write(
            f"agents: {result.idle_agents} idle, {result.busy_agents} busy,"
            f" {result.offline_agents} offline, {result.disabled_agents} disabled"
        )
        for blocker in result.blocking:
            self.stdout.write(
                f"- {blocker.constraint}: rules out {blocker.agents_ruled_out}"
                f" idle agents; {blocker.detail}"
            )
        if not result.blocking:
            self.stdout.write("nothing blocks this job")
        self.stdout.write(f"{result.eligible_agents} idle agents could take it now")
