"""The tick's two phases: planning on task counts, then reading the tasks handed out."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest

from farm.choices import WorkState
from farm.models import Job, Task
from farm.services import create_job
from farm.tests.factories import AgentFactory, JobQueueFactory, JobTypeVersionFactory
from scheduling import claiming
from scheduling.algorithm import Assignment, Plan, plan
from scheduling.snapshot import load_batches, load_snapshot
from scheduling.tick import run_tick

pytestmark = pytest.mark.django_db

# Queries of load_snapshot (see test_services): queues, busy agents, agents,
# agent tags, agent software, jobs, job tags, job software, job type
# software, failed-on, task counts.
SNAPSHOT_QUERIES = 11
# The tasks handed out, for every job planned on its count at once.
BATCH_QUERIES = 1
# Per chunk of assignments, in a test's transaction: savepoint, agent lock,
# claim, release.
APPLY_QUERIES = 4


@pytest.fixture(autouse=True)
def delay() -> Any:
    """``send_assignments.delay`` as the claiming module calls it, mocked."""
    with mock.patch.object(claiming.send_assignments, "delay") as patched:
        yield patched


def make_job(title: str = "job", frames: int = 3, **fields: Any) -> Job:
    """A job with one queued task per frame 1..frames (and tile)."""
    version = fields.pop("jobtype_version", None) or JobTypeVersionFactory.create()
    return create_job(
        jobtype_version=version, title=title, start=1, end=frames, **fields
    )


def one_phase_plan() -> Plan:
    """The plan made from every runnable task's row, in one phase."""
    return plan(load_snapshot())


def random_farm(seed: int) -> None:
    """Jobs of every batching, with gaps, tiles and failed tasks; idle agents."""
    rng = random.Random(seed)
    top = JobQueueFactory.create(weight=rng.randint(1, 3))
    queues = [None, top, JobQueueFactory.create(parent=top, maximum_agents=3)]
    agents = AgentFactory.create_batch(rng.randint(3, 14), cpus=rng.choice([1, 4]))
    for number in range(rng.randint(2, 7)):
        version = JobTypeVersionFactory.create(
            max_batch=rng.choice([None, 1, 2, 4]),
            batch_contiguous=rng.choice([True, False]),
        )
        job = make_job(
            f"job {number}",
            frames=rng.randint(2, 12),
            by=rng.choice([Decimal(1), Decimal("0.5"), Decimal(2)]),
            batch=rng.randint(1, 4),
            num_tiles=rng.choice([None, None, None, 2]),
            priority=rng.randint(0, 2),
            weight=rng.randint(1, 3),
            minimum_agents=rng.choice([None, 1]),
            maximum_agents=rng.choice([None, 2, 5]),
            queue=rng.choice(queues),
            jobtype_version=version,
        )
        tasks = list(job.tasks.order_by("frame", "tile"))
        for task in tasks:
            roll = rng.random()
            if roll < 0.12:
                Task.objects.filter(pk=task.pk).update(state=WorkState.DONE)
            elif roll < 0.18:
                Task.objects.filter(pk=task.pk).update(hidden=True)
            elif roll < 0.26:
                task.failed_in_agents.set(rng.sample(agents, rng.randint(1, 2)))


@pytest.mark.parametrize("seed", range(40))
def test_the_two_phases_plan_what_the_rows_would(seed: int) -> None:
    random_farm(seed)
    expected = one_phase_plan()

    planned = run_tick(dry_run=True).planned

    assert planned == list(expected)


def test_jobs_without_failed_tasks_are_counted_not_listed() -> None:
    counted = make_job("counted", frames=4)
    listed = make_job("listed", frames=3)
    agent = AgentFactory.create()
    listed.tasks.order_by("frame").first().failed_in_agents.set([agent])

    jobs = {job.id: job for job in load_snapshot(counts=True).jobs}

    assert (jobs[counted.pk].task_count, jobs[counted.pk].tasks) == (4, ())
    assert jobs[listed.pk].task_count is None
    assert len(jobs[listed.pk].tasks) == 3


def test_the_tasks_handed_out_are_read_in_frame_and_tile_order() -> None:
    job = make_job(frames=3, num_tiles=2, batch=1)
    ordered = list(
        job.tasks.order_by("frame", "tile", "pk").values_list("pk", flat=True)
    )
    snapshot = load_snapshot(counts=True)
    counted = Plan(
        (
            Assignment("a", job.pk, (), 2),
            Assignment("b", job.pk, (), 3),
        )
    )

    resolved, irregular = load_batches(snapshot, counted)

    assert [a.task_ids for a in resolved] == [tuple(ordered[:2]), tuple(ordered[2:5])]
    assert irregular == {job.pk}  # frame 1 tile 0, frame 1 tile 1: not contiguous


def test_a_batch_whose_tasks_were_taken_meanwhile_is_dropped() -> None:
    job = make_job(frames=2)
    snapshot = load_snapshot(counts=True)
    Task.objects.filter(job=job).update(hidden=True)

    resolved, _ = load_batches(snapshot, Plan((Assignment("a", job.pk, (), 1),)))

    assert list(resolved) == []


def test_a_gap_in_contiguous_frames_is_planned_again_from_the_rows(
    django_assert_num_queries: Any,
) -> None:
    version = JobTypeVersionFactory.create(max_batch=None, batch_contiguous=True)
    job = make_job(frames=7, batch=3, jobtype_version=version)
    Task.objects.filter(job=job, frame=3).update(state=WorkState.DONE)
    AgentFactory.create_batch(3)
    frames = dict(job.tasks.values_list("pk", "frame"))

    # Counts, the first batches, then the job's rows (no job left counted).
    with django_assert_num_queries(SNAPSHOT_QUERIES + BATCH_QUERIES + 1):
        planned = run_tick(dry_run=True).planned

    assert [[frames[pk] for pk in a.task_ids] for a in planned] == [
        [1, 2],
        [4, 5, 6],
        [7],
    ]
    assert planned == list(one_phase_plan())


@pytest.mark.parametrize(("agents", "jobs"), [(3, 2), (40, 12)])
def test_a_tick_costs_the_same_queries_at_any_farm_size(
    django_assert_num_queries: Any, agents: int, jobs: int
) -> None:
    for number in range(jobs):
        make_job(f"job {number}", frames=10, batch=1 + number % 2)
    AgentFactory.create_batch(agents)

    with django_assert_num_queries(SNAPSHOT_QUERIES + BATCH_QUERIES + APPLY_QUERIES):
        result = run_tick()

    assert len(result.applied) == agents


def test_a_tick_lists_the_tasks_of_jobs_with_failed_tasks_in_one_more_query(
    django_assert_num_queries: Any,
) -> None:
    job = make_job(frames=4)
    agents = AgentFactory.create_batch(2)
    job.tasks.order_by("frame").first().failed_in_agents.set(agents[:1])

    with django_assert_num_queries(SNAPSHOT_QUERIES + 1 + APPLY_QUERIES):
        result = run_tick()

    assert len(result.applied) == 2
    assert all(a.count == 0 and a.task_ids for a in result.applied)
