"""The reads of the jobs list: one page of jobs and what it shows of their tasks.

A page costs a fixed number of queries whatever the number of jobs and
tasks: the counts per job state (one grouped query over the filtered jobs,
which also gives the paginator its total), the page's jobs (with their job
type, queue and owner joined, their tags prefetched) and one grouped query
over the tasks of the page's jobs only (`task_summaries`). The task table
is never counted as a whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, OrderBy, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from farm.choices import WorkState
from farm.models import Job, Tag, Task

__all__ = [
    "DEFAULT_SORT",
    "PAGE_SIZE",
    "SORTS",
    "JobRow",
    "TaskSummary",
    "job_rows",
    "list_queryset",
    "order_jobs",
    "paginate_jobs",
    "parse_sort",
    "state_counts",
    "task_summaries",
]

PAGE_SIZE = 50

#: The sortable columns: the query string's key -> the fields sorted by.
SORTS: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "state": ("state",),
    "priority": ("priority",),
    "weight": ("weight",),
    "queue": ("queue__fullpath",),
    "jobtype": ("jobtype_version__jobtype__name", "jobtype_version__version"),
    "user": ("user__username",),
    # Jobs are numbered in the order they are submitted (``time_submitted``
    # is set on insert): the primary key's index serves the default sort.
    "submitted": ("pk",),
    "started": ("time_started",),
    "finished": ("time_finished",),
}
#: Newest first, as a farm's users look for what they just submitted.
DEFAULT_SORT = "-submitted"

# The done tasks whose duration is known: the estimate of time left.
_TIMED_DONE = Q(
    state=WorkState.DONE, time_started__isnull=False, time_finished__isnull=False
)


def parse_sort(value: str | None) -> str:
    """The sort of ``?sort=`` when it is a known column (``-`` first: descending).

    Anything else is the default sort.
    """
    if value and value.removeprefix("-") in SORTS:
        return value
    return DEFAULT_SORT


# Columns that may be empty: those come last in either direction.
_NULLABLE = frozenset(
    {"queue__fullpath", "user__username", "time_started", "time_finished"}
)


def order_jobs(jobs: QuerySet[Job], sort: str) -> QuerySet[Job]:
    """``jobs`` in the order of ``sort`` (a `parse_sort` value), then by id.

    Empty values (no queue, not started yet) come last either way.
    """
    key = parse_sort(sort)
    descending = key.startswith("-")
    order: list[OrderBy] = []
    for name in (*SORTS[key.removeprefix("-")], "pk"):
        # NULLS LAST only where a column can be NULL: on the others it would
        # keep PostgreSQL from reading an index backwards for DESC.
        nulls = {"nulls_last": True} if name in _NULLABLE else {}
        order.append(F(name).desc(**nulls) if descending else F(name).asc(**nulls))
    return jobs.order_by(*dict.fromkeys(order))


def state_counts(jobs: QuerySet[Job]) -> dict[str, int]:
    """How many of ``jobs`` are in each state (every state, zeros included)."""
    counts = dict.fromkeys(WorkState.values, 0)
    # COUNT(*), not COUNT(id): an index on the state can answer it alone.
    for state, count in jobs.order_by().values_list("state").annotate(count=Count("*")):
        counts[state] = count
    return counts


def paginate_jobs(
    jobs: QuerySet[Job], *, total: int, number: str | int | None
) -> tuple[Page[int], list[Job]]:
    """The page ``number`` of ``jobs`` (ordered), whose length is ``total``.

    Returns the page (of job ids) and its jobs, read with what a row shows
    (`list_queryset`). Two queries: the ids of the page first, sorted and
    cut by the database over the jobs' narrow rows alone, then those jobs
    with their joins; sorting the joined rows of every job would cost
    several times more. The total comes from `state_counts`, so the
    paginator does not count the jobs again. A page number that is no
    number is the first page, one past the end the last
    (`Paginator.get_page`).
    """
    paginator = Paginator(jobs.values_list("pk", flat=True), PAGE_SIZE)
    # ``count`` is a cached property: setting it spares the COUNT query.
    paginator.count = total  # type: ignore[misc]
    page = paginator.get_page(number)
    ids = list(page.object_list)
    found = {job.pk: job for job in list_queryset(Job.objects.filter(pk__in=ids))}
    return page, [found[pk] for pk in ids if pk in found]


@dataclass
class TaskSummary:
    """What the list shows of one job's tasks: counts per state and durations."""

    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(WorkState.values, 0)
    )
    #: Done tasks with both a start and a finish time, and their total time.
    timed_done: int = 0
    done_time: timedelta = timedelta(0)

    @property
    def total(self) -> int:
        """Every task of the job."""
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        """Done tasks."""
        return self.counts[WorkState.DONE]

    @property
    def failed(self) -> int:
        """Failed tasks."""
        return self.counts[WorkState.FAILED]

    @property
    def running(self) -> int:
        """Running tasks."""
        return self.counts[WorkState.RUNNING]

    @property
    def waiting(self) -> int:
        """Tasks not started yet: queued and paused (the bar's "queued")."""
        return self.counts[WorkState.QUEUED] + self.counts[WorkState.PAUSED]

    @property
    def remaining(self) -> int:
        """Tasks still to run to the end: waiting and running."""
        return self.waiting + self.running

    def time_left(self) -> timedelta | None:
        """The mean time of a done task x remaining tasks / max(1, running).

        None without data: no done task with known times, or nothing left.
        """
        if not self.timed_done or not self.remaining:
            return None
        mean = self.done_time / self.timed_done
        return mean * self.remaining / max(1, self.running)


def task_summaries(job_ids: Sequence[int]) -> dict[int, TaskSummary]:
    """The `TaskSummary` of each job of ``job_ids``: one grouped query.

    The tasks are grouped by job and state (the ``(job, state)`` index);
    only the tasks of these jobs are read.
    """
    summaries = {pk: TaskSummary() for pk in job_ids}
    if not job_ids:
        return summaries
    rows = (
        Task.objects.filter(job_id__in=job_ids)
        .order_by()
        .values_list("job_id", "state")
        .annotate(
            count=Count("pk"),
            timed=Count("pk", filter=_TIMED_DONE),
            time=Sum(F("time_finished") - F("time_started"), filter=_TIMED_DONE),
        )
    )
    for job_id, state, count, timed, time in rows:
        summary = summaries[job_id]
        summary.counts[state] = summary.counts.get(state, 0) + count
        summary.timed_done += timed
        if time is not None:
            summary.done_time += time
    return summaries


@dataclass
class JobRow:
    """One row of the jobs list."""

    job: Job
    tasks: TaskSummary
    may_change: bool
    now: datetime

    @property
    def elapsed(self) -> timedelta | None:
        """Started to finished, or to now while the job runs; None unstarted."""
        if self.job.time_started is None:
            return None
        end = self.job.time_finished or self.now
        return max(end - self.job.time_started, timedelta(0))

    @property
    def time_left(self) -> timedelta | None:
        """The estimate of `TaskSummary.time_left`; none for a paused job."""
        if self.job.state == WorkState.PAUSED:
            return None
        return self.tasks.time_left()


def list_queryset(jobs: QuerySet[Job]) -> QuerySet[Job]:
    """What a row shows of a job, joined or prefetched: never a query per row."""
    return (
        jobs.select_related("jobtype_version__jobtype", "queue", "user")
        .defer("data", "environ", "notes")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.only("pk", "tag")))
    )


def job_rows(jobs: Iterable[Job], *, may_change: Callable[[Job], bool]) -> list[JobRow]:
    """The rows of a page of jobs, with their tasks' summaries (one query).

    ``may_change`` tells whether the user may change a job.
    """
    page = list(jobs)
    summaries = task_summaries([job.pk for job in page])
    now = timezone.now()
    return [
        JobRow(job=job, tasks=summaries[job.pk], may_change=may_change(job), now=now)
        for job in page
    ]
