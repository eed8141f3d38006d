"""Task workflows: the agent's state reports and reruns."""

from __future__ import annotations

from django.db import transaction

from farm.choices import WorkState
from farm.models import Task
from farm.models.tasks import TaskQuerySet
from farm.services.jobs import refresh_job_states


class _Unset:
    """Marks an argument that was not given (None is a meaningful value)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


def update_task(
    *,
    task: Task,
    state: str | None = None,
    progress: float | None = None,
    last_error: str | None | _Unset = UNSET,
    time_started_now: bool = False,
) -> bool:
    """Apply an agent's report about a task; returns whether anything changed.

    ``state`` is a `WorkState` value: running starts an attempt, done and
    failed end it (failed may requeue), queued gives the task back. Reports
    that arrive after the attempt ended (a late "running" or progress) change
    nothing, since the agent sends its requests out of order. The job's state
    is derived again when the task's state changed.
    """
    tasks = Task.objects.filter(pk=task.pk)
    changed = 0
    with transaction.atomic():
        if state == WorkState.RUNNING:
            changed += tasks.mark_running()
        elif state == WorkState.DONE:
            changed += tasks.mark_done()
        elif state == WorkState.FAILED:
            error = None if isinstance(last_error, _Unset) else last_error
            changed += tasks.mark_failed(error)
        elif state == WorkState.QUEUED:
            changed += tasks.requeue()
        elif state is not None:
            raise ValueError(
                f"a task cannot be set to {state!r}; pause its job instead"
            )
        state_changed = bool(changed)
        if state != WorkState.FAILED and not isinstance(last_error, _Unset):
            changed += tasks.filter(
                state__in=[WorkState.QUEUED, WorkState.RUNNING]
            ).update(last_error=last_error)
        if progress is not None:
            changed += tasks.set_progress(progress)
        if time_started_now:
            changed += tasks.set_started_now()
        if state_changed:
            refresh_job_states(job_ids=[task.job_id])
    task.refresh_from_db()
    return bool(changed)


def rerun_tasks(*, tasks: TaskQuerySet) -> int:
    """Queue tasks again from scratch (not the running ones); returns the count."""
    with transaction.atomic():
        job_ids = list(tasks.values_list("job_id", flat=True).distinct())
        count = tasks.rerun()
        refresh_job_states(job_ids=job_ids)
    return count
