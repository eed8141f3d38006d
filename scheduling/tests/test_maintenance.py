"""Tests of the periodic maintenance: services and their Celery tasks."""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import UserFactory
from farm.choices import AgentState, WorkState
from farm.models import (
    AgentCount,
    Job,
    JobNotifiedUser,
    JobTagRequirement,
    Tag,
    Task,
    TaskCount,
    TaskLog,
    TaskTaskLogAssociation,
)
from farm.services.logs import open_logfile
from farm.tests.factories import (
    AgentFactory,
    JobFactory,
    JobQueueFactory,
    TagFactory,
    TaskFactory,
    TaskLogFactory,
    TaskTaskLogAssociationFactory,
)
from scheduling import maintenance
from scheduling.tasks import maintenance as tasks
from scheduling.tests.fake_agent import FakeAgent
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db

LOG_CONTENT = b"2026-11-29 07:00:57,1,INFO,rendering frame 1\n" * 50


@pytest.fixture
def logs_dir(tmp_path: Path, farm_config: Any) -> Path:
    """``tasklogs_dir`` below pytest's tmp_path, created."""
    directory = tmp_path / "task_logs"
    directory.mkdir()
    farm_config(tasklogs_dir=str(directory))
    return directory


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A precious file outside ``tasklogs_dir``."""
    path = tmp_path / "precious.csv"
    path.write_bytes(b"precious\n")
    return path


def _age(path: Path, age: timedelta) -> None:
    """Set the modification time of ``path`` to ``age`` ago."""
    moment = (timezone.now() - age).timestamp()
    os.utime(path, (moment, moment), follow_symlinks=False)


def _flagged_job(*, tasks: int = 3, **fields: Any) -> Job:
    """A job flagged for deletion with tasks that share one log file."""
    job = JobFactory.create(to_be_deleted=True, **fields)
    log = TaskLogFactory.create()
    for index in range(tasks):
        task = TaskFactory.create(job=job, frame=index + 1, failed=True)
        assert log.agent is not None
        task.failed_in_agents.add(log.agent)
        TaskTaskLogAssociationFactory.create(task=task, log=log, state=WorkState.FAILED)
    return job


def _log_of(job: Job) -> TaskLog:
    return TaskLog.objects.filter(task_associations__task__job=job).distinct().get()


# --- delete_jobs --------------------------------------------------------------


def test_it_deletes_flagged_jobs_with_their_tasks_and_dependent_rows(
    logs_dir: Path, django_capture_on_commit_callbacks: Any
) -> None:
    job = _flagged_job()
    tag = TagFactory.create()
    job.tags.add(tag)
    JobTagRequirement.objects.create(job=job, tag=tag)
    JobNotifiedUser.objects.create(job=job, user=UserFactory.create())
    with django_capture_on_commit_callbacks(execute=True):
        assert maintenance.delete_jobs() == 1
    assert not Job.objects.exists()
    assert not Task.objects.exists()
    assert not TaskTaskLogAssociation.objects.exists()
    assert not TaskLog.objects.exists()
    assert not Task.failed_in_agents.through.objects.exists()
    assert not JobTagRequirement.objects.exists()
    assert not JobNotifiedUser.objects.exists()
    assert not Job.tags.through.objects.exists()
    assert Tag.objects.filter(pk=tag.pk).exists()


def test_it_leaves_jobs_that_are_not_flagged_alone(logs_dir: Path) -> None:
    kept = _flagged_job()
    Job.objects.filter(pk=kept.pk).update(to_be_deleted=False)
    _flagged_job()
    assert maintenance.delete_jobs() == 1
    assert list(Job.objects.all()) == [kept]
    assert Task.objects.filter(job=kept).count() == 3
    assert TaskTaskLogAssociation.objects.filter(task__job=kept).count() == 3
    assert Task.failed_in_agents.through.objects.count() == 3


def test_it_deletes_running_tasks_too(logs_dir: Path) -> None:
    job = JobFactory.create(to_be_deleted=True, state=WorkState.RUNNING)
    TaskFactory.create(job=job, running=True)
    assert maintenance.delete_jobs() == 1
    assert not Task.objects.exists()


def test_a_child_no_longer_waits_for_a_deleted_parent(logs_dir: Path) -> None:
    parent = _flagged_job()
    child = JobFactory.create()
    child.parents.add(parent)
    maintenance.delete_jobs()
    assert list(child.parent_ids()) == []
    assert Job.objects.filter(pk=child.pk).exists()


def test_it_removes_the_files_of_logs_only_the_deleted_jobs_used(
    logs_dir: Path, django_capture_on_commit_callbacks: Any
) -> None:
    job = _flagged_job()
    log = _log_of(job)
    (logs_dir / log.identifier).write_bytes(LOG_CONTENT)
    (logs_dir / f"{log.identifier}.gz").write_bytes(gzip.compress(LOG_CONTENT))
    with django_capture_on_commit_callbacks(execute=True):
        maintenance.delete_jobs()
    assert list(logs_dir.iterdir()) == []


def test_it_keeps_a_log_another_job_still_uses(
    logs_dir: Path, django_capture_on_commit_callbacks: Any
) -> None:
    job = _flagged_job()
    log = _log_of(job)
    other_task = TaskFactory.create(done=True)
    TaskTaskLogAssociationFactory.create(task=other_task, log=log)
    (logs_dir / log.identifier).write_bytes(LOG_CONTENT)
    with django_capture_on_commit_callbacks(execute=True):
        maintenance.delete_jobs()
    assert list(TaskLog.objects.all()) == [log]
    assert TaskTaskLogAssociation.objects.get().task == other_task
    assert (logs_dir / log.identifier).read_bytes() == LOG_CONTENT


def test_the_files_are_only_removed_after_the_commit(
    logs_dir: Path, django_capture_on_commit_callbacks: Any
) -> None:
    job = _flagged_job()
    log = _log_of(job)
    (logs_dir / log.identifier).write_bytes(LOG_CONTENT)
    with django_capture_on_commit_callbacks() as callbacks:
        maintenance.delete_jobs()
    assert (logs_dir / log.identifier).exists()
    assert callbacks  # the removal, and the deleted tasks' event count
    for callback in callbacks:
        callback()
    assert not (logs_dir / log.identifier).exists()


def test_deleting_never_follows_a_link_named_like_a_log(
    logs_dir: Path, outside: Path, django_capture_on_commit_callbacks: Any
) -> None:
    job = _flagged_job()
    log = _log_of(job)
    (logs_dir / log.identifier).symlink_to(outside)
    with django_capture_on_commit_callbacks(execute=True):
        maintenance.delete_jobs()
    assert outside.read_bytes() == b"precious\n"
    assert (logs_dir / log.identifier).is_symlink()


def test_a_second_run_deletes_nothing(logs_dir: Path) -> None:
    _flagged_job()
    assert maintenance.delete_jobs() == 1
    assert maintenance.delete_jobs() == 0


def test_a_backlog_is_deleted_in_several_transactions(
    logs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maintenance, "JOBS_PER_DELETION", 2)
    for _ in range(5):
        _flagged_job(tasks=1)
    assert maintenance.delete_jobs() == 5
    assert not Job.objects.exists()


def test_every_table_pointing_at_tasks_is_cleared_before_the_raw_delete() -> None:
    """`delete_jobs` deletes tasks without the ORM's cascade: a new relation
    to Task must be added to it (this test then needs updating)."""
    related = {rel.related_model for rel in Task._meta.related_objects}
    assert related == {TaskTaskLogAssociation}
    assert [field.name for field in Task._meta.many_to_many] == ["failed_in_agents"]


def _queries_to_delete(count: int) -> int:
    for _ in range(count):
        _flagged_job(tasks=5)
    with CaptureQueriesContext(connection) as context:
        assert maintenance.delete_jobs() == count
    return len(context.captured_queries)


def test_deleting_costs_the_same_queries_for_2_or_20_jobs(logs_dir: Path) -> None:
    assert _queries_to_delete(2) == _queries_to_delete(20)


def test_deleting_costs_a_fixed_number_of_queries(
    logs_dir: Path, django_assert_num_queries: Any
) -> None:
    for _ in range(3):
        _flagged_job(tasks=4)
    # Select the flagged jobs and the tasks to stop on agents (none here),
    # then the savepoint pair, select ids, select logs, the users to tell of
    # the deletion (none: no job rows to render), the tasks per queue (task
    # events), 3 bulk deletes (associations, failed-on rows, tasks), 1 log
    # delete, then the cascade over the jobs: select jobs, select (no) tasks,
    # 5 fast deletes (dependencies, tags, tag and software requirements,
    # notified users) and the jobs.
    with django_assert_num_queries(20):
        maintenance.delete_jobs()


def test_deleting_stops_the_tasks_agents_run_before_the_rows_go(
    logs_dir: Path, fake_agent: FakeAgent, make_agent: Callable[..., Any]
) -> None:
    agent = make_agent(state=AgentState.RUNNING)
    job = JobFactory.create(to_be_deleted=True)
    running = TaskFactory.create(job=job, agent=agent, state=WorkState.RUNNING)
    sent = TaskFactory.create(
        job=job, agent=agent, state=WorkState.QUEUED, sent_to_agent=True
    )
    TaskFactory.create(job=job, agent=agent, state=WorkState.QUEUED)  # not sent
    TaskFactory.create(job=job, agent=agent, state=WorkState.DONE)
    fake_agent.answer(202, b"", "text/html")
    rows_while_stopping: list[int] = []
    stop = maintenance.stop_tasks_on_agents

    def stop_and_count(stops: dict[str, list[int]]) -> Any:
        rows_while_stopping.append(Task.objects.count())
        return stop(stops)

    with mock.patch.object(maintenance, "stop_tasks_on_agents", stop_and_count):
        assert maintenance.delete_jobs() == 1
    assert rows_while_stopping == [4]
    assert sorted(r.path for r in fake_agent.requests("DELETE")) == sorted(
        f"/api/v1/tasks/{pk}" for pk in (running.pk, sent.pk)
    )
    assert not Task.objects.exists()


def test_a_job_is_deleted_even_when_its_agent_cannot_be_reached(
    logs_dir: Path, caplog: Any
) -> None:
    agent = AgentFactory.create(
        state=AgentState.RUNNING, remote_ip="127.0.0.1", port=free_port()
    )
    job = JobFactory.create(to_be_deleted=True)
    task = TaskFactory.create(job=job, agent=agent, state=WorkState.RUNNING)
    assert maintenance.delete_jobs() == 1
    assert not Job.objects.exists()
    assert f"could not stop task {task.pk}" in caplog.text


def test_a_job_is_deleted_even_when_its_agent_answers_an_error(
    logs_dir: Path, fake_agent: FakeAgent, make_agent: Callable[..., Any], caplog: Any
) -> None:
    agent = make_agent(state=AgentState.RUNNING)
    job = JobFactory.create(to_be_deleted=True)
    task = TaskFactory.create(job=job, agent=agent, state=WorkState.RUNNING)
    fake_agent.answer(500, {"error": "no jobtype instance"})
    assert maintenance.delete_jobs() == 1
    assert not Job.objects.exists()
    assert f"stopping task {task.pk} answered 500" in caplog.text


def test_stopping_before_deletion_costs_two_queries_per_agent_batch(
    logs_dir: Path,
    fake_agent: FakeAgent,
    make_agent: Callable[..., Any],
    django_assert_num_queries: Any,
) -> None:
    agents = [make_agent(state=AgentState.RUNNING) for _ in range(3)]
    for _ in range(4):
        job = JobFactory.create(to_be_deleted=True)
        for agent in agents:
            TaskFactory.create(job=job, agent=agent, state=WorkState.RUNNING)
    fake_agent.answer(202, b"", "text/html")
    # The 19 statements of a deletion without logs (see above: the tasks to
    # stop are selected once, the users to tell of the deletion once, the
    # tasks per queue once) and one agent lookup per agent contacted, whatever
    # the number of jobs and tasks.
    with django_assert_num_queries(19 + 3):
        assert maintenance.delete_jobs() == 4
    assert len(fake_agent.requests("DELETE")) == 12


# --- autodelete_old_jobs ------------------------------------------------------


def _finished_job(**fields: Any) -> Job:
    fields.setdefault("state", WorkState.DONE)
    return JobFactory.create(time_finished=timezone.now(), **fields)


def test_it_flags_a_job_once_its_autodelete_time_passed(
    time_machine: Any,
) -> None:
    time_machine.move_to(timezone.now(), tick=False)
    job = _finished_job(autodelete_time=3600)
    time_machine.shift(timedelta(seconds=3599))
    assert maintenance.autodelete_old_jobs() == 0
    time_machine.shift(timedelta(seconds=1))
    assert maintenance.autodelete_old_jobs() == 1
    job.refresh_from_db()
    assert job.to_be_deleted


def test_failed_jobs_are_never_flagged(time_machine: Any, farm_config: Any) -> None:
    farm_config(default_job_delete_time=60)
    kept = [
        _finished_job(state=WorkState.FAILED, autodelete_time=60),
        _finished_job(state=WorkState.FAILED, autodelete_time=None),
    ]
    done = _finished_job(autodelete_time=60)
    time_machine.move_to(timezone.now() + timedelta(days=30))
    assert maintenance.autodelete_old_jobs() == 1
    assert list(Job.objects.filter(to_be_deleted=True)) == [done]
    assert not Job.objects.filter(pk__in=[j.pk for j in kept], to_be_deleted=True)


@pytest.mark.parametrize(
    "state", [WorkState.QUEUED, WorkState.RUNNING, WorkState.PAUSED]
)
def test_unfinished_jobs_are_never_flagged(time_machine: Any, state: str) -> None:
    _finished_job(state=state, autodelete_time=60)
    time_machine.move_to(timezone.now() + timedelta(days=2))
    assert maintenance.autodelete_old_jobs() == 0


def test_jobs_without_autodelete_time_use_the_default(
    time_machine: Any, farm_config: Any
) -> None:
    farm_config(default_job_delete_time=600)
    job = _finished_job(autodelete_time=None)
    own = _finished_job(autodelete_time=6000)
    time_machine.move_to(timezone.now() + timedelta(seconds=700))
    assert maintenance.autodelete_old_jobs() == 1
    assert list(Job.objects.filter(to_be_deleted=True)) == [job]
    own.refresh_from_db()
    assert not own.to_be_deleted


def test_jobs_without_autodelete_time_are_kept_without_a_default(
    time_machine: Any, farm_config: Any
) -> None:
    farm_config(default_job_delete_time=None)
    _finished_job(autodelete_time=None)
    time_machine.move_to(timezone.now() + timedelta(days=365))
    assert maintenance.autodelete_old_jobs() == 0


def test_flagging_is_one_update(
    time_machine: Any, django_assert_num_queries: Any
) -> None:
    for _ in range(5):
        _finished_job(autodelete_time=1)
    time_machine.move_to(timezone.now() + timedelta(seconds=5))
    with django_assert_num_queries(1):
        assert maintenance.autodelete_old_jobs() == 5
    with django_assert_num_queries(1):
        assert maintenance.autodelete_old_jobs() == 0


# --- cleanup_orphaned_logs ----------------------------------------------------


def _old_file(directory: Path, name: str, content: bytes = LOG_CONTENT) -> Path:
    path = directory / name
    path.write_bytes(content)
    _age(path, timedelta(hours=2))
    return path


def test_it_removes_old_files_no_log_names(logs_dir: Path) -> None:
    _old_file(logs_dir, "gone.csv")
    _old_file(logs_dir, "gone.csv.gz")
    assert maintenance.cleanup_orphaned_logs() == {"logs": 0, "files": 2}
    assert list(logs_dir.iterdir()) == []


def test_it_keeps_the_files_of_known_logs(logs_dir: Path) -> None:
    log = TaskLogFactory.create()
    named = TaskLogFactory.create(identifier="literally.gz")
    keep = {
        _old_file(logs_dir, log.identifier),
        _old_file(logs_dir, f"{log.identifier}.gz"),
        _old_file(logs_dir, named.identifier),
    }
    assert maintenance.cleanup_orphaned_logs() == {"logs": 0, "files": 0}
    assert set(logs_dir.iterdir()) == keep


def test_it_keeps_recent_orphans_for_the_grace_period(logs_dir: Path) -> None:
    path = logs_dir / "uploading.csv"
    path.write_bytes(LOG_CONTENT)
    _age(path, timedelta(minutes=59))
    assert maintenance.cleanup_orphaned_logs() == {"logs": 0, "files": 0}
    assert path.exists()


def test_it_ignores_hidden_temporary_files(logs_dir: Path) -> None:
    path = _old_file(logs_dir, ".upload-abc123")
    assert maintenance.cleanup_orphaned_logs() == {"logs": 0, "files": 0}
    assert path.exists()


def test_cleanup_never_touches_links_directories_or_outside_files(
    logs_dir: Path, outside: Path
) -> None:
    link = logs_dir / "link.csv"
    link.symlink_to(outside)
    _age(link, timedelta(hours=2))
    _age(outside, timedelta(hours=2))
    sub = logs_dir / "sub"
    sub.mkdir()
    _old_file(sub, "nested.csv")
    _age(sub, timedelta(hours=2))
    assert maintenance.cleanup_orphaned_logs() == {"logs": 0, "files": 0}
    assert link.is_symlink()
    assert outside.read_bytes() == b"precious\n"
    assert (sub / "nested.csv").exists()


def test_cleanup_copes_with_a_missing_directory(
    tmp_path: Path, farm_config: Any
) -> None:
    farm_config(tasklogs_dir=str(tmp_path / "nowhere"))
    assert maintenance.cleanup_orphaned_logs() == {"logs": 0, "files": 0}


def test_cleanup_costs_one_query_per_chunk_of_files(
    logs_dir: Path, django_assert_num_queries: Any
) -> None:
    for index in range(30):
        _old_file(logs_dir, f"orphan{index}.csv")
    # The DELETE of orphaned log rows, then one query for the 30 files.
    with django_assert_num_queries(2):
        assert maintenance.cleanup_orphaned_logs() == {"logs": 0, "files": 30}


def test_it_removes_log_rows_no_task_uses_and_then_their_files(
    logs_dir: Path,
) -> None:
    old = timezone.now() - timedelta(hours=2)
    orphan = TaskLogFactory.create(created_on=old)
    used = TaskLogFactory.create(created_on=old)
    TaskTaskLogAssociationFactory.create(log=used)
    _old_file(logs_dir, orphan.identifier)
    kept = _old_file(logs_dir, used.identifier)
    assert maintenance.cleanup_orphaned_logs() == {"logs": 1, "files": 1}
    assert list(TaskLog.objects.all()) == [used]
    assert list(logs_dir.iterdir()) == [kept]


def test_it_keeps_recent_log_rows_without_tasks(logs_dir: Path) -> None:
    log = TaskLogFactory.create(created_on=timezone.now() - timedelta(minutes=59))
    assert maintenance.cleanup_orphaned_logs() == {"logs": 0, "files": 0}
    assert TaskLog.objects.filter(pk=log.pk).exists()


def test_removing_orphaned_log_rows_is_one_statement(
    logs_dir: Path, django_assert_num_queries: Any
) -> None:
    old = timezone.now() - timedelta(hours=2)
    TaskLogFactory.create_batch(25, created_on=old)
    with django_assert_num_queries(1):
        assert maintenance.cleanup_orphaned_logs() == {"logs": 25, "files": 0}


# --- compress_logs ------------------------------------------------------------


def _ended_log(logs_dir: Path, *, states: tuple[str | None, ...] = ("done",)) -> str:
    """An hour-old log with one association per state, and its file."""
    log = TaskLogFactory.create(created_on=timezone.now() - timedelta(hours=2))
    job = JobFactory.create()
    for index, state in enumerate(states):
        task = TaskFactory.create(job=job, frame=index + 1)
        TaskTaskLogAssociationFactory.create(task=task, log=log, state=state)
    (logs_dir / log.identifier).write_bytes(LOG_CONTENT)
    return log.identifier


def test_it_gzips_the_logs_of_ended_attempts(logs_dir: Path) -> None:
    identifier = _ended_log(logs_dir, states=("done", "failed"))
    assert maintenance.compress_logs() == 1
    assert [path.name for path in logs_dir.iterdir()] == [f"{identifier}.gz"]
    assert gzip.decompress((logs_dir / f"{identifier}.gz").read_bytes()) == (
        LOG_CONTENT
    )
    chunks = open_logfile(identifier)
    assert chunks is not None
    assert b"".join(chunks) == LOG_CONTENT


@pytest.mark.parametrize("state", [None, "queued", "running"])
def test_it_keeps_logs_of_open_attempts_plain(logs_dir: Path, state: str) -> None:
    identifier = _ended_log(logs_dir, states=("done", state))
    assert maintenance.compress_logs() == 0
    assert (logs_dir / identifier).read_bytes() == LOG_CONTENT


def test_it_keeps_recent_logs_plain(logs_dir: Path) -> None:
    identifier = _ended_log(logs_dir)
    TaskLog.objects.filter(identifier=identifier).update(
        created_on=timezone.now() - timedelta(minutes=59)
    )
    assert maintenance.compress_logs() == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert maintenance.compress_logs() == 1


def test_it_leaves_files_without_log_and_hidden_files_alone(logs_dir: Path) -> None:
    orphan = _old_file(logs_dir, "orphan.csv")
    hidden = _old_file(logs_dir, ".upload-123")
    assert maintenance.compress_logs() == 0
    assert orphan.read_bytes() == hidden.read_bytes() == LOG_CONTENT


def test_compression_never_follows_a_link_named_like_a_log(
    logs_dir: Path, outside: Path
) -> None:
    identifier = _ended_log(logs_dir)
    (logs_dir / identifier).unlink()
    (logs_dir / identifier).symlink_to(outside)
    assert maintenance.compress_logs() == 0
    assert (logs_dir / identifier).is_symlink()
    assert outside.read_bytes() == b"precious\n"
    assert not (logs_dir / f"{identifier}.gz").exists()


def test_a_link_swapped_in_after_the_listing_is_not_read_through(
    logs_dir: Path, outside: Path
) -> None:
    identifier = _ended_log(logs_dir)
    (logs_dir / identifier).unlink()
    (logs_dir / identifier).symlink_to(outside)
    assert not maintenance._gzip_file(logs_dir, identifier)
    assert [path.name for path in logs_dir.iterdir()] == [identifier]
    assert outside.read_bytes() == b"precious\n"


def test_a_second_compression_run_does_nothing(logs_dir: Path) -> None:
    _ended_log(logs_dir)
    assert maintenance.compress_logs() == 1
    assert maintenance.compress_logs() == 0


def test_an_upload_during_compression_is_kept(
    logs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    identifier = _ended_log(logs_dir)
    copy = shutil.copyfileobj

    def copy_then_upload(source: Any, target: Any) -> None:
        copy(source, target)
        upload = logs_dir / ".upload-new"
        upload.write_bytes(b"newer upload\n")
        upload.replace(logs_dir / identifier)

    monkeypatch.setattr(shutil, "copyfileobj", copy_then_upload)
    assert maintenance.compress_logs() == 0
    assert (logs_dir / identifier).read_bytes() == b"newer upload\n"
    assert sorted(path.name for path in logs_dir.iterdir()) == sorted(
        [identifier, f"{identifier}.gz"]
    )
    monkeypatch.setattr(shutil, "copyfileobj", copy)
    assert maintenance.compress_logs() == 1
    assert gzip.decompress((logs_dir / f"{identifier}.gz").read_bytes()) == (
        b"newer upload\n"
    )


def test_a_failed_compression_leaves_the_log_and_goes_on_with_the_next(
    logs_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    first = _ended_log(logs_dir)
    second = _ended_log(logs_dir)
    copy = shutil.copyfileobj

    def full_disk_once(source: Any, target: Any) -> None:
        monkeypatch.setattr(shutil, "copyfileobj", copy)
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copyfileobj", full_disk_once)
    assert maintenance.compress_logs() == 1
    names = {path.name for path in logs_dir.iterdir()}
    assert names in ({first, f"{second}.gz"}, {f"{first}.gz", second})
    assert "disk full" in caplog.text


# --- statistics ---------------------------------------------------------------


def test_it_counts_agents_per_state(django_assert_num_queries: Any) -> None:
    for state, count in (
        (AgentState.ONLINE, 2),
        (AgentState.RUNNING, 3),
        (AgentState.OFFLINE, 1),
    ):
        AgentFactory.create_batch(count, state=state)
    with django_assert_num_queries(2):
        sample = maintenance.count_agents()
    sample.refresh_from_db()
    assert (
        sample.num_online,
        sample.num_running,
        sample.num_offline,
        sample.num_disabled,
    ) == (2, 3, 1, 0)


def _farm(jobs: int) -> dict[int | None, tuple[int, ...]]:
    """Jobs in two queues and without one; the expected totals per queue."""
    queues = [JobQueueFactory.create(), JobQueueFactory.create()]
    expected: dict[int | None, list[int]] = {}
    for index in range(jobs):
        queue = queues[index % 3] if index % 3 < 2 else None
        job = JobFactory.create(queue=queue)
        TaskFactory.create(job=job)
        TaskFactory.create(job=job, running=True)
        TaskFactory.create(job=job, done=True)
        TaskFactory.create(job=job, done=True)
        TaskFactory.create(job=job, failed=True)
        totals = expected.setdefault(queue.pk if queue else None, [0, 0, 0, 0])
        for position, amount in enumerate((1, 1, 2, 1)):
            totals[position] += amount
    return {queue_id: tuple(totals) for queue_id, totals in expected.items()}


def _samples() -> dict[int | None, tuple[int, ...]]:
    return {
        row.job_queue_id: (
            row.total_queued,
            row.total_running,
            row.total_done,
            row.total_failed,
        )
        for row in TaskCount.objects.all()
    }


def test_it_counts_tasks_per_queue_and_state() -> None:
    expected = _farm(6)
    flagged = JobFactory.create(queue=None, to_be_deleted=True)
    TaskFactory.create(job=flagged)
    rows = maintenance.count_tasks()
    assert len(rows) == 3
    assert _samples() == expected
    assert len({row.counted_time for row in TaskCount.objects.all()}) == 1


def test_an_empty_farm_still_leaves_one_sample() -> None:
    maintenance.count_tasks()
    assert _samples() == {None: (0, 0, 0, 0)}


@pytest.mark.parametrize("jobs", [2, 20])
def test_counting_tasks_costs_two_queries(
    jobs: int, django_assert_num_queries: Any
) -> None:
    _farm(jobs)
    with django_assert_num_queries(2):
        maintenance.count_tasks()


# --- the Celery tasks ---------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "name"),
    [
        (tasks.delete_jobs, "scheduling.delete_jobs"),
        (tasks.autodelete_old_jobs, "scheduling.autodelete_old_jobs"),
        (tasks.cleanup_orphaned_logs, "scheduling.cleanup_orphaned_logs"),
        (tasks.compress_logs, "scheduling.compress_logs"),
        (tasks.count_agents, "scheduling.count_agents"),
        (tasks.count_tasks, "scheduling.count_tasks"),
    ],
)
def test_the_tasks_have_their_registered_names(task: Any, name: str) -> None:
    from pyfarm_site.celery import app

    assert task.name == name
    assert app.tasks[name] == task


def test_the_deletion_task_runs_directly_and_through_celery(logs_dir: Path) -> None:
    _flagged_job()
    assert tasks.delete_jobs() == 1
    _flagged_job()
    assert tasks.delete_jobs.apply().get() == 1


def test_the_autodelete_task_runs_directly_and_through_celery(
    time_machine: Any,
) -> None:
    _finished_job(autodelete_time=1)
    time_machine.move_to(timezone.now() + timedelta(seconds=5))
    assert tasks.autodelete_old_jobs.run() == 1
    _finished_job(autodelete_time=1)
    time_machine.move_to(timezone.now() + timedelta(seconds=5))
    assert tasks.autodelete_old_jobs.apply().get() == 1


def test_the_log_tasks_run_directly_and_through_celery(logs_dir: Path) -> None:
    _old_file(logs_dir, "orphan.csv")
    _ended_log(logs_dir)
    assert tasks.compress_logs() == 1
    assert tasks.cleanup_orphaned_logs() == {"logs": 0, "files": 1}
    _old_file(logs_dir, "orphan.csv")
    _ended_log(logs_dir)
    assert tasks.compress_logs.apply().get() == 1
    assert tasks.cleanup_orphaned_logs.apply().get() == {"logs": 0, "files": 1}


def test_the_statistics_tasks_run_directly_and_through_celery() -> None:
    AgentFactory.create()
    sample_id = tasks.count_agents()
    assert AgentCount.objects.get(pk=sample_id).num_online == 1
    assert tasks.count_tasks() == 1
    assert tasks.count_agents.apply().get() != sample_id
    assert tasks.count_tasks.apply().get() == 1
    assert AgentCount.objects.count() == 2
    assert TaskCount.objects.count() == 2


def test_the_statistics_tasks_do_nothing_when_statistics_are_off(
    farm_config: Any,
) -> None:
    farm_config(enable_statistics=False)
    assert tasks.count_agents() is None
    assert tasks.count_tasks.apply().get() is None
    assert not AgentCount.objects.exists()
    assert not TaskCount.objects.exists()
