"""The scheduler tick: snapshot loading, applying a plan, races between ticks."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.db import connection

from farm.choices import AgentState, WorkState
from farm.models import (
    Agent,
    Job,
    JobSoftwareRequirement,
    JobTypeSoftwareRequirement,
    Task,
)
from farm.services import create_job
from farm.tests.factories import (
    AgentFactory,
    JobQueueFactory,
    JobTypeVersionFactory,
    SoftwareFactory,
    SoftwareVersionFactory,
    TagFactory,
)
from scheduling import claiming
from scheduling import tick as ticking
from scheduling.algorithm import (
    Assignment,
    JobSnapshot,
    Plan,
    Snapshot,
    SoftwareRequirement,
)
from scheduling.claiming import apply_plan
from scheduling.snapshot import load_snapshot
from scheduling.tick import run_tick

pytestmark = pytest.mark.django_db

# Queries of load_snapshot: queues, busy agents, agents, agent tags, agent
# software, jobs, job tags, job software, job type software, failed-on, tasks.
SNAPSHOT_QUERIES = 11
# Queries of apply_plan per chunk of assignments, in a test's transaction:
# savepoint, agent lock, claim, release (BEGIN and COMMIT otherwise).
APPLY_QUERIES = 4


def make_job(title: str = "job", frames: int = 3, **fields: Any) -> Job:
    """A job with one queued task per frame 1..frames."""
    version = fields.pop("jobtype_version", None) or JobTypeVersionFactory.create()
    return create_job(
        jobtype_version=version, title=title, start=1, end=frames, **fields
    )


def job_snapshot(snapshot: Snapshot, job: Job) -> JobSnapshot:
    """The snapshot of one job (fails if it is not in the snapshot)."""
    (found,) = [entry for entry in snapshot.jobs if entry.id == job.pk]
    return found


def give(
    agent: Agent, job: Job, *, state: str = WorkState.QUEUED, count: int = 1
) -> None:
    """Assign ``count`` of the job's unassigned queued visible tasks to the agent."""
    ids = list(
        Task.objects.filter(
            job=job, agent__isnull=True, state=WorkState.QUEUED, hidden=False
        )
        .order_by("frame")
        .values_list("pk", flat=True)[:count]
    )
    Task.objects.filter(pk__in=ids).update(agent=agent, state=state)


@pytest.fixture
def delay() -> Any:
    """``send_assignments.delay`` as the claiming module calls it, mocked."""
    with mock.patch.object(claiming.send_assignments, "delay") as patched:
        yield patched


# --- the snapshot: agents ---------------------------------------------------------


def test_snapshot_lists_only_available_agents_without_open_tasks() -> None:
    job = make_job(frames=5)
    idle = AgentFactory.create()
    idle_running = AgentFactory.create(running=True)
    with_queued = AgentFactory.create()
    with_running = AgentFactory.create(running=True)
    AgentFactory.create(offline=True)
    AgentFactory.create(disabled=True)
    done_before = AgentFactory.create()
    give(with_queued, job)
    give(with_running, job, state=WorkState.RUNNING)
    give(done_before, job, state=WorkState.DONE)

    snapshot = load_snapshot()

    assert {agent.id for agent in snapshot.agents} == {
        str(idle.pk),
        str(idle_running.pk),
        str(done_before.pk),
    }
    assert all(agent.idle for agent in snapshot.agents)


def test_snapshot_applies_the_allocation_factors_to_cpus_and_ram() -> None:
    agent = AgentFactory.create(
        cpus=8, ram=16000, free_ram=12000, cpu_allocation=0.5, ram_allocation=0.5
    )
    short = AgentFactory.create(
        cpus=4, ram=16000, free_ram=3000, cpu_allocation=1.0, ram_allocation=0.8
    )

    agents = {entry.id: entry for entry in load_snapshot().agents}

    assert agents[str(agent.pk)].free_cpus == 4
    assert agents[str(agent.pk)].free_ram == 8000  # the allocation caps it
    assert agents[str(agent.pk)].total_ram == 16000
    assert agents[str(short.pk)].free_cpus == 4
    assert agents[str(short.pk)].free_ram == 3000  # the reported free RAM caps it


def test_snapshot_uses_total_ram_when_configured(
    farm_config: Callable[..., None],
) -> None:
    farm_config(use_total_ram_for_scheduling=True)
    agent = AgentFactory.create(ram=16000, free_ram=3000, ram_allocation=0.8)

    (entry,) = load_snapshot().agents

    assert entry.id == str(agent.pk)
    assert entry.free_ram == 12800


def test_snapshot_gives_agents_their_tags_and_software_ranks() -> None:
    blender = SoftwareFactory.create(software="blender")
    old = SoftwareVersionFactory.create(software=blender, version="2.79", rank=10)
    new = SoftwareVersionFactory.create(software=blender, version="4.2", rank=20)
    agent = AgentFactory.create()
    agent.tags.set([TagFactory.create(tag="gpu"), TagFactory.create(tag="linux")])
    agent.software_versions.set([old, new])
    bare = AgentFactory.create()

    agents = {entry.id: entry for entry in load_snapshot().agents}

    assert agents[str(agent.pk)].tags == {"gpu", "linux"}
    assert agents[str(agent.pk)].software == {("blender", 10), ("blender", 20)}
    assert agents[str(bare.pk)].tags == frozenset()
    assert agents[str(bare.pk)].software == frozenset()


# --- the snapshot: jobs and tasks -------------------------------------------------


def test_snapshot_leaves_out_paused_hidden_deleted_and_finished_jobs() -> None:
    runnable = make_job("runnable")
    running = make_job("running")
    Job.objects.filter(pk=running.pk).update(state=WorkState.RUNNING)
    for title, changes in (
        ("paused", {"state": WorkState.PAUSED}),
        ("hidden", {"hidden": True}),
        ("deleted", {"to_be_deleted": True}),
        ("done", {"state": WorkState.DONE}),
        ("failed", {"state": WorkState.FAILED}),
    ):
        job = make_job(title)
        Job.objects.filter(pk=job.pk).update(**changes)

    snapshot = load_snapshot()

    assert {job.id for job in snapshot.jobs} == {runnable.pk, running.pk}
    assert job_snapshot(snapshot, running).state == WorkState.RUNNING


def test_snapshot_flags_jobs_whose_parents_are_not_done() -> None:
    done_parent = make_job("done parent")
    Job.objects.filter(pk=done_parent.pk).update(state=WorkState.DONE)
    open_parent = make_job("open parent")
    ready = make_job("ready", parents=[done_parent])
    blocked = make_job("blocked", parents=[done_parent, open_parent])

    snapshot = load_snapshot()

    assert job_snapshot(snapshot, ready).parents_done is True
    assert len(job_snapshot(snapshot, ready).tasks) == 3
    assert job_snapshot(snapshot, blocked).parents_done is False
    # A blocked job gets nothing, so its tasks are not even loaded.
    assert job_snapshot(snapshot, blocked).tasks == ()
    assert job_snapshot(snapshot, open_parent).parents_done is True


def test_snapshot_lists_queued_unassigned_visible_tasks_with_failed_on_agents() -> None:
    job = make_job(frames=5)
    agent = AgentFactory.create()
    other = AgentFactory.create()
    tasks = list(job.tasks.order_by("frame"))
    Task.objects.filter(pk=tasks[0].pk).update(state=WorkState.DONE)
    Task.objects.filter(pk=tasks[1].pk).update(hidden=True)
    give(AgentFactory.create(), job)  # frame 1 is done: takes frame 3
    tasks[3].failed_in_agents.set([agent, other])
    tasks[4].failed_in_agents.set([agent])

    entry = job_snapshot(load_snapshot(), job)

    by_frame = {task.frame: task for task in entry.tasks}
    assert set(by_frame) == {Decimal(4), Decimal(5)}
    assert by_frame[Decimal(4)].failed_on == {str(agent.pk), str(other.pk)}
    assert by_frame[Decimal(5)].failed_on == {str(agent.pk)}
    assert by_frame[Decimal(4)].id == tasks[3].pk


def test_snapshot_carries_the_batch_and_resource_fields() -> None:
    version = JobTypeVersionFactory.create(max_batch=4, batch_contiguous=True)
    queue = JobQueueFactory.create()
    job = make_job(
        jobtype_version=version,
        queue=queue,
        batch=6,
        by=Decimal(2),
        priority=5,
        weight=3,
        minimum_agents=1,
        maximum_agents=7,
        cpus=2,
        ram=512,
    )

    entry = job_snapshot(load_snapshot(), job)

    assert (entry.batch, entry.max_batch, entry.batch_contiguous) == (6, 4, True)
    assert entry.by == Decimal(2)
    assert (entry.priority, entry.weight) == (5, 3)
    assert (entry.minimum_agents, entry.maximum_agents) == (1, 7)
    assert (entry.cpus, entry.ram) == (2, 512)
    assert entry.queue_id == queue.pk
    assert entry.state == WorkState.QUEUED
    assert entry.time_submitted == job.time_submitted.timestamp()


def test_snapshot_splits_tag_requirements_into_required_and_forbidden() -> None:
    gpu, windows = TagFactory.create(tag="gpu"), TagFactory.create(tag="windows")
    job = make_job(tag_requirements=[(gpu, False), (windows, True)])

    entry = job_snapshot(load_snapshot(), job)

    assert entry.required_tags == {"gpu"}
    assert entry.forbidden_tags == {"windows"}


def test_snapshot_merges_jobtype_and_job_software_requirements() -> None:
    maya, nuke, houdini = (
        SoftwareFactory.create(software=name) for name in ("maya", "nuke", "houdini")
    )
    maya_versions = [
        SoftwareVersionFactory.create(software=maya, version=str(year), rank=year)
        for year in (2022, 2023, 2024, 2025)
    ]
    nuke_15 = SoftwareVersionFactory.create(software=nuke, version="15", rank=15)
    version = JobTypeVersionFactory.create()
    JobTypeSoftwareRequirement.objects.create(
        jobtype_version=version,
        software=maya,
        min_version=maya_versions[0],
        max_version=maya_versions[2],
    )
    JobTypeSoftwareRequirement.objects.create(jobtype_version=version, software=houdini)
    job = make_job(
        jobtype_version=version,
        software_requirements=[
            JobSoftwareRequirement(software=maya, min_version=maya_versions[1]),
            JobSoftwareRequirement(software=nuke, max_version=nuke_15),
        ],
    )
    # Another job of the same version has only the version's requirements.
    sibling = make_job(jobtype_version=version)

    snapshot = load_snapshot()

    assert set(job_snapshot(snapshot, job).software) == {
        SoftwareRequirement("maya", 2023, 2024),  # both bounds hold at once
        SoftwareRequirement("nuke", None, 15),
        SoftwareRequirement("houdini", None, None),
    }
    assert set(job_snapshot(snapshot, sibling).software) == {
        SoftwareRequirement("maya", 2022, 2024),
        SoftwareRequirement("houdini", None, None),
    }


def test_snapshot_counts_distinct_busy_agents_per_job_and_queue_subtree() -> None:
    top = JobQueueFactory.create(name="top")
    middle = JobQueueFactory.create(name="middle", parent=top)
    bottom = JobQueueFactory.create(name="bottom", parent=middle)
    other = JobQueueFactory.create(name="other")
    in_bottom = make_job("bottom job", queue=bottom, frames=5)
    in_middle = make_job("middle job", queue=middle, frames=5)
    second_in_middle = make_job("second middle job", queue=middle, frames=5)
    unqueued = make_job("no queue", frames=5)
    first, second, third = AgentFactory.create_batch(3)
    give(first, in_bottom, state=WorkState.RUNNING)
    give(first, in_middle)  # the same agent in two jobs counts once per queue
    give(second, in_middle, state=WorkState.RUNNING, count=2)
    give(second, second_in_middle)
    give(third, unqueued, state=WorkState.RUNNING)
    lost = AgentFactory.create(offline=True)
    give(lost, in_bottom, state=WorkState.RUNNING)  # offline agents do not count
    give(AgentFactory.create(), in_bottom, state=WorkState.DONE)  # nor ended work

    snapshot = load_snapshot()

    queues = {queue.id: queue for queue in snapshot.queues}
    assert queues[bottom.pk].assigned_agents == 1
    assert queues[middle.pk].assigned_agents == 2
    assert queues[top.pk].assigned_agents == 2
    assert queues[other.pk].assigned_agents == 0
    assert queues[middle.pk].parent_id == top.pk
    assert job_snapshot(snapshot, in_bottom).assigned_agents == 1
    assert job_snapshot(snapshot, in_middle).assigned_agents == 2
    assert job_snapshot(snapshot, second_in_middle).assigned_agents == 1
    assert job_snapshot(snapshot, unqueued).assigned_agents == 1


def test_snapshot_takes_queue_prefer_running_jobs_from_the_configuration(
    farm_config: Callable[..., None],
) -> None:
    assert load_snapshot().prefer_running_jobs is True
    farm_config(queue_prefer_running_jobs=False)
    assert load_snapshot().prefer_running_jobs is False


def build_farm(agents: int, jobs: int, tasks_per_job: int) -> None:
    """A farm with every kind of row the snapshot reads, at a given size."""
    top = JobQueueFactory.create()
    queues = [top, JobQueueFactory.create(parent=top)]
    software = SoftwareFactory.create()
    versions = [
        SoftwareVersionFactory.create(software=software, rank=rank) for rank in (1, 2)
    ]
    jobtype_version = JobTypeVersionFactory.create()
    JobTypeSoftwareRequirement.objects.create(
        jobtype_version=jobtype_version, software=software, min_version=versions[0]
    )
    tags = [TagFactory.create(), TagFactory.create()]
    farm_agents = AgentFactory.create_batch(agents)
    for agent in farm_agents:
        agent.tags.set(tags)
        agent.software_versions.set(versions)
    parent = None
    for number in range(jobs):
        job = make_job(
            f"job {number}",
            frames=tasks_per_job,
            jobtype_version=jobtype_version,
            queue=queues[number % 2],
            tag_requirements=[(tags[0], False), (tags[1], True)],
            software_requirements=[
                JobSoftwareRequirement(software=software, max_version=versions[1])
            ],
            parents=[parent] if parent is not None and number % 3 == 0 else [],
        )
        parent = job
        give(farm_agents[number % agents], job, state=WorkState.RUNNING)
        for task in job.tasks.order_by("frame")[1:3]:
            task.failed_in_agents.set(farm_agents[:2])


@pytest.mark.parametrize(("agents", "jobs", "tasks_per_job"), [(3, 2, 5), (30, 10, 20)])
def test_load_snapshot_costs_the_same_queries_at_any_farm_size(
    django_assert_num_queries: Any, agents: int, jobs: int, tasks_per_job: int
) -> None:
    build_farm(agents, jobs, tasks_per_job)

    with django_assert_num_queries(SNAPSHOT_QUERIES):
        snapshot = load_snapshot()

    assert len(snapshot.jobs) == jobs
    assert len(snapshot.agents) == agents - min(agents, jobs)
    assert sum(len(job.tasks) for job in snapshot.jobs) > 0
    assert any(task.failed_on for job in snapshot.jobs for task in job.tasks)


# --- applying a plan --------------------------------------------------------------


def test_apply_gives_the_tasks_to_the_agents_and_sends_after_commit(
    delay: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    job = make_job(frames=4)
    first, second = AgentFactory.create_batch(2)
    tasks = list(job.tasks.order_by("frame").values_list("pk", flat=True))
    plan = Plan(
        (
            Assignment(str(first.pk), job.pk, (tasks[0], tasks[1])),
            Assignment(str(second.pk), job.pk, (tasks[2],)),
        )
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        applied = apply_plan(plan)
        delay.assert_not_called()  # nothing is sent before the commit

    assert applied == list(plan)
    assert len(callbacks) == 1
    delay.assert_called_once_with([str(first.pk), str(second.pk)])
    assert set(first.tasks.values_list("pk", flat=True)) == {tasks[0], tasks[1]}
    assert set(second.tasks.values_list("pk", flat=True)) == {tasks[2]}
    assert not Task.objects.filter(agent__isnull=False, sent_to_agent=True).exists()
    assert Task.objects.get(pk=tasks[3]).agent_id is None


def test_apply_skips_an_agent_that_became_busy(
    delay: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    job = make_job(frames=4)
    agent = AgentFactory.create()
    plan = run_tick(dry_run=True).planned
    assert [assignment.agent_id for assignment in plan] == [str(agent.pk)]
    other_job = make_job("meanwhile")
    give(agent, other_job)

    with django_capture_on_commit_callbacks(execute=True):
        applied = apply_plan(plan)

    assert applied == []
    assert not job.tasks.filter(agent__isnull=False).exists()
    delay.assert_not_called()


@pytest.mark.parametrize(
    "change",
    [
        {"state": AgentState.OFFLINE},
        {"state": AgentState.DISABLED},
    ],
)
def test_apply_skips_an_agent_that_is_no_longer_available(
    delay: mock.Mock, change: dict[str, str]
) -> None:
    job = make_job(frames=2)
    agent = AgentFactory.create()
    plan = run_tick(dry_run=True).planned
    Agent.objects.filter(pk=agent.pk).update(**change)

    assert apply_plan(plan) == []
    assert not job.tasks.filter(agent__isnull=False).exists()


def test_apply_assigns_no_part_of_a_batch_when_one_task_was_taken(
    delay: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    version = JobTypeVersionFactory.create(max_batch=None)
    job = make_job(frames=6, batch=3, jobtype_version=version)
    AgentFactory.create_batch(2)
    plan = run_tick(dry_run=True).planned
    assert [len(assignment.task_ids) for assignment in plan] == [3, 3]
    taken = plan[0].task_ids[1]
    Task.objects.filter(pk=taken).update(agent=AgentFactory.create())

    with django_capture_on_commit_callbacks(execute=True):
        applied = apply_plan(plan)

    assert applied == [plan[1]]
    skipped_agent = plan[0].agent_id
    assert not Task.objects.filter(agent_id=skipped_agent).exists()
    assert set(
        job.tasks.filter(agent_id=plan[1].agent_id).values_list("pk", flat=True)
    ) == set(plan[1].task_ids)
    delay.assert_called_once_with([plan[1].agent_id])


@pytest.mark.parametrize(
    "change",
    [{"state": WorkState.PAUSED}, {"hidden": True}, {"to_be_deleted": True}],
)
def test_apply_skips_jobs_that_stopped_being_runnable(
    delay: mock.Mock, change: dict[str, Any]
) -> None:
    job = make_job(frames=2)
    AgentFactory.create()
    plan = run_tick(dry_run=True).planned
    assert len(plan) == 1
    Job.objects.filter(pk=job.pk).update(**change)

    assert apply_plan(plan) == []
    assert not job.tasks.filter(agent__isnull=False).exists()


@pytest.mark.parametrize(
    "change",
    [
        {"hidden": True},
        {"state": WorkState.DONE},
        {"state": WorkState.RUNNING},
    ],
)
def test_apply_skips_an_assignment_one_of_whose_tasks_changed(
    delay: mock.Mock, change: dict[str, Any]
) -> None:
    version = JobTypeVersionFactory.create(max_batch=None)
    job = make_job(frames=4, batch=2, jobtype_version=version)
    AgentFactory.create_batch(2)
    plan = run_tick(dry_run=True).planned
    Task.objects.filter(pk=plan[0].task_ids[-1]).update(**change)

    applied = apply_plan(plan)

    assert applied == [plan[1]]
    assert set(job.tasks.filter(agent__isnull=False).values_list("pk", flat=True)) == (
        set(plan[1].task_ids)
    )


def test_apply_skips_an_assignment_naming_the_wrong_job(delay: mock.Mock) -> None:
    job = make_job(frames=2)
    other = make_job("other", frames=2)
    first, second = AgentFactory.create_batch(2)
    tasks = list(job.tasks.order_by("frame").values_list("pk", flat=True))
    plan = [
        Assignment(str(first.pk), other.pk, (tasks[0],)),  # not a task of ``other``
        Assignment(str(second.pk), job.pk, (tasks[1],)),
    ]

    assert apply_plan(plan) == [plan[1]]
    assert Task.objects.get(pk=tasks[0]).agent_id is None


def _forget_statistics(*tables: str, analysed_empty: bool) -> None:
    """Make the tables look to PostgreSQL's planner as on a farm just set up.

    No column statistics, and either never analysed (``reltuples`` -1) or
    analysed while empty (0), as after ``migrate``. Undone when the test
    rolls back. Needs a superuser (the test servers of ``.ci/postgres`` run
    as one); skips otherwise.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        (superuser,) = cursor.fetchone()
        if not superuser:
            pytest.skip("forgetting statistics needs a PostgreSQL superuser")
        cursor.execute(
            "DELETE FROM pg_statistic WHERE starelid = ANY(%s::regclass[])",
            [list(tables)],
        )
        cursor.execute(
            "UPDATE pg_class SET reltuples = %s, relpages = 0"
            " WHERE oid = ANY(%s::regclass[])",
            [0 if analysed_empty else -1, list(tables)],
        )


def _rows_processed(plan: dict[str, Any]) -> int:
    """Rows all the nodes of an EXPLAIN ANALYZE plan produced, over all loops."""
    own = int(plan.get("Actual Rows", 0) * plan.get("Actual Loops", 1))
    return own + sum(_rows_processed(child) for child in plan.get("Plans", ()))


def _explaining(
    plans: list[dict[str, Any]], wanted: Callable[[str], bool]
) -> Callable[..., Any]:
    """An execute wrapper that also runs ``wanted`` statements under EXPLAIN.

    Each is run once more under EXPLAIN ANALYZE first, in a savepoint rolled
    back, and its plan appended to ``plans``.
    """

    def explain(
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        if wanted(sql):
            cursor = context["cursor"].cursor  # the driver's: no wrapper again
            cursor.execute("SAVEPOINT explain_statement")
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            plans.append(cursor.fetchone()[0][0]["Plan"])
            cursor.execute("ROLLBACK TO SAVEPOINT explain_statement")
        return execute(sql, params, many, context)

    return explain


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's planner statistics"
)


@postgresql_only
@pytest.mark.parametrize("analysed_empty", [False, True])
def test_apply_does_work_linear_in_the_tasks_without_table_statistics(
    delay: mock.Mock, analysed_empty: bool
) -> None:
    """The first tick of a farm just filled must not compare tasks pairwise.

    Without statistics PostgreSQL guessed that "queued and unassigned" keeps
    a handful of tasks and joined every one of them with every wanted one
    (issue #8: seconds for 12,000 tasks and 500 agents, agents locked all
    the while). The rows the claim's plan went through are counted.
    """
    version = JobTypeVersionFactory.create(max_batch=None)
    make_job(frames=3000, jobtype_version=version)
    AgentFactory.create_batch(100)
    _forget_statistics("tasks", "jobs", "agents", analysed_empty=analysed_empty)
    plan = run_tick(dry_run=True).planned
    plans: list[dict[str, Any]] = []

    with connection.execute_wrapper(
        _explaining(plans, lambda sql: "UPDATE tasks SET agent_id" in sql)
    ):
        applied = apply_plan(plan)

    assert len(applied) == 100
    (claim,) = plans
    # 3,000 runnable tasks and 100 wanted ones: a linear plan goes through
    # some thousands of rows, a pairwise one through 300,000.
    assert _rows_processed(claim) < 10 * (3000 + 100)


@postgresql_only
@pytest.mark.parametrize("analysed_empty", [False, True])
def test_load_does_work_linear_in_the_tasks_without_table_statistics(
    analysed_empty: bool,
) -> None:
    """The snapshot must not join every runnable task with every job.

    Without statistics the runnable tasks' join with the jobs whose parents
    are done became tasks x jobs x jobs (issue #8: 10 s for 12,000 tasks in
    120 jobs). The rows the plans of all its queries went through are
    counted.
    """
    for number in range(50):
        make_job(f"job {number}", frames=60)
    AgentFactory.create_batch(100)
    _forget_statistics(
        "tasks",
        "jobs",
        "agents",
        "job_dependencies",
        analysed_empty=analysed_empty,
    )
    plans: list[dict[str, Any]] = []

    with connection.execute_wrapper(
        _explaining(plans, lambda sql: sql.lstrip().upper().startswith("SELECT"))
    ):
        snapshot = load_snapshot()

    assert sum(len(job.tasks) for job in snapshot.jobs) == 3000
    assert len(plans) == SNAPSHOT_QUERIES
    # 3,000 tasks, 50 jobs, 100 agents: linear plans go through some
    # thousands of rows, tasks x jobs through 150,000 and more.
    assert sum(_rows_processed(plan) for plan in plans) < 10 * (3000 + 50 + 100)


def test_apply_rolls_back_a_chunk_whose_claim_came_out_partial(
    delay: mock.Mock,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    version = JobTypeVersionFactory.create(max_batch=None)
    make_job(frames=4, batch=2, jobtype_version=version)
    AgentFactory.create_batch(2)
    plan = run_tick(dry_run=True).planned
    real_write = claiming._write_claims

    def lose_one(*args: Any) -> set[int]:
        """Report half of the first batch only, as if the rest was not written."""
        return real_write(*args) - {plan[0].task_ids[1]}

    with (
        mock.patch.object(claiming, "_write_claims", lose_one),
        django_capture_on_commit_callbacks(execute=True),
    ):
        applied = apply_plan(plan)

    # The other assignment of the chunk was written too, and rolled back.
    assert applied == []
    assert not Task.objects.filter(agent__isnull=False).exists()
    delay.assert_not_called()
    assert "rolled back" in caplog.text


def test_apply_takes_a_fixed_number_of_parameters_whatever_the_chunk_size(
    delay: mock.Mock, django_assert_num_queries: Any
) -> None:
    """1,200 tasks in one chunk: more than SQLite's historical 999 parameters."""
    version = JobTypeVersionFactory.create(max_batch=None)
    make_job(frames=1200, batch=8, jobtype_version=version)
    AgentFactory.create_batch(150)
    plan = run_tick(dry_run=True).planned
    assert sum(len(assignment.task_ids) for assignment in plan) == 1200

    with django_assert_num_queries(APPLY_QUERIES):
        applied = apply_plan(plan)

    assert applied == list(plan)
    assert not Task.objects.filter(agent__isnull=True).exists()


@pytest.mark.parametrize("agents", [1, 5, 40])
def test_apply_costs_the_same_queries_for_any_number_of_assignments(
    delay: mock.Mock, django_assert_num_queries: Any, agents: int
) -> None:
    version = JobTypeVersionFactory.create(max_batch=8)
    make_job(frames=200, batch=4, jobtype_version=version)
    AgentFactory.create_batch(agents)
    plan = run_tick(dry_run=True).planned
    assert len(plan) == agents

    with django_assert_num_queries(APPLY_QUERIES):
        applied = apply_plan(plan)

    assert applied == list(plan)
    assert Task.objects.filter(agent__isnull=False).count() == 4 * agents


def test_apply_splits_large_plans_into_chunks(
    delay: mock.Mock, django_assert_num_queries: Any
) -> None:
    make_job(frames=7)
    AgentFactory.create_batch(7)
    plan = run_tick(dry_run=True).planned

    with (
        mock.patch.object(claiming, "CHUNK_ASSIGNMENTS", 3),
        django_assert_num_queries(APPLY_QUERIES * 3),
    ):
        applied = apply_plan(plan)

    assert applied == list(plan)
    assert Task.objects.filter(agent__isnull=False).count() == 7


def test_apply_publishes_one_message_per_chunk_after_its_commit(
    delay: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    make_job(frames=7)
    AgentFactory.create_batch(7)
    plan = run_tick(dry_run=True).planned

    with (
        mock.patch.object(claiming, "CHUNK_ASSIGNMENTS", 3),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        apply_plan(plan)

    assert len(callbacks) == 3
    assert [call.args[0] for call in delay.call_args_list] == [
        [a.agent_id for a in plan[0:3]],
        [a.agent_id for a in plan[3:6]],
        [a.agent_id for a in plan[6:7]],
    ]


def test_apply_splits_chunks_by_task_count_too(
    delay: mock.Mock, django_assert_num_queries: Any
) -> None:
    version = JobTypeVersionFactory.create(max_batch=None)
    make_job(frames=12, batch=4, jobtype_version=version)
    AgentFactory.create_batch(3)
    plan = run_tick(dry_run=True).planned

    with (
        mock.patch.object(claiming, "CHUNK_TASKS", 8),
        django_assert_num_queries(APPLY_QUERIES * 2),
    ):
        applied = apply_plan(plan)

    assert applied == list(plan)


def test_apply_gives_an_agent_one_batch_and_a_task_one_agent_per_plan(
    delay: mock.Mock,
) -> None:
    job = make_job(frames=4)
    first, second = AgentFactory.create_batch(2)
    tasks = list(job.tasks.order_by("frame").values_list("pk", flat=True))
    plan = [
        Assignment(str(first.pk), job.pk, (tasks[0],)),
        Assignment(str(first.pk), job.pk, (tasks[1],)),  # same agent again
        Assignment(str(second.pk), job.pk, (tasks[0],)),  # same task again
        Assignment(str(second.pk), job.pk, ()),  # nothing to give
    ]

    applied = apply_plan(plan)

    assert applied == [plan[0]]
    assert list(
        Task.objects.filter(agent__isnull=False).values_list("pk", "agent")
    ) == [(tasks[0], first.pk)]


def test_dry_run_plans_without_changing_anything(delay: mock.Mock) -> None:
    make_job(frames=4)
    AgentFactory.create_batch(2)

    result = run_tick(dry_run=True)

    assert len(result.planned) == 2
    assert result.applied == []
    assert (result.agents, result.jobs, result.tasks) == (2, 1, 4)
    assert not Task.objects.filter(agent__isnull=False).exists()
    delay.assert_not_called()


def test_tick_applies_the_plan_and_reports_counts(
    delay: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    make_job(frames=4)
    AgentFactory.create_batch(3)

    with django_capture_on_commit_callbacks(execute=True):
        result = run_tick()

    assert len(result.applied) == 3
    assert Task.objects.filter(agent__isnull=False).count() == 3
    assert delay.call_count == 1
    assert sorted(delay.call_args.args[0]) == sorted(a.agent_id for a in result.applied)
    data = result.as_dict()
    assert data["planned"] == data["applied"] == 3
    assert data["skipped"] == 0
    assert data["load_ms"] >= 0


def test_tick_pauses_the_cyclic_garbage_collector_while_it_runs(
    delay: mock.Mock,
) -> None:
    make_job(frames=2)
    AgentFactory.create()
    seen: list[bool] = []
    real_plan = ticking.plan

    def plan_and_look(snapshot: Snapshot) -> Plan:
        seen.append(gc.isenabled())
        return real_plan(snapshot)

    with mock.patch.object(ticking, "plan", plan_and_look):
        run_tick()
        assert gc.isenabled()
        gc.disable()
        try:
            run_tick(dry_run=True)
            assert not gc.isenabled()  # left as the caller had it
        finally:
            gc.enable()

    assert seen == [False, False]


def test_tick_turns_the_garbage_collector_back_on_after_an_error() -> None:
    with (
        mock.patch.object(ticking, "plan", side_effect=RuntimeError("boom")),
        pytest.raises(RuntimeError),
    ):
        run_tick()

    assert gc.isenabled()


# --- two ticks at once ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("chunk", [1, 3, claiming.CHUNK_ASSIGNMENTS])
def test_two_ticks_at_once_never_share_a_task_or_an_agent(
    delay: mock.Mock, chunk: int
) -> None:
    """Both ticks plan from the same farm, then apply at once.

    Small chunks make the two applies interleave chunk by chunk; one chunk
    makes them race for the same rows in one statement each.

    On PostgreSQL they run in two threads (two connections) that meet at a
    barrier between planning and applying, so their applies overlap. SQLite
    has no concurrent writers: there the second tick applies after the first
    one, still from its stale plan, which is what it would see after waiting
    for the write lock.
    """
    for number in range(4):
        make_job(f"job {number}", frames=15)
    agents = AgentFactory.create_batch(20)
    concurrent = connection.vendor == "postgresql"
    results: list[ticking.TickResult] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2, timeout=30)
    real_plan = ticking.plan

    def plan_then_wait(snapshot: Snapshot) -> Plan:
        decided = real_plan(snapshot)
        if concurrent:
            barrier.wait()
        return decided

    def tick() -> None:
        try:
            results.append(run_tick())
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    with (
        mock.patch.object(ticking, "plan", plan_then_wait),
        mock.patch.object(claiming, "CHUNK_ASSIGNMENTS", chunk),
    ):
        if concurrent:
            threads = [threading.Thread(target=tick) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        else:
            stale = [real_plan(load_snapshot()), real_plan(load_snapshot())]
            assert stale[0] == stale[1]
            results.extend(
                ticking.TickResult(
                    dry_run=False,
                    agents=len(agents),
                    jobs=4,
                    tasks=60,
                    planned=list(plan),
                    applied=apply_plan(plan),
                )
                for plan in stale
            )

    assert errors == []
    assert len(results) == 2
    assert all(len(result.planned) == len(agents) for result in results)
    applied = [assignment for result in results for assignment in result.applied]
    given_agents = [assignment.agent_id for assignment in applied]
    given_tasks = [pk for assignment in applied for pk in assignment.task_ids]
    assert len(given_agents) == len(set(given_agents)) == len(agents)
    assert len(given_tasks) == len(set(given_tasks))
    # The database agrees: every agent holds exactly the tasks of its one batch.
    for assignment in applied:
        assert set(
            Task.objects.filter(agent_id=assignment.agent_id).values_list(
                "pk", flat=True
            )
        ) == set(assignment.task_ids)
    assert Task.objects.filter(agent__isnull=False).count() == len(given_tasks)
    sent_to = [agent_id for call in delay.call_args_list for agent_id in call.args[0]]
    assert sorted(sent_to) == sorted(given_agents)


def crossed_plans(jobs: list[Job], agents: list[Agent], count: int) -> list[Plan]:
    """Plans giving every agent a different pair of tasks in each plan.

    Plan ``k`` gives agent ``i`` pair ``(i + 7k) % pairs`` of all the jobs'
    consecutive frame pairs: each plan overlaps the others on some pairs and
    leaves others to them.
    """
    pairs: list[tuple[int, tuple[int, int]]] = []
    for job in jobs:
        ids = list(job.tasks.order_by("frame").values_list("pk", flat=True))
        pairs.extend((job.pk, (ids[n], ids[n + 1])) for n in range(0, len(ids), 2))
    return [
        Plan(
            tuple(
                Assignment(str(agent.pk), *pairs[(index + 7 * k) % len(pairs)])
                for index, agent in enumerate(agents)
            )
        )
        for k in range(count)
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("chunk", [1, 7, claiming.CHUNK_ASSIGNMENTS])
def test_ticks_with_crossed_plans_at_once_never_share_a_task_or_an_agent(
    delay: mock.Mock, chunk: int
) -> None:
    """Four applies at once, each giving every agent another batch.

    The plans want every agent with different batches and many batches for
    different agents: the hardest mix for the claim. On PostgreSQL they run
    in four threads released together; on SQLite one after the other, which
    is what each would see after waiting for the write lock.
    """
    version = JobTypeVersionFactory.create(max_batch=None)
    jobs = [
        make_job(f"job {number}", frames=30, batch=2, jobtype_version=version)
        for number in range(3)
    ]
    agents = AgentFactory.create_batch(24)
    plans = crossed_plans(jobs, agents, 4)
    concurrent = connection.vendor == "postgresql"
    barrier = threading.Barrier(len(plans), timeout=30)
    applied: list[Assignment] = []
    errors: list[BaseException] = []

    def apply(plan: Plan) -> None:
        try:
            if concurrent:
                barrier.wait()
            applied.extend(apply_plan(plan))
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            if concurrent:
                connection.close()

    with mock.patch.object(claiming, "CHUNK_ASSIGNMENTS", chunk):
        if concurrent:
            threads = [threading.Thread(target=apply, args=(p,)) for p in plans]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        else:
            for plan in plans:
                apply(plan)

    assert errors == []
    assert applied
    given_agents = [assignment.agent_id for assignment in applied]
    given_tasks = [pk for assignment in applied for pk in assignment.task_ids]
    assert len(given_agents) == len(set(given_agents))
    assert len(given_tasks) == len(set(given_tasks))
    for assignment in applied:
        assert set(
            Task.objects.filter(agent_id=assignment.agent_id).values_list(
                "pk", flat=True
            )
        ) == set(assignment.task_ids)
    assert Task.objects.filter(agent__isnull=False).count() == len(given_tasks)
    sent_to = [agent_id for call in delay.call_args_list for agent_id in call.args[0]]
    assert sorted(sent_to) == sorted(given_agents)
