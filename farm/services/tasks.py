"""Task workflows: the agent's state reports and reruns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Q

from farm.choices import ACTIVE_WORK_STATES, WorkState
from farm.models import Task
from farm.models.tasks import TaskQuerySet
from farm.services import task_events
from farm.services.jobs import _ended_per_job, refresh_job_states
from farm.signals import notify_work_changed

if TYPE_CHECKING:
    from farm.models import Agent


class _Unset:
    """Marks an argument that was not given (None is a meaningful value)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()

# The task event (`task_events`) each reported state counts; a task given
# back to the queue by its agent counts none.
_EVENTS: dict[str, str] = {
    WorkState.RUNNING: "started",
    WorkState.DONE: "done",
    WorkState.FAILED: "failed",
}


def update_task(
    *,
    task: Task,
    state: str | None = None,
    progress: float | None = None,
    last_error: str | None | _Unset = UNSET,
    time_started_now: bool = False,
    agent: Agent | None | _Unset = UNSET,
    agent_report: bool = False,
    priority: int | None = None,
) -> bool:
    """Apply an agent's report about a task; returns whether anything changed.

    ``state`` is a `WorkState` value: running starts an attempt, done and
    failed end it (failed may requeue), queued gives the task back. Reports
    that arrive after the attempt ended (a late "running" or progress) change
    nothing, since the agent sends its requests out of order. The job's state
    is derived again when the task's state changed.

    ``agent`` assigns the open task to an agent, or with None takes it from
    its agent (as the agent's ``{"state": "queued", "agent_id": null}``).

    With ``agent_report`` (the agent protocol's task endpoint) a task that
    was given back to the queue after an attempt (failed and requeued, or
    returned by its agent) and not assigned again ignores "running",
    progress and start times: they belong to the attempt that ended, since
    an agent's "failed" can overtake its "running". A new attempt starts
    once the scheduler assigns the task again.

    ``priority`` sets the task's priority, whatever its state (a user's
    change, as in the original).
    """
    tasks = Task.objects.filter(pk=task.pk)
    reports = tasks
    if agent_report:
        reports = tasks.exclude(
            Q(state=WorkState.QUEUED, agent__isnull=True)
            & (Q(attempts__gt=0) | Q(failures__gt=0))
        )
    changed = 0
    with transaction.atomic():
        if state == WorkState.RUNNING:
            changed += reports.mark_running()
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
        if state_changed and state in _EVENTS:
            # Counted in memory after the commit: no query (task_events).
            task_events.record(_EVENTS[state], changed, job_id=task.job_id)
        if state != WorkState.FAILED and not isinstance(last_error, _Unset):
            changed += tasks.filter(state__in=ACTIVE_WORK_STATES).update(
                last_error=last_error
            )
        if priority is not None:
            changed += tasks.exclude(priority=priority).update(priority=priority)
        if progress is not None:
            changed += reports.set_progress(progress)
        if time_started_now:
            changed += reports.set_started_now()
        if not isinstance(agent, _Unset):
            assigned = tasks.filter(state__in=ACTIVE_WORK_STATES).exclude(agent=agent)
            if agent is None:
                changed += assigned.update(agent=None, sent_to_agent=False)
            else:
                changed += assigned.update(agent=agent)
        if state_changed:
            refresh_job_states(job_ids=[task.job_id])
            if state != WorkState.RUNNING:
                notify_work_changed(f"task {state}")
    _reload(task)
    return bool(changed)


def _reload(task: Task) -> None:
    """Reload a task's columns, keeping its cached job and, if unchanged, agent.

    ``refresh_from_db()`` drops every cached relation; the API serialises the
    job and agent right after a report, which would cost two more queries on
    the agent's most frequent request.
    """
    agent = task.agent if Task.agent.is_cached(task) else None
    agent_id = task.agent_id
    task.refresh_from_db(
        fields=[f.attname for f in Task._meta.concrete_fields if f.attname != "job_id"]
    )
    if agent is not None and task.agent_id == agent_id:
        task.agent = agent


def rerun_tasks(*, tasks: TaskQuerySet) -> int:
    """Queue tasks again from scratch (not the running ones); returns the count."""
    with transaction.atomic():
        job_ids = list(tasks.values_list("job_id", flat=True).distinct())
        per_job = _ended_per_job(tasks)
        count = tasks.rerun()
        task_events.record_for_jobs("restarted", per_job)
        refresh_job_states(job_ids=job_ids)
        notify_work_changed("tasks rerun")
    return count


def add_failed_agent(*, task: Task, agent: Agent) -> bool:
    """Remember that ``task`` failed on ``agent``; returns whether it is new.

    The scheduler sends the task elsewhere (the agent reports this itself
    when it lacks disk space, agent-protocol R12).
    """
    through = Task.failed_in_agents.through
    _, created = through.objects.get_or_create(task_id=task.pk, agent_id=agent.pk)
    return created


def remove_failed_agent(*, task: Task, agent: Agent) -> bool:
    """Forget that ``task`` failed on ``agent``; returns whether it was listed."""
    through = Task.failed_in_agents.through
    deleted, _ = through.objects.filter(task_id=task.pk, agent_id=agent.pk).delete()
    return bool(deleted)
