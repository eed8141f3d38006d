"""Task logs: one log file per assignment, shared by the tasks of a batch."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from farm.choices import WorkState

__all__ = ["TaskLog", "TaskTaskLogAssociation"]


class TaskLog(models.Model):
    """A log file written by an agent for one assignment.

    The same log belongs to every task of a batch, and a task has one log per
    attempt (`TaskTaskLogAssociation`). ``identifier`` is the file name the
    agent chose; the file itself is uploaded later into ``tasklogs_dir``.
    """

    identifier = models.CharField(max_length=255, unique=True)
    agent = models.ForeignKey(
        "farm.Agent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="task_logs",
    )
    created_on = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "task_logs"
        ordering = ["-created_on", "id"]
        verbose_name = "task log"
        indexes = [
            # Log cleanup and compression scan logs by age.
            models.Index(fields=["created_on"], name="task_log_created_idx"),
        ]

    def __str__(self) -> str:
        return self.identifier


class TaskTaskLogAssociation(models.Model):
    """Links a task's attempt to its log, with the state the attempt reached."""

    task = models.ForeignKey(
        "farm.Task", on_delete=models.CASCADE, related_name="log_associations"
    )
    log = models.ForeignKey(
        TaskLog,
        on_delete=models.CASCADE,
        related_name="task_associations",
        db_column="task_log_id",
    )
    attempt = models.PositiveIntegerField()
    state = models.CharField(
        max_length=16, choices=WorkState.choices, null=True, blank=True
    )

    class Meta:
        db_table = "task_log_associations"
        ordering = ["task_id", "attempt"]
        verbose_name = "task log association"
        constraints = [
            models.UniqueConstraint(
                fields=["task", "log", "attempt"], name="unique_task_log_attempt"
            )
        ]
        indexes = [
            # The logs of one attempt of a task (the agent's log endpoints).
            models.Index(fields=["task", "attempt"], name="task_log_attempt_idx"),
        ]

    def __str__(self) -> str:
        return f"task {self.task_id} attempt {self.attempt}: {self.log_id}"
