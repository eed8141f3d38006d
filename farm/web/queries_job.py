"""The reads of a job's page: the job, its task counts, a page of tasks, a chart.

Each function is a fixed number of queries whatever the size of the job:
the counts are one grouped query on the job's tasks (the ``(job, state)``
index), the task table one page of rows (the ``(job, frame)`` index), the
chart one grouped query into at most `CHART_BUCKETS` time buckets. Nothing
counts the whole task table, and no query runs per row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import (
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Cast, Floor
from django.shortcuts import get_object_or_404
from django.utils import timezone

from farm.choices import WorkState
from farm.models import (
    Job,
    JobNotifiedUser,
    JobTagRequirement,
    JobTypeVersion,
    Task,
)

__all__ = [
    "CHART_BUCKETS",
    "TASKS_PER_PAGE",
    "TaskPage",
    "failed_on_agents",
    "job_for_page",
    "job_for_refresh",
    "progress_over_time",
    "task_counts",
    "task_page",
]

#: Rows of the task table per page.
TASKS_PER_PAGE = 100
#: Points of the progress chart at most.
CHART_BUCKETS = 100


def _jobs_with_latest_version() -> QuerySet[Job]:
    """Jobs with their job type and its latest version's number.

    ``latest_jobtype_version`` is the highest version number of the job's job
    type (the page offers an upgrade when it is above the job's own).
    """
    latest = (
        JobTypeVersion.objects.filter(
            jobtype_id=OuterRef("jobtype_version__jobtype_id")
        )
        .order_by("-version")
        .values("version")[:1]
    )
    return Job.objects.select_related("jobtype_version__jobtype").annotate(
        latest_jobtype_version=Subquery(latest)
    )


def job_for_refresh(job_id: int) -> Job:
    """The job as the page's live parts show it (one query), or 404."""
    return get_object_or_404(_jobs_with_latest_version(), pk=job_id)


def job_for_page(job_id: int) -> Job:
    """The job with everything its page shows, or 404.

    One query for the job (with its job type, its latest version's number,
    queue, group and owner), one per list: parents, children, tags, tag
    requirements, notified users.
    """
    jobs = (
        _jobs_with_latest_version()
        .select_related("queue", "group", "user")
        .prefetch_related(
            Prefetch("parents", queryset=Job.objects.only("pk", "title", "state")),
            Prefetch("children", queryset=Job.objects.only("pk", "title", "state")),
            "tags",
            Prefetch(
                "tag_requirements",
                queryset=JobTagRequirement.objects.select_related("tag").order_by(
                    "tag__tag"
                ),
            ),
            Prefetch(
                "notified_users",
                queryset=JobNotifiedUser.objects.select_related("user").order_by(
                    "user__username"
                ),
            ),
        )
    )
    return get_object_or_404(jobs, pk=job_id)


def task_counts(job_id: int) -> dict[str, int]:
    """How many of the job's tasks are in each state (every state, 0 included).

    One grouped query on the job's tasks, which the ``(job, state)`` index
    answers without reading the table.
    """
    counts = dict.fromkeys(WorkState.values, 0)
    rows = (
        Task.objects.for_job(job_id)
        .order_by()
        .values_list("state")
        # COUNT(*), not COUNT(id): the index holds no id, so only this one
        # is answered by an index-only scan.
        .annotate(count=Count("*"))
    )
    for state, count in rows:
        counts[state] = count
    return counts


@dataclass(frozen=True)
class TaskPage:
    """One page of a job's task table and where it sits among the pages."""

    tasks: list[Task]
    number: int
    pages: int
    total: int

    @property
    def has_previous(self) -> bool:
        """Whether a page comes before this one."""
        return self.number > 1

    @property
    def has_next(self) -> bool:
        """Whether a page comes after this one."""
        return self.number < self.pages

    @property
    def first_row(self) -> int:
        """The 1-based position of the page's first task (0 for no tasks)."""
        return (self.number - 1) * TASKS_PER_PAGE + 1 if self.total else 0

    @property
    def last_row(self) -> int:
        """The 1-based position of the page's last task."""
        return min(self.number * TASKS_PER_PAGE, self.total)


def page_number(value: str | None, pages: int) -> int:
    """The page asked for, between 1 and ``pages``; 1 for anything not a number."""
    try:
        number = int(value or 1)
    except ValueError:
        number = 1
    return min(max(number, 1), max(pages, 1))


def task_page(
    job_id: int, *, counts: dict[str, int], state: str | None, page: str | None
) -> TaskPage:
    """The tasks of page ``page`` (in frame order), only those in ``state`` if given.

    The number of pages comes from ``counts`` (`task_counts`), so that no
    COUNT runs for the page. The rows are one query: the page's ids are found
    first (in a subquery, through the ``(job, frame)`` index), then only
    those rows are read with their agents, so that a page deep in a big job
    joins 100 rows to the agents, not all the rows it skips.
    """
    total = counts[state] if state else sum(counts.values())
    pages = max(math.ceil(total / TASKS_PER_PAGE), 1)
    number = page_number(page, pages)
    order = ("frame", "tile", "pk")
    page_ids = Task.objects.for_job(job_id).order_by(*order)
    if state:
        page_ids = page_ids.filter(state=state)
    offset = (number - 1) * TASKS_PER_PAGE
    tasks = (
        Task.objects.filter(
            pk__in=page_ids.values("pk")[offset : offset + TASKS_PER_PAGE]
        )
        .select_related("agent")
        .only(
            "pk",
            "job_id",
            "frame",
            "tile",
            "state",
            "attempts",
            "failures",
            "progress",
            "last_error",
            "time_started",
            "time_finished",
            "agent__id",
            "agent__hostname",
        )
        .order_by(*order)
    )
    return TaskPage(
        tasks=list(tasks),
        number=number,
        pages=pages,
        total=total,
    )


@dataclass(frozen=True)
class FailedOnAgent:
    """An agent some of the job's tasks failed on, and on how many."""

    id: Any
    hostname: str
    tasks: int


def failed_on_agents(job_id: int) -> list[FailedOnAgent]:
    """The agents the job's tasks failed on (by hostname), one grouped query."""
    through = Task.failed_in_agents.through
    rows = (
        through.objects.filter(task__job_id=job_id)
        .order_by()
        .values_list("agent_id", "agent__hostname")
        .annotate(tasks=Count("task_id"))
        .order_by("agent__hostname")
    )
    return [FailedOnAgent(id=pk, hostname=name, tasks=n) for pk, name, n in rows]


class Epoch(Func):
    """Seconds since 1970 of a datetime column, on PostgreSQL and SQLite."""

    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        """SQLite keeps datetimes as UTC text, which ``julianday`` reads."""
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)",
            **extra,
        )


@dataclass
class ProgressChart:
    """Cumulative done and failed tasks at the end of each time bucket."""

    labels: list[str] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    total: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The chart's data island."""
        return {
            "labels": self.labels,
            "done": self.done,
            "failed": self.failed,
            "total": self.total,
        }


def _label(moment: datetime, span: timedelta) -> str:
    local = timezone.localtime(moment)
    if span >= timedelta(days=1):
        return local.strftime("%b %d %H:%M")
    if span >= timedelta(minutes=10):
        return local.strftime("%H:%M")
    return local.strftime("%H:%M:%S")


def progress_over_time(job: Job, *, total: int) -> ProgressChart:
    """Tasks done and failed so far over the job's run, in one grouped query.

    The run (from the job's start to its end, or now; nothing before it starts) is cut
    into at most `CHART_BUCKETS` equal buckets; each task that ended (done or
    failed) counts in the bucket of its finish time. Returns the running sums
    at each bucket's end; no task is loaded.
    """
    chart = ProgressChart(total=total)
    begin = job.time_started
    end = job.time_finished or timezone.now()
    if begin is None or end <= begin:
        return chart
    span = end - begin
    width = max(span.total_seconds() / CHART_BUCKETS, 1.0)
    buckets = min(math.ceil(span.total_seconds() / width), CHART_BUCKETS) or 1
    bucket = Cast(
        Floor((Epoch(F("time_finished")) - begin.timestamp()) / width),
        IntegerField(),
    )
    rows = (
        Task.objects.for_job(job.pk)
        .filter(
            state__in=[WorkState.DONE, WorkState.FAILED], time_finished__isnull=False
        )
        .order_by()
        .annotate(bucket=bucket)
        .values_list("bucket", "state")
        .annotate(count=Count("*"))
    )
    per_bucket = {
        WorkState.DONE.value: [0] * buckets,
        WorkState.FAILED.value: [0] * buckets,
    }
    for index, state, count in rows:
        per_bucket[state][min(max(int(index), 0), buckets - 1)] += count
    done = failed = 0
    for index in range(buckets):
        done += per_bucket[WorkState.DONE][index]
        failed += per_bucket[WorkState.FAILED][index]
        chart.done.append(done)
        chart.failed.append(failed)
        chart.labels.append(
            _label(begin + timedelta(seconds=width * (index + 1)), span)
        )
    return chart
