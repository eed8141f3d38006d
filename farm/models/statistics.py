"""Runtime statistics sampled by the scheduler's statistics tasks."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

__all__ = ["AgentCount", "TaskCount", "TaskEventCount"]


class AgentCount(models.Model):
    """How many agents were in each state at one point in time."""

    counted_time = models.DateTimeField(default=timezone.now, unique=True)
    num_online = models.PositiveIntegerField(default=0)
    num_running = models.PositiveIntegerField(default=0)
    num_offline = models.PositiveIntegerField(default=0)
    num_disabled = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "agent_counts"
        ordering = ["-counted_time"]
        verbose_name = "agent count"

    def __str__(self) -> str:
        return f"agents at {self.counted_time:%Y-%m-%d %H:%M}"


class TaskEventCount(models.Model):
    """How many task events of each kind happened in one queue over a period."""

    time_start = models.DateTimeField()
    time_end = models.DateTimeField()
    job_queue = models.ForeignKey(
        "farm.JobQueue",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="task_event_counts",
    )
    num_new = models.PositiveIntegerField(default=0)
    num_deleted = models.PositiveIntegerField(default=0)
    num_restarted = models.PositiveIntegerField(default=0)
    num_started = models.PositiveIntegerField(default=0)
    num_failed = models.PositiveIntegerField(default=0)
    num_done = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "task_event_counts"
        ordering = ["-time_start"]
        verbose_name = "task event count"
        indexes = [
            # Charts and consolidation read a queue's events by period.
            models.Index(fields=["job_queue", "time_start"], name="task_event_idx"),
            # The statistics page reads every queue's events by period.
            models.Index(fields=["time_start"], name="task_event_time_idx"),
        ]

    def __str__(self) -> str:
        return f"task events {self.time_start:%Y-%m-%d %H:%M} to {self.time_end:%H:%M}"


class TaskCount(models.Model):
    """How many tasks of one queue were in each state at one point in time."""

    counted_time = models.DateTimeField(default=timezone.now)
    job_queue = models.ForeignKey(
        "farm.JobQueue",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="task_counts",
    )
    total_queued = models.PositiveIntegerField(default=0)
    total_running = models.PositiveIntegerField(default=0)
    total_done = models.PositiveIntegerField(default=0)
    total_failed = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "task_counts"
        ordering = ["-counted_time"]
        verbose_name = "task count"
        indexes = [
            # Charts read a queue's counts over time.
            models.Index(fields=["job_queue", "counted_time"], name="task_count_idx"),
            # The statistics page reads every queue's counts by time, and the
            # latest sample's rows for its totals.
            models.Index(fields=["counted_time"], name="task_count_time_idx"),
        ]

    def __str__(self) -> str:
        return f"tasks at {self.counted_time:%Y-%m-%d %H:%M}"
