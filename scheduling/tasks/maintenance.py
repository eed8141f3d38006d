"""Celery tasks of the farm's periodic maintenance (`scheduling.maintenance`).

Beat runs them at the intervals of scheduler.yml (``delete_job_interval``,
``autodelete_old_job_interval``, ``orphaned_log_cleanup_interval``,
``compress_log_interval``, ``agent_count_interval``, ``task_count_interval``,
``task_event_count_consolidate_interval``).
Each one calls one service and is idempotent; return values are plain
numbers (or a dict of them), for the result backend and the worker's log.
"""

from __future__ import annotations

from celery import shared_task

from farm.services import task_events
from pyfarm_site.conf import farm_config
from scheduling import maintenance


@shared_task(name="scheduling.delete_jobs")
def delete_jobs() -> int:
    """Delete the jobs flagged for deletion; returns how many were deleted."""
    return maintenance.delete_jobs()


@shared_task(name="scheduling.autodelete_old_jobs")
def autodelete_old_jobs() -> int:
    """Flag done jobs past their autodelete time; returns how many."""
    return maintenance.autodelete_old_jobs()


@shared_task(name="scheduling.cleanup_orphaned_logs")
def cleanup_orphaned_logs() -> dict[str, int]:
    """Remove log rows no task uses and files no log names; returns the counts."""
    return maintenance.cleanup_orphaned_logs()


@shared_task(name="scheduling.compress_logs")
def compress_logs() -> int:
    """Gzip the log files of ended attempts; returns how many."""
    return maintenance.compress_logs()


@shared_task(name="scheduling.count_agents")
def count_agents() -> int | None:
    """Sample the agents per state (unless ``enable_statistics`` is off).

    Returns the id of the new `AgentCount`, or None when statistics are off.
    """
    if not farm_config("enable_statistics"):
        return None
    return maintenance.count_agents().pk


@shared_task(name="scheduling.count_tasks")
def count_tasks() -> int | None:
    """Sample the tasks per queue and state (unless ``enable_statistics`` is off).

    Returns how many `TaskCount` rows were written, or None when statistics
    are off.
    """
    if not farm_config("enable_statistics"):
        return None
    return len(maintenance.count_tasks())


@shared_task(name="scheduling.consolidate_task_events")
def consolidate_task_events() -> int | None:
    """Merge task event counts into one row per queue and interval.

    Returns how many rows the merge removed, or None when statistics are off
    (`farm.services.task_events`).
    """
    if not farm_config("enable_statistics"):
        return None
    return task_events.consolidate_task_events()
