"""Services: job submission, frame ranges, derived job states, task reports."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from farm.choices import AgentState, WorkState
from farm.models import Agent, Job, Task, TaskTaskLogAssociation
from farm.services import (
    alter_frame_range,
    create_job,
    disable_agents,
    enable_agents,
    frame_range,
    mark_jobs_for_deletion,
    pause_jobs,
    refresh_job_states,
    request_agent_restart,
    requeue_agent_tasks,
    rerun_jobs,
    rerun_tasks,
    unpause_jobs,
    update_task,
)
from farm.signals import tasks_to_stop
from farm.tests.factories import (
    AgentFactory,
    JobFactory,
    JobTypeVersionFactory,
    TagFactory,
    TaskFactory,
    TaskTaskLogAssociationFactory,
)

pytestmark = pytest.mark.django_db


def _frames(job: Job) -> list[Decimal]:
    return list(
        Task.objects.for_job(job.pk).order_by("frame").values_list("frame", flat=True)
    )


# --- frame ranges ----------------------------------------------------------


def test_frame_range_is_inclusive_and_exact() -> None:
    assert frame_range(1, 2, Decimal("0.1"))[-1] == Decimal("2.0000")
    assert len(frame_range(1, 2, Decimal("0.1"))) == 11
    assert frame_range(1, 10, 4) == [Decimal(1), Decimal(5), Decimal(9)]
    assert frame_range(5, 5, 1) == [Decimal(5)]


@pytest.mark.parametrize(
    ("start", "end", "by", "field"),
    [(1, 10, 0, "by"), (1, 10, -1, "by"), (10, 1, 1, "end"), (0, 10_000_000, 1, "by")],
)
def test_frame_range_refuses_bad_ranges(start, end, by, field) -> None:
    with pytest.raises(ValidationError) as info:
        frame_range(start, end, by)
    assert field in info.value.message_dict


def test_frame_range_refuses_non_numbers() -> None:
    with pytest.raises(ValidationError):
        frame_range("one", 10, 1)


# --- submission --------------------------------------------------------------


def test_create_job_creates_one_task_per_frame() -> None:
    job = create_job(
        jobtype_version=JobTypeVersionFactory(),
        title="shot",
        start=1,
        end=10,
        by=2,
        priority=5,
    )
    assert _frames(job) == [Decimal(n) for n in (1, 3, 5, 7, 9)]
    tasks = Task.objects.for_job(job.pk)
    assert {task.state for task in tasks} == {WorkState.QUEUED}
    assert {task.priority for task in tasks} == {5}
    assert {task.tile for task in tasks} == {None}
    assert job.state == WorkState.QUEUED


def test_create_job_creates_tiles() -> None:
    job = create_job(
        jobtype_version=JobTypeVersionFactory(), title="t", start=1, end=2, num_tiles=3
    )
    keys = set(Task.objects.for_job(job.pk).values_list("frame", "tile"))
    assert keys == {(Decimal(f), t) for f in (1, 2) for t in (0, 1, 2)}


def test_create_job_sets_relations() -> None:
    parent = JobFactory()
    gpu, linux = TagFactory(tag="gpu"), TagFactory(tag="linux")
    job = create_job(
        jobtype_version=JobTypeVersionFactory(),
        title="t",
        start=1,
        end=1,
        tags=[gpu],
        tag_requirements=[(linux, False), (gpu, True)],
        parents=[parent],
    )
    assert list(job.tags.all()) == [gpu]
    assert {(r.tag.tag, r.negate) for r in job.tag_requirements.all()} == {
        ("linux", False),
        ("gpu", True),
    }
    assert list(job.parents.all()) == [parent]


def test_invalid_submission_leaves_nothing_behind() -> None:
    with pytest.raises(ValidationError) as info:
        create_job(
            jobtype_version=JobTypeVersionFactory(), title="t", start=1, end=10, batch=0
        )
    assert "batch" in info.value.message_dict
    assert not Job.objects.exists()
    assert not Task.objects.exists()


def test_too_many_tiles_are_refused() -> None:
    with pytest.raises(ValidationError) as info:
        create_job(
            jobtype_version=JobTypeVersionFactory(),
            title="t",
            start=1,
            end=1000,
            num_tiles=1_000_000 // 500,
        )
    assert "num_tiles" in info.value.message_dict


@pytest.mark.parametrize("frames", [10, 5000])
def test_create_job_runs_a_constant_number_of_queries(
    frames: int, django_assert_max_num_queries
) -> None:
    version = JobTypeVersionFactory()
    # Savepoints and the job itself; SQLite may split the tasks into a few
    # INSERTs (about 3,000 rows each), PostgreSQL streams them in one COPY.
    with django_assert_max_num_queries(8):
        job = create_job(jobtype_version=version, title="t", start=1, end=frames)
    assert Task.objects.for_job(job.pk).count() == frames


# --- frame range changes ---------------------------------------------------


def test_alter_frame_range_adds_and_removes_tasks_and_keeps_the_rest() -> None:
    job = create_job(
        jobtype_version=JobTypeVersionFactory(), title="t", start=1, end=10
    )
    kept = Task.objects.get(job=job, frame=5)
    kept.mark_running()
    kept.mark_done()
    TaskTaskLogAssociationFactory(task=Task.objects.get(job=job, frame=1))
    alter_frame_range(job=job, start=5, end=14, by=1)
    assert _frames(job) == [Decimal(n) for n in range(5, 15)]
    kept.refresh_from_db()
    assert kept.state == WorkState.DONE
    assert not TaskTaskLogAssociation.objects.exists()
    job.refresh_from_db()
    assert (job.start, job.end, job.by) == (Decimal(5), Decimal(14), Decimal(1))
    assert job.state == WorkState.RUNNING


def test_alter_frame_range_of_a_finished_job_reopens_it() -> None:
    job = create_job(jobtype_version=JobTypeVersionFactory(), title="t", start=1, end=2)
    Task.objects.for_job(job.pk).mark_done()
    refresh_job_states(job_ids=[job.pk])
    job.refresh_from_db()
    assert job.state == WorkState.DONE
    alter_frame_range(job=job, start=Decimal(1), end=Decimal(3), by=Decimal(1))
    job.refresh_from_db()
    assert (job.state, job.time_finished) == (WorkState.RUNNING, None)


def test_alter_frame_range_keeps_tiles() -> None:
    job = create_job(
        jobtype_version=JobTypeVersionFactory(), title="t", start=1, end=1, num_tiles=2
    )
    alter_frame_range(job=job, start=1, end=2, by=1)
    assert Task.objects.for_job(job.pk).count() == 4


def test_alter_frame_range_refuses_bad_ranges() -> None:
    job = create_job(jobtype_version=JobTypeVersionFactory(), title="t", start=1, end=2)
    with pytest.raises(ValidationError):
        alter_frame_range(job=job, start=5, end=1, by=1)
    assert Task.objects.for_job(job.pk).count() == 2


@pytest.mark.parametrize("frames", [10, 3000])
def test_alter_frame_range_does_not_query_per_task(
    frames: int, django_assert_max_num_queries
) -> None:
    job = create_job(
        jobtype_version=JobTypeVersionFactory(), title="t", start=1, end=frames
    )
    # Shift the range by half: half the tasks go, as many come.
    with django_assert_max_num_queries(20):
        alter_frame_range(
            job=job, start=frames // 2 + 1, end=frames + frames // 2, by=1
        )
    assert Task.objects.for_job(job.pk).count() == frames


def _statements(queries: CaptureQueriesContext, start: str) -> list[str]:
    """The captured statements that start with ``start`` (spaces ignored)."""
    sqls = [query["sql"].strip() for query in queries.captured_queries]
    return [sql for sql in sqls if sql.upper().startswith(start)]


def _task_inserts(queries: CaptureQueriesContext) -> list[str]:
    """The captured INSERTs into the tasks table (quoted or not)."""
    return [
        sql
        for sql in _statements(queries, "")
        if "INSERT INTO TASKS" in sql.upper().replace('"', "")
    ]


@pytest.mark.parametrize("frames", [10, 20_000])
def test_create_job_writes_all_its_tasks_in_one_statement(frames: int) -> None:
    """The database generates the rows: nothing per task is built in Python."""
    with CaptureQueriesContext(connection) as queries:
        job = create_job(
            jobtype_version=JobTypeVersionFactory(), title="t", start=1, end=frames
        )
    assert len(_task_inserts(queries)) == 1
    assert Task.objects.for_job(job.pk).count() == frames


def test_create_job_generates_exact_fractional_frames_and_tiles_in_order() -> None:
    job = create_job(
        jobtype_version=JobTypeVersionFactory(),
        title="t",
        start=1,
        end=2,
        by=Decimal("0.1"),
        num_tiles=2,
    )
    rows = list(
        Task.objects.for_job(job.pk).order_by("pk").values_list("frame", "tile")
    )
    frames = [Decimal(1) + Decimal("0.1") * n for n in range(11)]
    assert rows == [(frame, tile) for frame in frames for tile in (0, 1)]
    assert set(Task.objects.for_job(job.pk).values_list("state", flat=True)) == {
        WorkState.QUEUED
    }


def test_create_job_of_a_negative_range_without_tiles() -> None:
    job = create_job(
        jobtype_version=JobTypeVersionFactory(), title="t", start=-2, end=0, by=1
    )
    assert _frames(job) == [Decimal(-2), Decimal(-1), Decimal(0)]
    assert set(Task.objects.for_job(job.pk).values_list("tile", flat=True)) == {None}


def test_alter_frame_range_with_a_fractional_step_keeps_the_frames_that_stay() -> None:
    job = create_job(
        jobtype_version=JobTypeVersionFactory(),
        title="t",
        start=1,
        end=2,
        by=Decimal("0.1"),
    )
    before = dict(Task.objects.for_job(job.pk).values_list("frame", "pk"))

    alter_frame_range(job=job, start=1, end=3, by=Decimal("0.2"))

    after = dict(Task.objects.for_job(job.pk).values_list("frame", "pk"))
    wanted = [Decimal(1) + Decimal("0.2") * n for n in range(11)]
    assert sorted(after) == wanted
    # 1.0, 1.2, ... 2.0 stayed (the same rows); 1.1, 1.3, ... 1.9 went.
    kept = [frame for frame in wanted if frame <= 2]
    assert {frame: after[frame] for frame in kept} == {
        frame: before[frame] for frame in kept
    }


def test_alter_frame_range_drops_tiles_the_job_no_longer_has() -> None:
    job = create_job(
        jobtype_version=JobTypeVersionFactory(), title="t", start=1, end=2, num_tiles=3
    )
    Job.objects.filter(pk=job.pk).update(num_tiles=2)
    job.refresh_from_db()

    alter_frame_range(job=job, start=1, end=2, by=1)

    assert sorted(Task.objects.for_job(job.pk).values_list("frame", "tile")) == [
        (Decimal(1), 0),
        (Decimal(1), 1),
        (Decimal(2), 0),
        (Decimal(2), 1),
    ]


def test_alter_frame_range_writes_tasks_in_one_delete_and_one_insert() -> None:
    """Half of 6,000 tasks go and as many come, in one statement each."""
    job = create_job(
        jobtype_version=JobTypeVersionFactory(), title="t", start=1, end=6000
    )
    with CaptureQueriesContext(connection) as queries:
        alter_frame_range(job=job, start=3001, end=9000, by=1)
    deletes = [sql for sql in _statements(queries, "DELETE") if "tasks" in sql]
    assert len([sql for sql in deletes if 'DELETE FROM "tasks"' in sql]) == 1
    assert len(_task_inserts(queries)) == 1
    assert _frames(job) == [Decimal(n) for n in range(3001, 9001)]


# --- planner statistics ------------------------------------------------------

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's planner statistics"
)


def _row_estimate(table: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
        (estimate,) = cursor.fetchone()
    return float(estimate)


@postgresql_only
def test_a_large_bulk_of_new_tasks_is_analyzed_before_it_commits() -> None:
    """The scheduler's next tick is planned knowing the tasks (issue #8)."""
    create_job(jobtype_version=JobTypeVersionFactory(), title="t", start=1, end=2000)
    # Only an ANALYZE in this (test's) transaction can count its own rows.
    assert _row_estimate("tasks") >= 2000


@postgresql_only
def test_a_small_bulk_of_new_tasks_is_left_to_autovacuum() -> None:
    with CaptureQueriesContext(connection) as queries:
        create_job(jobtype_version=JobTypeVersionFactory(), title="t", start=1, end=10)
    assert _statements(queries, "ANALYZE") == []
    assert not any("reltuples" in sql for sql in _statements(queries, "SELECT"))


@postgresql_only
def test_a_bulk_small_next_to_the_table_is_left_to_autovacuum() -> None:
    create_job(jobtype_version=JobTypeVersionFactory(), title="a", start=1, end=8000)
    with CaptureQueriesContext(connection) as queries:
        create_job(
            jobtype_version=JobTypeVersionFactory(), title="b", start=1, end=1000
        )
    assert _statements(queries, "ANALYZE") == []


@postgresql_only
def test_migrate_analyzes_the_farm_tables_that_hold_data() -> None:
    """A database restored from a dump and migrated gets its statistics."""
    AgentFactory.create()
    create_job(jobtype_version=JobTypeVersionFactory(), title="t", start=1, end=10)
    with CaptureQueriesContext(connection) as queries:
        call_command("migrate", verbosity=0)
    (analyze,) = _statements(queries, "ANALYZE")
    for table in ("tasks", "jobs", "agents"):
        assert f'"{table}"' in analyze
    assert _row_estimate("tasks") == 10


# --- derived job state -------------------------------------------------------


@pytest.mark.parametrize(
    ("task_states", "expected"),
    [
        (["queued", "queued"], WorkState.QUEUED),
        (["running", "queued"], WorkState.RUNNING),
        (["done", "queued"], WorkState.RUNNING),
        (["done", "done"], WorkState.DONE),
        (["done", "failed"], WorkState.FAILED),
        (["failed", "running"], WorkState.RUNNING),
    ],
)
def test_job_state_is_derived_from_its_tasks(task_states, expected) -> None:
    job = JobFactory()
    for state in task_states:
        TaskFactory(job=job, state=state)
    refresh_job_states(job_ids=[job.pk])
    job.refresh_from_db()
    assert job.state == expected


def test_a_job_without_tasks_keeps_its_state() -> None:
    job = JobFactory()
    refresh_job_states(job_ids=[job.pk])
    job.refresh_from_db()
    assert job.state == WorkState.QUEUED


def test_job_times_follow_its_tasks() -> None:
    job = create_job(jobtype_version=JobTypeVersionFactory(), title="t", start=1, end=2)
    first, second = Task.objects.for_job(job.pk).order_by("frame")
    with time_machine.travel("2026-01-01 10:00Z", tick=False):
        update_task(task=first, state=WorkState.RUNNING)
    job.refresh_from_db()
    assert job.time_started.isoformat() == "2026-01-01T10:00:00+00:00"
    assert job.time_finished is None
    with time_machine.travel("2026-01-01 11:00Z", tick=False):
        update_task(task=first, state=WorkState.DONE)
        update_task(task=second, state=WorkState.DONE)
    job.refresh_from_db()
    assert job.state == WorkState.DONE
    assert job.time_finished.isoformat() == "2026-01-01T11:00:00+00:00"
    rerun_jobs(jobs=Job.objects.filter(pk=job.pk))
    job.refresh_from_db()
    assert (job.state, job.time_started, job.time_finished) == (
        WorkState.QUEUED,
        None,
        None,
    )


def test_paused_jobs_keep_their_state() -> None:
    job = JobFactory(paused=True)
    TaskFactory(job=job, done=True)
    assert refresh_job_states(job_ids=[job.pk]) == {}
    job.refresh_from_db()
    assert job.state == WorkState.PAUSED


def test_refresh_reports_the_changed_states() -> None:
    done, unchanged = JobFactory(), JobFactory()
    TaskFactory(job=done, done=True)
    TaskFactory(job=unchanged)
    assert refresh_job_states(job_ids=[done.pk, unchanged.pk]) == {
        done.pk: WorkState.DONE
    }


@pytest.mark.parametrize("jobs", [2, 40])
def test_refresh_job_states_runs_a_constant_number_of_queries(
    jobs: int, django_assert_num_queries
) -> None:
    ids = []
    for _ in range(jobs):
        job = JobFactory()
        TaskFactory(job=job, done=True)
        TaskFactory(job=job, running=True)
        ids.append(job.pk)
    # The jobs' rows locked, the aggregate, then one bulk UPDATE.
    with django_assert_num_queries(3) as captured:
        refresh_job_states(job_ids=ids)
    assert set(Job.objects.values_list("state", flat=True)) == {WorkState.RUNNING}
    if connection.vendor == "postgresql":
        # Concurrent reports ending a job's last tasks count one after the
        # other, each seeing the other's committed task.
        assert captured.captured_queries[0]["sql"].endswith("FOR UPDATE")


# --- bulk job actions --------------------------------------------------------


def test_pause_and_unpause_jobs() -> None:
    running, queued = JobFactory(state=WorkState.RUNNING), JobFactory()
    done = JobFactory(state=WorkState.DONE)
    TaskFactory(job=running, running=True)
    TaskFactory(job=running, done=True)
    assert pause_jobs(jobs=Job.objects.all()) == 2
    assert set(Job.objects.values_list("state", flat=True)) == {
        WorkState.PAUSED,
        WorkState.DONE,
    }
    assert unpause_jobs(jobs=Job.objects.all()) == 2
    running.refresh_from_db()
    queued.refresh_from_db()
    done.refresh_from_db()
    assert (running.state, queued.state, done.state) == (
        WorkState.RUNNING,
        WorkState.QUEUED,
        WorkState.DONE,
    )


def test_pausing_gives_the_tasks_agents_hold_back_without_a_failure() -> None:
    job = JobFactory(state=WorkState.RUNNING)
    running = TaskFactory(job=job, running=True, attempts=2, failures=1)
    sent = TaskFactory(job=job, agent=AgentFactory(), sent_to_agent=True)
    unsent = TaskFactory(job=job, agent=AgentFactory())
    done = TaskFactory(job=job, done=True, agent=AgentFactory())
    pause_jobs(jobs=Job.objects.filter(pk=job.pk))
    for task in (running, sent, unsent):
        task.refresh_from_db()
        assert (task.state, task.agent_id, task.sent_to_agent) == (
            WorkState.QUEUED,
            None,
            False,
        )
    assert (running.attempts, running.failures) == (2, 1)
    done.refresh_from_db()
    assert (done.state, done.agent_id) == (WorkState.DONE, done.agent_id)


def test_pausing_asks_to_stop_the_sent_and_running_tasks_after_commit(
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent, other = AgentFactory(), AgentFactory()
    job = JobFactory(state=WorkState.RUNNING)
    running = TaskFactory(job=job, running=True, agent=agent)
    sent = TaskFactory(job=job, agent=agent, sent_to_agent=True)
    elsewhere = TaskFactory(job=job, running=True, agent=other)
    TaskFactory(job=job, agent=agent)  # assigned, never sent: nothing to stop
    received: list[dict[str, list[int]]] = []

    def receiver(stops: dict[str, list[int]], **kwargs: Any) -> None:
        received.append(stops)

    tasks_to_stop.connect(receiver)
    try:
        with django_capture_on_commit_callbacks() as callbacks:
            pause_jobs(jobs=Job.objects.filter(pk=job.pk))
            assert received == []
        for callback in callbacks:
            callback()
    finally:
        tasks_to_stop.disconnect(receiver)
    assert received == [
        {str(agent.pk): sorted([running.pk, sent.pk]), str(other.pk): [elsewhere.pk]}
    ]


def test_pausing_nothing_asks_to_stop_nothing(
    django_capture_on_commit_callbacks: Any,
) -> None:
    job = JobFactory(state=WorkState.DONE)
    TaskFactory(job=job, done=True)
    with django_capture_on_commit_callbacks() as callbacks:
        assert pause_jobs(jobs=Job.objects.all()) == 0
    assert callbacks == []


def test_pausing_costs_a_fixed_number_of_queries(
    django_assert_num_queries: Any,
) -> None:
    agents = AgentFactory.create_batch(3)
    for _ in range(5):
        job = JobFactory(state=WorkState.RUNNING)
        for agent in agents:
            TaskFactory(job=job, running=True, agent=agent)
            TaskFactory(job=job, agent=agent, sent_to_agent=True)
    # Savepoint pair, the jobs' ids, their UPDATE, the held tasks (locked),
    # their UPDATE.
    with django_assert_num_queries(6):
        assert pause_jobs(jobs=Job.objects.all()) == 5


def test_rerun_jobs_requeues_all_but_running_tasks() -> None:
    job = JobFactory(state=WorkState.FAILED, completion_notify_sent=True)
    done, failed, running = (
        TaskFactory(job=job, done=True),
        TaskFactory(job=job, failed=True),
        TaskFactory(job=job, running=True),
    )
    assert rerun_jobs(jobs=Job.objects.filter(pk=job.pk)) == 2
    job.refresh_from_db()
    for task in (done, failed, running):
        task.refresh_from_db()
    assert (done.state, failed.state, running.state) == (
        WorkState.QUEUED,
        WorkState.QUEUED,
        WorkState.RUNNING,
    )
    assert job.state == WorkState.RUNNING
    assert job.completion_notify_sent is False


def test_rerun_failed_only_touches_failed_tasks() -> None:
    job = JobFactory(state=WorkState.FAILED)
    done, failed = TaskFactory(job=job, done=True), TaskFactory(job=job, failed=True)
    assert rerun_jobs(jobs=Job.objects.filter(pk=job.pk), failed_only=True) == 1
    job.refresh_from_db()
    done.refresh_from_db()
    failed.refresh_from_db()
    assert (done.state, failed.state) == (WorkState.DONE, WorkState.QUEUED)
    assert job.state == WorkState.RUNNING


def test_rerunning_a_job_reruns_the_jobs_that_depend_on_it() -> None:
    parent = JobFactory(state=WorkState.DONE)
    child = JobFactory(state=WorkState.DONE)
    grandchild = JobFactory(state=WorkState.DONE)
    unrelated = JobFactory(state=WorkState.DONE)
    child.parents.add(parent)
    grandchild.parents.add(child)
    tasks = [TaskFactory(job=job, done=True) for job in (parent, child, grandchild)]
    kept = TaskFactory(job=unrelated, done=True)
    assert rerun_jobs(jobs=Job.objects.filter(pk=parent.pk)) == 3
    for task in tasks:
        task.refresh_from_db()
        assert task.state == WorkState.QUEUED
    kept.refresh_from_db()
    assert kept.state == WorkState.DONE
    assert set(
        Job.objects.filter(state=WorkState.QUEUED).values_list("pk", flat=True)
    ) == {parent.pk, child.pk, grandchild.pk}


def test_rerunning_failed_tasks_reruns_the_failed_tasks_of_dependents() -> None:
    parent, child = JobFactory(state=WorkState.FAILED), JobFactory()
    child.parents.add(parent)
    failed = TaskFactory(job=parent, failed=True)
    child_failed = TaskFactory(job=child, failed=True)
    child_done = TaskFactory(job=child, done=True)
    assert rerun_jobs(jobs=Job.objects.filter(pk=parent.pk), failed_only=True) == 2
    for task in (failed, child_failed, child_done):
        task.refresh_from_db()
    assert (failed.state, child_failed.state, child_done.state) == (
        WorkState.QUEUED,
        WorkState.QUEUED,
        WorkState.DONE,
    )


def test_a_dependency_cycle_does_not_stop_a_rerun() -> None:
    first, second = JobFactory(), JobFactory()
    first.parents.add(second)
    second.parents.add(first)
    TaskFactory(job=first, done=True)
    TaskFactory(job=second, done=True)
    assert rerun_jobs(jobs=Job.objects.filter(pk=first.pk)) == 2


def test_rerunning_with_dependents_costs_a_fixed_number_of_queries(
    django_assert_num_queries: Any,
) -> None:
    def chain(depth: int) -> Job:
        root = previous = JobFactory(state=WorkState.DONE)
        TaskFactory(job=root, done=True)
        for _ in range(depth):
            job = JobFactory(state=WorkState.DONE)
            job.parents.add(previous)
            TaskFactory(job=job, done=True)
            previous = job
        return root

    roots = [chain(6), chain(2)]
    # Savepoint pair, the family, the restarted tasks per queue (task events),
    # the task UPDATE, the notification flags, then refresh_job_states: lock,
    # aggregate, UPDATE.
    with django_assert_num_queries(9):
        assert rerun_jobs(jobs=Job.objects.filter(pk__in=[j.pk for j in roots])) == 10


def test_mark_jobs_for_deletion() -> None:
    JobFactory(), JobFactory(to_be_deleted=True)
    assert mark_jobs_for_deletion(jobs=Job.objects.all()) == 1
    assert Job.objects.filter(to_be_deleted=True).count() == 2
    assert not Job.objects.visible().exists()


def test_rerun_tasks_updates_the_jobs() -> None:
    job = JobFactory(state=WorkState.DONE)
    task = TaskFactory(job=job, done=True)
    assert rerun_tasks(tasks=Task.objects.filter(pk=task.pk)) == 1
    job.refresh_from_db()
    assert job.state == WorkState.QUEUED


# --- the agent's task reports ------------------------------------------------


def _submitted(frames: int = 2, requeue: int = 3) -> tuple[Job, list[Task]]:
    job = create_job(
        jobtype_version=JobTypeVersionFactory(),
        title="t",
        start=1,
        end=frames,
        requeue=requeue,
    )
    agent = AgentFactory()
    Task.objects.for_job(job.pk).update(agent=agent, sent_to_agent=True)
    return job, list(Task.objects.for_job(job.pk).order_by("frame"))


def test_the_agent_sequence_finishes_the_job() -> None:
    job, tasks = _submitted()
    for task in tasks:
        assert update_task(task=task, state=WorkState.RUNNING)
        assert update_task(task=task, time_started_now=True)
        assert update_task(task=task, progress=0.5)
        assert update_task(task=task, state=WorkState.DONE)
    job.refresh_from_db()
    assert job.state == WorkState.DONE
    assert all(
        t.attempts == 1 and t.progress == 1.0 for t in Task.objects.for_job(job.pk)
    )
    assert Agent.objects.get().last_success_on is not None


def test_out_of_order_reports_do_not_regress_a_task() -> None:
    _, (task, _) = _submitted()
    update_task(task=task, state=WorkState.RUNNING)
    update_task(task=task, state=WorkState.DONE)
    assert update_task(task=task, state=WorkState.RUNNING) is False
    assert update_task(task=task, progress=0.3) is False
    assert (task.state, task.attempts, task.progress) == (WorkState.DONE, 1, 1.0)


def test_failed_before_running_still_counts_the_failure() -> None:
    _, (task, _) = _submitted(requeue=0)
    update_task(task=task, state=WorkState.FAILED, last_error="traceback")
    assert update_task(task=task, state=WorkState.RUNNING) is False
    assert (task.state, task.failures, task.last_error) == (
        WorkState.FAILED,
        1,
        "traceback",
    )


def test_a_failing_task_ends_its_job_failed_after_its_requeues() -> None:
    job, (task, other) = _submitted(requeue=1)
    update_task(task=other, state=WorkState.RUNNING)
    update_task(task=other, state=WorkState.DONE)
    for _ in range(2):
        update_task(task=task, state=WorkState.RUNNING)
        update_task(task=task, state=WorkState.FAILED)
    job.refresh_from_db()
    assert (task.state, task.failures, task.attempts) == (WorkState.FAILED, 2, 2)
    assert job.state == WorkState.FAILED


def test_queued_from_the_agent_gives_the_task_back() -> None:
    job, (task, _) = _submitted()
    update_task(task=task, state=WorkState.RUNNING)
    assert update_task(task=task, state=WorkState.QUEUED)
    assert (task.state, task.agent_id, task.sent_to_agent) == (
        WorkState.QUEUED,
        None,
        False,
    )
    job.refresh_from_db()
    assert job.state == WorkState.QUEUED


def test_last_error_alone_is_recorded_on_open_tasks() -> None:
    _, (task, _) = _submitted()
    assert update_task(task=task, last_error="warning")
    assert task.last_error == "warning"


def test_tasks_cannot_be_paused_individually() -> None:
    _, (task, _) = _submitted()
    with pytest.raises(ValueError, match="pause its job"):
        update_task(task=task, state=WorkState.PAUSED)


# --- agents ------------------------------------------------------------------


def test_enable_disable_and_restart_agents() -> None:
    AgentFactory(), AgentFactory(disabled=True)
    assert disable_agents(agents=Agent.objects.all()) == 1
    assert enable_agents(agents=Agent.objects.all()) == 2
    assert set(Agent.objects.values_list("state", flat=True)) == {AgentState.ONLINE}
    assert request_agent_restart(agents=Agent.objects.all()) == 2
    assert request_agent_restart(agents=Agent.objects.all()) == 0


def test_requeue_agent_tasks_takes_back_open_work() -> None:
    lost, disabled = AgentFactory(running=True), AgentFactory(disabled=True)
    job = JobFactory()
    running = TaskFactory(job=job, agent=lost, state=WorkState.RUNNING, attempts=1)
    done = TaskFactory(job=job, agent=lost, done=True)
    assert requeue_agent_tasks(agent_ids=[lost.pk, disabled.pk]) == 1
    running.refresh_from_db()
    done.refresh_from_db()
    lost.refresh_from_db()
    disabled.refresh_from_db()
    assert (running.state, running.agent) == (WorkState.QUEUED, None)
    assert done.agent == lost
    assert lost.state == AgentState.OFFLINE
    assert disabled.state == AgentState.DISABLED
    job.refresh_from_db()
    assert job.state == WorkState.RUNNING
