"""The aggregated reads of the job group, job type and software pages.

Every function here costs one query for a whole page of rows (a grouped
count over the page's ids), never one per row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, OuterRef, QuerySet, Subquery

from farm.choices import WorkState
from farm.models import (
    Agent,
    Job,
    JobTypeSoftwareRequirement,
    JobTypeVersion,
    Software,
    Task,
)

__all__ = [
    "StateCounts",
    "agents_per_version",
    "job_counts_per_jobtype",
    "jobtypes_requiring",
    "latest_versions",
    "state_counts_per_group",
    "task_counts_per_job",
]


@dataclass
class StateCounts:
    """How many jobs (or tasks) are in each state; paused counts as queued."""

    done: int = 0
    failed: int = 0
    running: int = 0
    queued: int = 0
    paused: int = 0
    by_state: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Every job (or task) counted."""
        return self.done + self.failed + self.running + self.queued + self.paused

    @property
    def waiting(self) -> int:
        """Queued and paused: the bar's grey segment."""
        return self.queued + self.paused

    @property
    def ordered(self) -> list[tuple[str, int]]:
        """The states counted, in the order of the work states."""
        order = {state: index for index, state in enumerate(WorkState.values)}
        return sorted(
            self.by_state.items(), key=lambda item: order.get(item[0], len(order))
        )

    def add(self, state: str, count: int) -> None:
        """Count ``count`` more in ``state``."""
        if state in WorkState.values:
            setattr(self, state, getattr(self, state) + count)
        self.by_state[state] = self.by_state.get(state, 0) + count


def _counts(rows: Iterable[dict[str, Any]], key: str) -> dict[int, StateCounts]:
    counts: dict[int, StateCounts] = defaultdict(StateCounts)
    for row in rows:
        counts[row[key]].add(row["state"], row["n"])
    return counts


def state_counts_per_group(group_ids: Sequence[int]) -> dict[int, StateCounts]:
    """The visible jobs of each group, counted by state, in one grouped query."""
    rows = (
        Job.objects.visible()
        .filter(group_id__in=group_ids)
        .order_by()
        .values("group_id", "state")
        .annotate(n=Count("pk"))
    )
    return _counts(rows, "group_id")


def task_counts_per_job(job_ids: Sequence[int]) -> dict[int, StateCounts]:
    """The tasks of each job, counted by state, in one grouped query."""
    rows = (
        Task.objects.filter(job_id__in=job_ids)
        .order_by()
        .values("job_id", "state")
        .annotate(n=Count("pk"))
    )
    return _counts(rows, "job_id")


def job_counts_per_jobtype(jobtype_ids: Sequence[int]) -> dict[int, int]:
    """How many jobs (of any version) each job type has, in one grouped query."""
    rows = (
        Job.objects.filter(jobtype_version__jobtype_id__in=jobtype_ids)
        .order_by()
        .values("jobtype_version__jobtype_id")
        .annotate(n=Count("pk"))
    )
    return {row["jobtype_version__jobtype_id"]: row["n"] for row in rows}


def latest_versions(jobtype_ids: Sequence[int]) -> dict[int, JobTypeVersion]:
    """The latest version of each job type, in one query."""
    newest = (
        JobTypeVersion.objects.filter(jobtype=OuterRef("jobtype"))
        .order_by("-version")
        .values("version")[:1]
    )
    versions = (
        JobTypeVersion.objects.filter(jobtype_id__in=jobtype_ids)
        .filter(version=Subquery(newest))
        .defer("code")
    )
    return {version.jobtype_id: version for version in versions}


def agents_per_version(software: Software) -> dict[int, int]:
    """How many agents have each version of ``software``, in one grouped query."""
    through = Agent.software_versions.through
    rows = (
        through.objects.filter(softwareversion__software=software)
        .order_by()
        .values("softwareversion_id")
        .annotate(n=Count("agent_id"))
    )
    return {row["softwareversion_id"]: row["n"] for row in rows}


def jobtypes_requiring(
    software: Software,
) -> QuerySet[JobTypeSoftwareRequirement]:
    """The requirements of ``software`` by the latest version of each job type."""
    newest = (
        JobTypeVersion.objects.filter(jobtype=OuterRef("jobtype_version__jobtype"))
        .order_by("-version")
        .values("version")[:1]
    )
    return (
        JobTypeSoftwareRequirement.objects.filter(software=software)
        .annotate(latest=Subquery(newest))
        .filter(jobtype_version__version=F("latest"))
        .select_related("jobtype_version__jobtype", "min_version", "max_version")
        .order_by("jobtype_version__jobtype__name")
    )
