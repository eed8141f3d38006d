"""The periodic tasks: their configured intervals and ``setup_periodic_tasks``."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import call_command
from django_celery_beat.models import (
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTasks,
)

from pyfarm_site.conf import farm_config as read_config
from pyfarm_site.config import as_timedelta
from scheduling import schedules
from scheduling.schedules import (
    SCHEDULES,
    PeriodicSchedule,
    interval_fields,
    registered_task_names,
    setup_periodic_tasks,
)

ALL_TASKS = frozenset(entry.task for entry in SCHEDULES)
STATISTICS_TASKS = {
    "scheduling.count_agents",
    "scheduling.count_tasks",
    "scheduling.consolidate_task_events",
}


def _by_task(entry: PeriodicSchedule) -> str:
    return entry.task


def _interval_of(row: PeriodicTask) -> datetime.timedelta:
    assert row.interval is not None
    return datetime.timedelta(**{row.interval.period: row.interval.every})


# --- The list ------------------------------------------------------------------


def test_the_schedules_cover_the_intervals_of_scheduler_yml() -> None:
    assert {entry.interval_key for entry in SCHEDULES} == {
        "agent_poll_interval",
        "assign_tasks_interval",
        "orphaned_log_cleanup_interval",
        "compress_log_interval",
        "autodelete_old_job_interval",
        "delete_job_interval",
        "agent_count_interval",
        "task_count_interval",
        "task_event_count_consolidate_interval",
    }
    assert len(ALL_TASKS) == len(SCHEDULES)


@pytest.mark.parametrize("entry", SCHEDULES, ids=_by_task)
def test_each_entry_reads_its_interval_from_the_configuration(
    entry: PeriodicSchedule,
) -> None:
    configured = as_timedelta(entry.interval_key, read_config(entry.interval_key))
    assert entry.interval() == configured
    assert entry.task.startswith("scheduling.")
    assert entry.description


@pytest.mark.parametrize("entry", SCHEDULES, ids=_by_task)
def test_each_entry_expires_a_little_under_its_period(
    entry: PeriodicSchedule,
) -> None:
    period = entry.interval().total_seconds()
    assert 0.8 * period <= entry.expire_seconds() < period


@pytest.mark.parametrize("entry", SCHEDULES, ids=_by_task)
def test_only_statistics_entries_depend_on_enable_statistics(
    entry: PeriodicSchedule, farm_config
) -> None:
    farm_config(enable_statistics=False)
    assert entry.enabled() is (entry.task not in STATISTICS_TASKS)
    farm_config(enable_statistics=True)
    assert entry.enabled() is True


def test_a_changed_configuration_changes_the_interval(farm_config) -> None:
    farm_config(delete_job_interval={"minutes": 2})
    entry = next(e for e in SCHEDULES if e.interval_key == "delete_job_interval")
    assert entry.interval() == datetime.timedelta(minutes=2)
    assert entry.expire_seconds() == 108


@pytest.mark.parametrize(
    ("interval", "fields"),
    [
        (datetime.timedelta(seconds=30), (30, IntervalSchedule.SECONDS)),
        (datetime.timedelta(minutes=4), (4, IntervalSchedule.MINUTES)),
        (datetime.timedelta(minutes=90), (90, IntervalSchedule.MINUTES)),
        (datetime.timedelta(hours=1), (1, IntervalSchedule.HOURS)),
        (datetime.timedelta(days=2), (2, IntervalSchedule.DAYS)),
        (datetime.timedelta(seconds=1.5), (2, IntervalSchedule.SECONDS)),
        (datetime.timedelta(milliseconds=10), (1, IntervalSchedule.SECONDS)),
    ],
)
def test_intervals_are_stored_in_the_coarsest_exact_unit(
    interval: datetime.timedelta, fields: tuple[int, str]
) -> None:
    assert interval_fields(interval) == fields


# --- setup_periodic_tasks ----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("entry", SCHEDULES, ids=_by_task)
def test_it_creates_the_row_of_each_entry(entry: PeriodicSchedule, farm_config) -> None:
    farm_config(enable_statistics=True)
    report = setup_periodic_tasks(registered=ALL_TASKS)
    assert entry.task in report.created
    row = PeriodicTask.objects.get(name=entry.task)
    assert row.task == entry.task
    assert row.enabled
    assert _interval_of(row) == entry.interval()
    assert row.expire_seconds == entry.expire_seconds()
    assert row.expires is None
    assert entry.interval_key in row.description


@pytest.mark.django_db
def test_it_tells_beat_to_reload_after_creating_rows() -> None:
    setup_periodic_tasks(registered=ALL_TASKS)
    assert PeriodicTasks.last_change() is not None


@pytest.mark.django_db
def test_equal_intervals_share_one_interval_row(farm_config) -> None:
    farm_config(
        compress_log_interval={"minutes": 5}, delete_job_interval={"seconds": 300}
    )
    setup_periodic_tasks(registered=ALL_TASKS)
    compress = PeriodicTask.objects.get(name="scheduling.compress_logs")
    delete = PeriodicTask.objects.get(name="scheduling.delete_jobs")
    assert compress.interval_id == delete.interval_id
    assert IntervalSchedule.objects.filter(every=5, period="minutes").count() == 1


@pytest.mark.django_db
def test_it_is_idempotent(django_assert_num_queries) -> None:
    setup_periodic_tasks(registered=ALL_TASKS)
    before = list(PeriodicTask.objects.values().order_by("name"))
    last_change = PeriodicTasks.last_change()
    # One query for the existing rows (plus the savepoint pair): nothing to write.
    with django_assert_num_queries(3):
        report = setup_periodic_tasks(registered=ALL_TASKS)
    assert report.created == []
    assert sorted(report.kept) == sorted(ALL_TASKS)
    assert list(PeriodicTask.objects.values().order_by("name")) == before
    assert PeriodicTasks.last_change() == last_change


@pytest.mark.django_db
def test_it_keeps_what_an_admin_changed() -> None:
    setup_periodic_tasks(registered=ALL_TASKS)
    row = PeriodicTask.objects.get(name="scheduling.delete_jobs")
    row.interval = IntervalSchedule.objects.create(every=7, period="minutes")
    row.expire_seconds = 400
    row.enabled = False
    row.save()

    report = setup_periodic_tasks(registered=ALL_TASKS)

    assert "scheduling.delete_jobs" in report.kept
    row.refresh_from_db()
    assert (row.interval.every, row.interval.period) == (7, "minutes")
    assert row.expire_seconds == 400
    assert not row.enabled


@pytest.mark.django_db
def test_it_recreates_a_row_an_admin_deleted() -> None:
    setup_periodic_tasks(registered=ALL_TASKS)
    PeriodicTask.objects.get(name="scheduling.compress_logs").delete()
    report = setup_periodic_tasks(registered=ALL_TASKS)
    assert report.created == ["scheduling.compress_logs"]
    assert PeriodicTask.objects.filter(name="scheduling.compress_logs").exists()


@pytest.mark.django_db
def test_reset_restores_the_configured_interval() -> None:
    setup_periodic_tasks(registered=ALL_TASKS)
    row = PeriodicTask.objects.get(name="scheduling.delete_jobs")
    row.interval = IntervalSchedule.objects.create(every=7, period="minutes")
    row.expire_seconds = 400
    row.enabled = False
    row.save()
    last_change = PeriodicTasks.last_change()
    assert last_change is not None

    report = setup_periodic_tasks(reset=True, registered=ALL_TASKS)

    assert sorted(report.reset) == sorted(ALL_TASKS)
    assert report.created == report.kept == []
    row.refresh_from_db()
    entry = next(e for e in SCHEDULES if e.task == "scheduling.delete_jobs")
    assert _interval_of(row) == entry.interval()
    assert row.expire_seconds == entry.expire_seconds()
    assert row.enabled
    new_change = PeriodicTasks.last_change()
    assert new_change is not None
    assert new_change > last_change


@pytest.mark.django_db
def test_reset_replaces_a_crontab_an_admin_chose() -> None:
    setup_periodic_tasks(registered=ALL_TASKS)
    row = PeriodicTask.objects.get(name="scheduling.compress_logs")
    row.interval = None
    row.crontab = CrontabSchedule.objects.create(minute="0", hour="3")
    row.save()

    setup_periodic_tasks(reset=True, registered=ALL_TASKS)

    row.refresh_from_db()
    assert row.crontab is None
    assert row.interval is not None
    row.validate_unique()  # exactly one kind of schedule, as the admin requires


@pytest.mark.django_db
def test_reset_applies_a_changed_configuration(farm_config) -> None:
    setup_periodic_tasks(registered=ALL_TASKS)
    farm_config(assign_tasks_interval={"minutes": 1})
    setup_periodic_tasks(registered=ALL_TASKS)
    row = PeriodicTask.objects.get(name="scheduling.assign_tasks")
    assert _interval_of(row) == datetime.timedelta(minutes=4)

    setup_periodic_tasks(reset=True, registered=ALL_TASKS)

    row.refresh_from_db()
    assert _interval_of(row) == datetime.timedelta(minutes=1)
    assert row.expire_seconds == 54


@pytest.mark.django_db
def test_statistics_disabled_creates_no_statistics_rows(farm_config) -> None:
    farm_config(enable_statistics=False)
    report = setup_periodic_tasks(registered=ALL_TASKS)
    assert set(report.disabled) == STATISTICS_TASKS
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert names == ALL_TASKS - STATISTICS_TASKS


@pytest.mark.django_db
def test_reset_disables_statistics_rows_once_statistics_are_off(farm_config) -> None:
    setup_periodic_tasks(registered=ALL_TASKS)
    farm_config(enable_statistics=False)
    setup_periodic_tasks(registered=ALL_TASKS)
    assert PeriodicTask.objects.filter(name__in=STATISTICS_TASKS, enabled=True).count()

    setup_periodic_tasks(reset=True, registered=ALL_TASKS)

    assert not PeriodicTask.objects.filter(name__in=STATISTICS_TASKS, enabled=True)
    assert PeriodicTask.objects.filter(name__in=STATISTICS_TASKS).count() == 3


@pytest.mark.django_db
def test_unregistered_tasks_are_skipped() -> None:
    registered = {"scheduling.delete_jobs", "scheduling.compress_logs"}
    report = setup_periodic_tasks(registered=registered)
    assert sorted(report.created) == sorted(registered)
    assert set(report.unregistered) == ALL_TASKS - registered
    assert set(PeriodicTask.objects.values_list("name", flat=True)) == registered


@pytest.mark.django_db
def test_reset_leaves_rows_of_unregistered_tasks_alone() -> None:
    setup_periodic_tasks(registered=ALL_TASKS)
    row = PeriodicTask.objects.get(name="scheduling.poll_agents")
    row.enabled = False
    row.save()
    setup_periodic_tasks(reset=True, registered=ALL_TASKS - {row.name})
    row.refresh_from_db()
    assert not row.enabled


# --- The registry and the command ------------------------------------------------


def test_the_registry_is_the_celery_apps_after_autodiscovery() -> None:
    from pyfarm_site.celery import app

    names = registered_task_names()
    assert "celery.backend_cleanup" in names
    assert names == frozenset(app.tasks)


@pytest.mark.django_db
def test_the_command_creates_rows_for_the_registered_tasks_only() -> None:
    registered = registered_task_names()
    out = io.StringIO()
    call_command("setup_periodic_tasks", stdout=out)
    expected = {e.task for e in SCHEDULES if e.task in registered and e.enabled()}
    assert set(PeriodicTask.objects.values_list("name", flat=True)) == expected
    for entry in SCHEDULES:
        if entry.task not in registered:
            assert f"skipped {entry.task}: no such task is registered" in out.getvalue()
        elif entry.enabled():
            assert f"created {entry.task}" in out.getvalue()


@pytest.mark.django_db
def test_the_command_reports_each_outcome(monkeypatch, farm_config) -> None:
    farm_config(enable_statistics=False)
    monkeypatch.setattr(
        schedules,
        "SCHEDULES",
        (
            # celery.backend_cleanup is a built-in task: always registered.
            PeriodicSchedule("celery.backend_cleanup", "delete_job_interval", "A."),
            PeriodicSchedule("scheduling.no_such_task", "delete_job_interval", "B."),
            PeriodicSchedule(
                "celery.chord_unlock", "task_count_interval", "C.", statistics=True
            ),
        ),
    )
    out = io.StringIO()
    call_command("setup_periodic_tasks", stdout=out)
    assert out.getvalue().splitlines() == [
        "created celery.backend_cleanup",
        "skipped celery.chord_unlock: enable_statistics is off",
        "skipped scheduling.no_such_task: no such task is registered",
    ]

    out = io.StringIO()
    call_command("setup_periodic_tasks", stdout=out)
    assert "kept celery.backend_cleanup (unchanged; --reset restores it)" in (
        out.getvalue()
    )

    out = io.StringIO()
    call_command("setup_periodic_tasks", "--reset", stdout=out)
    assert "reset celery.backend_cleanup" in out.getvalue()
    assert set(PeriodicTask.objects.values_list("name", flat=True)) == {
        "celery.backend_cleanup"
    }


def test_every_scheduled_task_is_registered() -> None:
    registered = registered_task_names()

    assert [entry.task for entry in SCHEDULES if entry.task not in registered] == []
