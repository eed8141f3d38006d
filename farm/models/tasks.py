"""Tasks: one frame (and tile) of a job, the unit the scheduler hands out."""

from __future__ import annotations

from django.db import models
from django.db.models import Case, F, Q, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from farm.choices import ACTIVE_WORK_STATES, WorkState

__all__ = ["Task"]


def _attempt_ended() -> Case:
    """``attempts`` of a task whose attempt ends (done or failed) now.

    A running task counted its attempt when it started. A queued task held
    by an agent ran without its "running" having arrived yet (the agent
    sends its reports concurrently; a late "running" is then ignored), so
    the attempt is counted here. A queued task without an agent, ended by a
    user, never ran.
    """
    return Case(
        When(state=WorkState.QUEUED, agent__isnull=False, then=F("attempts") + 1),
        default=F("attempts"),
        output_field=models.PositiveIntegerField(),
    )


class TaskQuerySet(models.QuerySet["Task"]):
    """Filters and state transitions over tasks.

    Every transition is one conditional UPDATE on the old state, so two
    processes racing on the same task (the agent's out-of-order reports, two
    scheduler workers) cannot both win, and a bulk change costs one query.
    Each returns the number of rows it changed.
    """

    def for_job(self, job_id: int) -> TaskQuerySet:
        """The tasks of one job."""
        return self.filter(job_id=job_id)

    def runnable(self) -> TaskQuerySet:
        """Queued tasks of jobs the scheduler may run."""
        return self.filter(
            state=WorkState.QUEUED,
            hidden=False,
            job__state__in=ACTIVE_WORK_STATES,
            job__hidden=False,
            job__to_be_deleted=False,
        )

    def mark_running(self) -> int:
        """Start queued tasks: one more attempt, fresh start time.

        A task that is already running is left alone (no second attempt); a
        done or failed task ignores it, because the agent's "running" can
        arrive after its "done" for the same attempt.
        """
        return self.filter(state=WorkState.QUEUED).update(
            state=WorkState.RUNNING,
            attempts=F("attempts") + 1,
            time_started=timezone.now(),
            time_finished=None,
            progress=0.0,
        )

    def mark_done(self) -> int:
        """Finish open tasks successfully; their agents' last success is now.

        A queued task that an agent holds counts the attempt it ran: the
        agent's "done" can arrive before its "running" (`_attempt_ended`).
        """
        now = timezone.now()
        tasks = self.filter(state__in=ACTIVE_WORK_STATES)
        agent_ids = list(
            tasks.filter(agent__isnull=False)
            .values_list("agent_id", flat=True)
            .distinct()
        )
        count = tasks.update(
            state=WorkState.DONE,
            attempts=_attempt_ended(),
            progress=1.0,
            last_error=None,
            time_started=Coalesce("time_started", models.Value(now)),
            time_finished=now,
        )
        if count and agent_ids:
            from farm.models.agents import Agent

            Agent.objects.filter(pk__in=agent_ids).update(last_success_on=now)
        return count

    def mark_failed(self, last_error: str | None = None) -> int:
        """Fail open tasks, then requeue those whose job allows another try.

        The agent a task failed on is remembered (``failed_in_agents``) so
        that the scheduler can send the retry elsewhere. A task is requeued
        while its failures do not exceed the job's ``requeue`` (-1: forever).
        """
        now = timezone.now()
        tasks = self.filter(state__in=ACTIVE_WORK_STATES)
        failed = list(tasks.values_list("pk", "agent_id"))
        if not failed:
            return 0
        ids = [pk for pk, _ in failed]
        count = Task.objects.filter(pk__in=ids, state__in=ACTIVE_WORK_STATES).update(
            state=WorkState.FAILED,
            attempts=_attempt_ended(),
            failures=F("failures") + 1,
            last_error=last_error,
            time_started=Coalesce("time_started", models.Value(now)),
            time_finished=now,
        )
        through = Task.failed_in_agents.through
        through.objects.bulk_create(
            [
                through(task_id=pk, agent_id=agent_id)
                for pk, agent_id in failed
                if agent_id is not None
            ],
            ignore_conflicts=True,
        )
        Task.objects.filter(pk__in=ids, state=WorkState.FAILED).filter(
            Q(job__requeue=-1) | Q(failures__lte=F("job__requeue"))
        ).update(
            state=WorkState.QUEUED,
            agent=None,
            sent_to_agent=False,
            progress=0.0,
            time_started=None,
            time_finished=None,
        )
        return count

    def requeue(self) -> int:
        """Take open tasks back from their agent without counting a failure."""
        return self.filter(state__in=ACTIVE_WORK_STATES).update(
            state=WorkState.QUEUED,
            agent=None,
            sent_to_agent=False,
            progress=0.0,
            time_started=None,
            time_finished=None,
        )

    def rerun(self) -> int:
        """Queue tasks again from scratch, except those running right now."""
        return self.exclude(state=WorkState.RUNNING).update(
            state=WorkState.QUEUED,
            agent=None,
            sent_to_agent=False,
            progress=0.0,
            failures=0,
            last_error=None,
            time_started=None,
            time_finished=None,
        )

    def set_progress(self, progress: float) -> int:
        """Record progress of open tasks (ignored once an attempt ended)."""
        return self.filter(state__in=ACTIVE_WORK_STATES).update(progress=progress)

    def set_started_now(self) -> int:
        """Record that open tasks started now (the agent's "time_started": "now")."""
        return self.filter(state__in=ACTIVE_WORK_STATES).update(
            time_started=timezone.now()
        )


class Task(models.Model):
    """One frame (and tile) of a job.

    Transitions (the `TaskQuerySet` methods, also available on one task):

    - queued -> running (`mark_running`: attempts + 1);
    - queued/running -> done (`mark_done`: progress 1.0, last_error cleared,
      the agent's last_success_on set);
    - queued/running -> failed (`mark_failed`: failures + 1), and failed ->
      queued at once while the job's ``requeue`` allows another try;
    - queued/running -> queued without an agent (`requeue`: the agent gave
      the task back or was lost);
    - anything but running -> queued (`rerun`).

    done and failed close an attempt: later "running" or progress reports for
    it are ignored.
    """

    # No single-column indexes on the foreign keys: the composite indexes of
    # Meta start with them and serve the same lookups (and the cascades),
    # and every index fewer is one less write per task assignment.
    job = models.ForeignKey(
        "farm.Job", on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    agent = models.ForeignKey(
        "farm.Agent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
        db_index=False,
    )
    frame = models.DecimalField(max_digits=10, decimal_places=4)
    tile = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(
        max_length=16, choices=WorkState.choices, default=WorkState.QUEUED
    )
    priority = models.IntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    progress = models.FloatField(default=0.0)
    hidden = models.BooleanField(default=False)
    sent_to_agent = models.BooleanField(default=False)
    last_error = models.TextField(null=True, blank=True)
    time_submitted = models.DateTimeField(default=timezone.now)
    time_started = models.DateTimeField(null=True, blank=True)
    time_finished = models.DateTimeField(null=True, blank=True)
    failed_in_agents = models.ManyToManyField(
        "farm.Agent",
        blank=True,
        related_name="failed_tasks",
        db_table="failed_tasks_in_agents",
    )

    objects = TaskQuerySet.as_manager()

    class Meta:
        db_table = "tasks"
        ordering = ["job_id", "frame", "tile"]
        verbose_name = "task"
        indexes = [
            # A job's tasks by state: job state derivation, the planner's
            # runnable frames, the dashboard's per-state counts.
            models.Index(fields=["job", "state"], name="task_job_state_idx"),
            # A job's tasks in frame order: frame-range changes, job pages.
            models.Index(fields=["job", "frame"], name="task_job_frame_idx"),
            # The tasks assigned to an agent: polling, requeueing lost work.
            models.Index(fields=["agent", "state"], name="task_agent_state_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__gte=0.0) & Q(progress__lte=1.0),
                name="task_progress_between_0_and_1",
            )
        ]

    def __str__(self) -> str:
        tile = f" tile {self.tile}" if self.tile is not None else ""
        # Fixed-point: Decimal("10").normalize() would print as "1E+1".
        return f"{self.job_id}: frame {self.frame.normalize():f}{tile}"

    def _transition(self, method: str, *args: object) -> bool:
        changed = getattr(Task.objects.filter(pk=self.pk), method)(*args)
        self.refresh_from_db()
        return bool(changed)

    def mark_running(self) -> bool:
        """Start this task (see `TaskQuerySet.mark_running`)."""
        return self._transition("mark_running")

    mark_running.alters_data = True  # type: ignore[attr-defined]

    def mark_done(self) -> bool:
        """Finish this task (see `TaskQuerySet.mark_done`)."""
        return self._transition("mark_done")

    mark_done.alters_data = True  # type: ignore[attr-defined]

    def mark_failed(self, last_error: str | None = None) -> bool:
        """Fail this task, requeueing it if allowed (`TaskQuerySet.mark_failed`)."""
        return self._transition("mark_failed", last_error)

    mark_failed.alters_data = True  # type: ignore[attr-defined]

    def requeue(self) -> bool:
        """Give this task back to the queue (see `TaskQuerySet.requeue`)."""
        return self._transition("requeue")

    requeue.alters_data = True  # type: ignore[attr-defined]

    def rerun(self) -> bool:
        """Run this task again from scratch (see `TaskQuerySet.rerun`)."""
        return self._transition("rerun")

    rerun.alters_data = True  # type: ignore[attr-defined]
