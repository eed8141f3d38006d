"""Task events per queue: counted in memory after the commit, flushed, merged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from farm.choices import WorkState
from farm.models import Job, Task, TaskEventCount
from farm.services import rerun_jobs, rerun_tasks, task_events, update_task
from farm.services.jobs import alter_frame_range, delete_tasks
from farm.services.submission import create_job
from farm.tests.factories import JobQueueFactory, JobTypeVersionFactory
from farm.web.queries_statistics import choose_window, task_event_series
from pyfarm_site.conf import farm_config

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KINDS = ("new", "deleted", "restarted", "started", "failed", "done")


@pytest.fixture(autouse=True)
def _empty_buffer() -> Iterator[None]:
    """Each test starts and ends with nothing counted in this process."""
    task_events.discard()
    yield
    task_events.discard()


@pytest.fixture
def commits(django_capture_on_commit_callbacks: Any) -> Any:
    """Run the on-commit callbacks of the block, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _job(frames: int = 3, **fields: Any) -> Job:
    return create_job(
        jobtype_version=JobTypeVersionFactory.create(),
        title="job",
        start=1,
        end=frames,
        **fields,
    )


def _totals(**filters: Any) -> dict[str, int]:
    rows = TaskEventCount.objects.filter(**filters)
    return {
        kind: sum(getattr(row, f"num_{kind}") for row in rows)
        for kind in KINDS
        if sum(getattr(row, f"num_{kind}") for row in rows)
    }


# --- counting -----------------------------------------------------------------


def test_recording_costs_no_query(django_assert_num_queries: Any, commits: Any) -> None:
    with django_assert_num_queries(0), commits():
        task_events.record("done", 2, job_id=1)
    assert task_events.pending() == {("job", 1): {"done": 2}}


def test_nothing_is_counted_before_the_commit(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        task_events.record("done", job_id=1)
    assert task_events.pending() == {}


def test_an_unknown_kind_is_refused(commits: Any) -> None:
    with pytest.raises(ValueError, match="unknown task event"), commits():
        task_events.record("exploded", job_id=1)


def test_nothing_is_counted_with_statistics_off(commits: Any) -> None:
    config = {**_config(), "enable_statistics": False}
    with override_settings(PYFARM=config), commits():
        task_events.record("done", job_id=1)
    assert task_events.pending() == {}


def _config() -> dict[str, Any]:
    from django.conf import settings

    return dict(settings.PYFARM)


def test_submitting_a_job_counts_its_tasks_as_new(commits: Any) -> None:
    queue = JobQueueFactory.create()
    with commits():
        job = _job(frames=4, queue=queue)
    assert task_events.pending() == {("queue", job.queue_id): {"new": 4}}


def test_agent_reports_count_started_done_and_failed(commits: Any) -> None:
    job = _job(frames=2)
    first, second = Task.objects.filter(job=job).order_by("frame")
    task_events.discard()
    with commits():
        update_task(task=first, state=WorkState.RUNNING)
        update_task(task=first, state=WorkState.DONE)
        update_task(task=second, state=WorkState.FAILED)
    assert task_events.pending() == {
        ("job", job.pk): {"started": 1, "done": 1, "failed": 1}
    }


def test_a_report_that_changes_nothing_counts_nothing(commits: Any) -> None:
    job = _job(frames=1)
    task = Task.objects.get(job=job)
    update_task(task=task, state=WorkState.DONE)
    task_events.discard()
    with commits():
        update_task(task=task, state=WorkState.DONE)
    assert task_events.pending() == {}


def test_an_agents_report_touches_no_statistics_table(commits: Any) -> None:
    """The hot path: counting adds no statement to a task's "done"."""
    task = Task.objects.get(job=_job(frames=1))
    with CaptureQueriesContext(connection) as queries, commits():
        update_task(task=task, state=WorkState.DONE)
    assert queries.captured_queries
    assert not any("task_event_counts" in q["sql"] for q in queries)
    assert task_events.pending() == {("job", task.job_id): {"done": 1}}


def test_rerunning_a_job_counts_restarted_tasks(commits: Any) -> None:
    job = _job(frames=3)
    Task.objects.filter(job=job).update(state=WorkState.DONE)
    task_events.discard()
    with commits():
        rerun_jobs(jobs=Job.objects.filter(pk=job.pk))
    assert task_events.pending() == {("job", job.pk): {"restarted": 3}}


def test_rerunning_several_jobs_counts_per_job(commits: Any) -> None:
    first, second = _job(frames=2), _job(frames=3)
    Task.objects.update(state=WorkState.FAILED)
    task_events.discard()
    with commits():
        rerun_jobs(jobs=Job.objects.all(), failed_only=True)
    assert task_events.pending() == {
        ("job", first.pk): {"restarted": 2},
        ("job", second.pk): {"restarted": 3},
    }


def test_rerunning_counts_only_tasks_that_had_ended(commits: Any) -> None:
    job = _job(frames=4)
    Task.objects.filter(job=job, frame=1).update(state=WorkState.RUNNING)
    Task.objects.filter(job=job, frame__in=(2, 3)).update(state=WorkState.DONE)
    task_events.discard()
    with commits():
        rerun_tasks(tasks=Task.objects.filter(job=job))
    assert task_events.pending() == {("job", job.pk): {"restarted": 2}}


def test_deleting_tasks_counts_them_per_queue(commits: Any) -> None:
    render, comp = JobQueueFactory.create(), JobQueueFactory.create()
    _job(frames=2, queue=render)
    _job(frames=3, queue=comp)
    task_events.discard()
    with commits():
        assert delete_tasks(Task.objects.all()) == 5
    assert task_events.pending() == {
        ("queue", render.pk): {"deleted": 2},
        ("queue", comp.pk): {"deleted": 3},
    }


def test_changing_the_frame_range_counts_new_and_deleted(commits: Any) -> None:
    job = _job(frames=4)
    task_events.discard()
    with commits():
        alter_frame_range(job=job, start=3, end=6, by=1)
    assert task_events.pending() == {("queue", None): {"new": 2, "deleted": 2}}


# --- flushing -----------------------------------------------------------------


def test_a_flush_writes_one_row_per_queue_with_the_jobs_queue(
    commits: Any, django_assert_num_queries: Any
) -> None:
    render = JobQueueFactory.create()
    job = _job(frames=2, queue=render)
    with commits():
        task_events.record("done", 2, job_id=job.pk)
        task_events.record("new", 5, queue_id=None)
    with django_assert_num_queries(2):  # the jobs' queues, one INSERT
        assert task_events.flush() == 2
    assert _totals(job_queue=render) == {"done": 2}
    assert _totals(job_queue__isnull=True) == {"new": 5}
    assert task_events.pending() == {}


def test_a_flush_with_nothing_counted_writes_nothing(
    django_assert_num_queries: Any,
) -> None:
    with django_assert_num_queries(0):
        assert task_events.flush() == 0


def test_counts_are_written_once_they_are_older_than_the_flush_delay(
    commits: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(task_events.time, "monotonic", lambda: clock[0])
    with commits():
        task_events.record("new", 1)
    assert not TaskEventCount.objects.exists()
    clock[0] += task_events.FLUSH_SECONDS
    with commits():
        task_events.record("new", 2)
    assert _totals() == {"new": 1}
    assert task_events.pending() == {("queue", None): {"new": 2}}


def test_a_failed_flush_keeps_the_counts(
    commits: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with commits():
        task_events.record("done", 3)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database down")

    monkeypatch.setattr(TaskEventCount.objects, "bulk_create", broken)
    assert task_events.flush() == 0
    assert task_events.pending() == {("queue", None): {"done": 3}}


# --- consolidating ------------------------------------------------------------


def _row(start: datetime, seconds: float, queue: Any = None, **counts: int) -> Any:
    return TaskEventCount.objects.create(
        time_start=start,
        time_end=start + timedelta(seconds=seconds),
        job_queue=queue,
        **{f"num_{kind}": n for kind, n in counts.items()},
    )


def test_consolidation_merges_a_past_interval_into_one_row_per_queue() -> None:
    render = JobQueueFactory.create()
    base = NOW - timedelta(minutes=30)  # 11:30, an interval of its own
    _row(base + timedelta(minutes=1), 5, render, done=1)
    _row(base + timedelta(minutes=7), 5, render, done=2, new=1)
    _row(base + timedelta(minutes=8), 5, None, failed=4)
    removed = task_events.consolidate_task_events(
        now=NOW, interval=timedelta(minutes=15)
    )
    assert removed == 1
    rows = TaskEventCount.objects.all()
    assert sorted(
        (
            (r.job_queue_id, r.time_start, r.time_end, r.num_done, r.num_failed)
            for r in rows
        ),
        key=lambda row: row[0] or 0,
    ) == [
        (None, base, base + timedelta(minutes=15), 0, 4),
        (render.pk, base, base + timedelta(minutes=15), 3, 0),
    ]


def test_consolidation_leaves_the_current_interval_alone() -> None:
    _row(NOW + timedelta(minutes=1), 5, done=1)
    _row(NOW + timedelta(minutes=2), 5, done=1)
    later = NOW + timedelta(minutes=5)
    interval = timedelta(minutes=15)
    assert task_events.consolidate_task_events(now=later, interval=interval) == 0
    assert TaskEventCount.objects.count() == 2


def test_a_late_row_is_merged_into_its_intervals_row() -> None:
    base = NOW - timedelta(minutes=30)
    _row(base, 900, done=5)  # merged by an earlier run
    _row(base + timedelta(minutes=3), 5, done=2)  # flushed late
    task_events.consolidate_task_events(now=NOW, interval=timedelta(minutes=15))
    row = TaskEventCount.objects.get()
    assert (row.time_start, row.num_done) == (base, 7)


def test_consolidating_twice_changes_nothing_more() -> None:
    base = NOW - timedelta(hours=2)
    for minute in range(0, 60, 5):
        _row(base + timedelta(minutes=minute), 5, new=1)
    interval = timedelta(minutes=15)
    task_events.consolidate_task_events(now=NOW, interval=interval)
    assert TaskEventCount.objects.count() == 4
    assert task_events.consolidate_task_events(now=NOW, interval=interval) == 0
    assert _totals() == {"new": 12}


def test_consolidation_uses_the_configured_interval() -> None:
    base = NOW - timedelta(hours=3)
    _row(base, 5, new=1)
    _row(base + timedelta(minutes=50), 5, new=1)
    config = {**_config(), "task_event_count_consolidate_interval": {"hours": 1}}
    with override_settings(PYFARM=config):
        task_events.consolidate_task_events(now=NOW)
    row = TaskEventCount.objects.get()
    assert row.time_end - row.time_start == timedelta(hours=1)


def test_consolidation_writes_this_processs_counts_first(commits: Any) -> None:
    with commits():
        task_events.record("done", 2)
    task_events.consolidate_task_events()
    assert _totals() == {"done": 2}


def test_the_periodic_task_does_nothing_with_statistics_off() -> None:
    from scheduling.tasks.maintenance import consolidate_task_events

    _row(NOW - timedelta(hours=1), 5, new=1)
    with override_settings(PYFARM={**_config(), "enable_statistics": False}):
        assert consolidate_task_events() is None
    assert consolidate_task_events.apply().get() == 0


# --- the chart ----------------------------------------------------------------


def test_the_agents_reports_reach_the_task_events_chart(commits: Any) -> None:
    """From real task updates over the API to the statistics page's series."""
    queue = JobQueueFactory.create()
    with commits():
        job = _job(frames=3, queue=queue)
    first, second, third = Task.objects.filter(job=job).order_by("frame")
    agent = APIClient(REMOTE_ADDR="10.20.30.40")

    def report(task: Task, state: str) -> None:
        response = agent.post(
            f"/api/v1/jobs/{job.pk}/tasks/{task.pk}",
            data=json.dumps({"state": state}),
            content_type="application/json",
            HTTP_USER_AGENT="PyFarm/1.0 (agent)",
        )
        assert response.status_code == 200, response.content

    with commits():
        report(first, "running")
        report(first, "done")
        report(second, "running")
        report(second, "failed")
        report(third, "running")
    with commits():
        rerun_jobs(jobs=Job.objects.filter(pk=job.pk))
    task_events.flush()
    now = datetime.now(UTC)
    window = choose_window(now - timedelta(hours=1), now + timedelta(minutes=1))
    series = task_event_series(window, queue.pk)
    totals = {kind: sum(v for _, v in points) for kind, points in series.items()}
    assert totals == {
        "new": 3.0,
        "started": 3.0,
        "done": 1.0,
        "failed": 1.0,
        "restarted": 1.0,
        "deleted": 0.0,
    }
    assert farm_config("enable_statistics")


# --- the admin ----------------------------------------------------------------


def test_tasks_deleted_in_the_admin_are_counted(
    admin_client: Any, commits: Any
) -> None:
    queue = JobQueueFactory.create()
    job = _job(frames=3, queue=queue)
    ids = list(Task.objects.filter(job=job).values_list("pk", flat=True))
    task_events.discard()
    with commits():
        response = admin_client.post(
            reverse("admin:farm_task_changelist"),
            {"action": "delete_selected", "_selected_action": ids[:2], "post": "yes"},
        )
    assert response.status_code == 302
    with commits():
        response = admin_client.post(
            reverse("admin:farm_task_delete", args=[ids[2]]), {"post": "yes"}
        )
    assert response.status_code == 302
    assert not Task.objects.filter(job=job).exists()
    assert task_events.pending() == {("queue", queue.pk): {"deleted": 3}}


def test_a_task_added_in_the_admin_is_counted_as_new(
    admin_client: Any, commits: Any
) -> None:
    job = _job(frames=1)
    task_events.discard()
    with commits():
        response = admin_client.post(
            reverse("admin:farm_task_add"),
            {
                "job": job.pk,
                "frame": "7",
                "tile": "",
                "priority": "0",
                "log_associations-TOTAL_FORMS": "0",
                "log_associations-INITIAL_FORMS": "0",
            },
        )
    assert response.status_code == 302, response.content[:2000]
    assert task_events.pending() == {("job", job.pk): {"new": 1}}


def test_the_exit_flush_writes_what_is_left(commits: Any) -> None:
    with commits():
        task_events.record("done", 4)
    task_events._flush_at_exit()
    assert _totals() == {"done": 4}


def test_the_exit_flush_gives_up_quietly(
    commits: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with commits():
        task_events.record("done", 4)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database gone")

    monkeypatch.setattr(TaskEventCount.objects, "bulk_create", broken)
    task_events._flush_at_exit()
    assert caplog.records == []
