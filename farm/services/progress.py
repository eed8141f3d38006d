"""A job's progress without its tasks: how many tasks are in each state."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from farm.choices import WorkState
from farm.models import Job

#: The names of the counts `with_task_counts` adds, one per work state.
TASK_COUNT_FIELDS = {state: f"tasks_{state.value}" for state in WorkState}


def with_task_counts(jobs: QuerySet[Job]) -> QuerySet[Job]:
    """``jobs`` with ``tasks_<state>`` for every work state and ``tasks_total``.

    Counted by the database in the query that reads the jobs (one aggregate
    per job, whatever its number of tasks).
    """
    return jobs.annotate(
        tasks_total=Count("tasks"),
        **{
            name: Count("tasks", filter=Q(tasks__state=state))
            for state, name in TASK_COUNT_FIELDS.items()
        },
    )
