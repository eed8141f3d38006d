"""The scheduler's periodic tasks and the configuration keys of their intervals.

The database owns the timing of periodic tasks (django-celery-beat's
DatabaseScheduler), so that an interval an admin changes in the admin sticks.
`SCHEDULES` lists each periodic task with the scheduler.yml key that gives its
*default* interval; `setup_periodic_tasks` (``manage.py
setup_periodic_tasks``) creates the rows that are missing from these defaults
and leaves the existing ones alone, unless asked to reset them.

Only tasks registered in the Celery app get a row: beat must never be pointed
at a task that no worker knows.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from pyfarm_site.conf import farm_config
from pyfarm_site.config import as_timedelta

__all__ = [
    "SCHEDULES",
    "PeriodicSchedule",
    "SetupReport",
    "interval_fields",
    "registered_task_names",
    "setup_periodic_tasks",
]

#: A periodic run expires when this share of its period has passed without a
#: worker picking it up: the next run is about to be sent anyway, and piling
#: up stale runs behind a busy or stopped worker helps nobody.
EXPIRES_SHARE = 0.9

# Coarsest first: an interval is stored in the largest unit that divides it.
_UNITS = (
    (IntervalSchedule.DAYS, 86400),
    (IntervalSchedule.HOURS, 3600),
    (IntervalSchedule.MINUTES, 60),
    (IntervalSchedule.SECONDS, 1),
)


@dataclass(frozen=True)
class PeriodicSchedule:
    """One periodic task: its Celery name and the key of its default interval.

    ``statistics`` entries run only when ``enable_statistics`` is on.
    """

    task: str
    interval_key: str
    description: str
    statistics: bool = False

    def interval(self) -> datetime.timedelta:
        """The configured interval (at least one second)."""
        interval = as_timedelta(self.interval_key, farm_config(self.interval_key))
        return max(interval, datetime.timedelta(seconds=1))

    def expire_seconds(self) -> int:
        """Seconds after which an unstarted run is dropped: just under the period."""
        seconds = self.interval().total_seconds()
        return max(1, math.floor(seconds * EXPIRES_SHARE))

    def enabled(self) -> bool:
        """Whether the configuration wants this task to run at all."""
        return not self.statistics or bool(farm_config("enable_statistics"))


SCHEDULES: tuple[PeriodicSchedule, ...] = (
    PeriodicSchedule(
        "scheduling.assign_tasks",
        "assign_tasks_interval",
        "Assign queued tasks to idle agents.",
    ),
    PeriodicSchedule(
        "scheduling.poll_agents",
        "agent_poll_interval",
        "Poll the agents not heard from lately.",
    ),
    PeriodicSchedule(
        "scheduling.delete_jobs",
        "delete_job_interval",
        "Delete the jobs marked for deletion.",
    ),
    PeriodicSchedule(
        "scheduling.autodelete_old_jobs",
        "autodelete_old_job_interval",
        "Mark done jobs past their autodelete time for deletion.",
    ),
    PeriodicSchedule(
        "scheduling.cleanup_orphaned_logs",
        "orphaned_log_cleanup_interval",
        "Remove task log rows no task uses and files that have no row.",
    ),
    PeriodicSchedule(
        "scheduling.compress_logs",
        "compress_log_interval",
        "Compress old task logs.",
    ),
    PeriodicSchedule(
        "scheduling.count_agents",
        "agent_count_interval",
        "Record the number of agents per state (statistics).",
        statistics=True,
    ),
    PeriodicSchedule(
        "scheduling.count_tasks",
        "task_count_interval",
        "Record the number of tasks per state (statistics).",
        statistics=True,
    ),
    PeriodicSchedule(
        "scheduling.consolidate_task_events",
        "task_event_count_consolidate_interval",
        "Merge task event counts into one row per queue and interval (statistics).",
        statistics=True,
    ),
)


def interval_fields(interval: datetime.timedelta) -> tuple[int, str]:
    """``(every, period)`` of an IntervalSchedule, in the coarsest exact unit.

    Fractions of a second are rounded up: beat counts in whole seconds here.
    """
    seconds = max(1, math.ceil(interval.total_seconds()))
    # The last unit, a second, always divides.
    return next(
        (seconds // size, period) for period, size in _UNITS if seconds % size == 0
    )


def registered_task_names() -> frozenset[str]:
    """The names of the tasks of the Celery app, after autodiscovery."""
    from pyfarm_site.celery import app

    app.loader.import_default_modules()
    return frozenset(app.tasks)


@dataclass
class SetupReport:
    """What `setup_periodic_tasks` did, entry by entry (task names)."""

    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    reset: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    unregistered: list[str] = field(default_factory=list)


def _intervals(wanted: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """The ids of IntervalSchedule rows for ``wanted``, creating those missing.

    The rows are shared, as in the admin: tasks with equal intervals point at
    one row. Duplicates an admin made are tolerated (the first one is used).
    """
    ids: dict[tuple[int, str], int] = {}
    for every, period in sorted(set(wanted)):
        row = IntervalSchedule.objects.filter(every=every, period=period).first()
        if row is None:
            row = IntervalSchedule.objects.create(every=every, period=period)
        ids[every, period] = row.pk
    return ids


def setup_periodic_tasks(
    *,
    reset: bool = False,
    registered: Collection[str] | None = None,
    schedules: Iterable[PeriodicSchedule] | None = None,
) -> SetupReport:
    """Create the missing periodic-task rows from the configuration.

    A row is named after its task. Existing rows are left as they are (an
    admin may have changed them) unless ``reset``: then they get the
    configured interval and expiry back, and are enabled. Entries whose task
    is not in ``registered`` (default: the Celery app's tasks) are skipped;
    statistics entries are skipped when ``enable_statistics`` is off (and,
    with ``reset``, their existing rows are disabled). ``schedules`` defaults
    to `SCHEDULES`. Idempotent.
    """
    names = registered_task_names() if registered is None else registered
    schedules = SCHEDULES if schedules is None else schedules
    report = SetupReport()
    active: list[PeriodicSchedule] = []
    disabled: list[PeriodicSchedule] = []
    for entry in schedules:
        if entry.task not in names:
            report.unregistered.append(entry.task)
        elif entry.enabled():
            active.append(entry)
        else:
            disabled.append(entry)
            report.disabled.append(entry.task)

    with transaction.atomic():
        existing = {
            row.name: row
            for row in PeriodicTask.objects.filter(
                name__in=[entry.task for entry in (*active, *disabled)]
            )
        }
        missing = [entry for entry in active if entry.task not in existing]
        to_reset = (
            [entry for entry in active if entry.task in existing] if reset else []
        )
        interval_ids = _intervals(
            interval_fields(entry.interval()) for entry in (*missing, *to_reset)
        )

        PeriodicTask.objects.bulk_create(
            PeriodicTask(
                name=entry.task,
                task=entry.task,
                interval_id=interval_ids[interval_fields(entry.interval())],
                expire_seconds=entry.expire_seconds(),
                description=f"{entry.description} Default interval: "
                f"{entry.interval_key} (scheduler.yml).",
                enabled=True,
            )
            for entry in missing
        )
        report.created = [entry.task for entry in missing]

        changed: list[PeriodicTask] = []
        now = timezone.now()
        for entry in to_reset:
            row = existing[entry.task]
            row.task = entry.task
            row.interval_id = interval_ids[interval_fields(entry.interval())]
            row.crontab = row.solar = row.clocked = None
            row.one_off = False
            row.expires = None
            row.expire_seconds = entry.expire_seconds()
            row.enabled = True
            row.date_changed = now
            changed.append(row)
        if reset:
            for entry in disabled:
                row = existing.get(entry.task)
                if row is not None and row.enabled:
                    row.enabled = False
                    row.last_run_at = None
                    row.date_changed = now
                    changed.append(row)
        PeriodicTask.objects.bulk_update(
            changed,
            [
                "task",
                "interval",
                "crontab",
                "solar",
                "clocked",
                "one_off",
                "expires",
                "expire_seconds",
                "enabled",
                "last_run_at",
                "date_changed",
            ],
        )
        report.reset = [entry.task for entry in to_reset]
        report.kept = [
            entry.task for entry in active if entry.task in existing and not reset
        ]
        if missing or changed:
            # Bulk writes skip the model's signals: tell beat to reload.
            PeriodicTasks.update_changed()
    return report
