"""The planner as a pure function: eligibility, fairness, caps, batches.

No database: snapshots are built by hand, or by :func:`synthetic_snapshot` for a
whole farm (also what the benchmark of the report used, at full size).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from itertools import pairwise

import pytest

from scheduling.algorithm import (
    RUNNING,
    AgentSnapshot,
    Assignment,
    JobSnapshot,
    Plan,
    QueueSnapshot,
    Snapshot,
    SoftwareRequirement,
    TaskSnapshot,
    plan,
    resources_fit,
    software_fit,
    tags_fit,
)

# --------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------

_next_task_id = iter(range(1, 10**9))


def agent(agent_id: str, **fields: object) -> AgentSnapshot:
    """An idle agent with 8 free cpus and 16 GB free RAM unless told otherwise."""
    values: dict[str, object] = {
        "cpus": 8,
        "free_cpus": 8,
        "total_ram": 16384,
        "free_ram": 16384,
    }
    values.update(fields)
    return AgentSnapshot(agent_id, **values)  # type: ignore[arg-type]


def agents(
    count: int, prefix: str = "a", **fields: object
) -> tuple[AgentSnapshot, ...]:
    """``count`` identical agents named ``<prefix>00``, ``<prefix>01``, ..."""
    return tuple(agent(f"{prefix}{number:02}", **fields) for number in range(count))


def tasks(*frames: int | str, failed_on: frozenset[str] = frozenset()) -> tuple:
    """Tasks of the given frames with fresh ids."""
    return tuple(
        TaskSnapshot(next(_next_task_id), Decimal(frame), failed_on=failed_on)
        for frame in frames
    )


def job(job_id: int, frames: int = 10, **fields: object) -> JobSnapshot:
    """A queued job with ``frames`` tasks (frames 1..n) unless ``tasks`` given."""
    values: dict[str, object] = {"tasks": tasks(*range(1, frames + 1))}
    values.update(fields)
    return JobSnapshot(job_id, **values)  # type: ignore[arg-type]


def run(
    agent_list: tuple[AgentSnapshot, ...] | list[AgentSnapshot],
    job_list: tuple[JobSnapshot, ...] | list[JobSnapshot],
    queue_list: tuple[QueueSnapshot, ...] | list[QueueSnapshot] = (),
    *,
    prefer_running_jobs: bool = True,
) -> Plan:
    """Plan a snapshot of these agents, jobs and queues."""
    return plan(
        Snapshot(
            agents=tuple(agent_list),
            queues=tuple(queue_list),
            jobs=tuple(job_list),
            prefer_running_jobs=prefer_running_jobs,
        )
    )


def agents_per_job(result: Plan) -> Counter[int]:
    """How many agents each job received."""
    return Counter(assignment.job_id for assignment in result)


def job_of(result: Plan, agent_id: str) -> int | None:
    """The job the agent was given, if any."""
    for assignment in result:
        if assignment.agent_id == agent_id:
            return assignment.job_id
    return None


# --------------------------------------------------------------------------
# A synthetic farm and a checker of every rule
# --------------------------------------------------------------------------


def synthetic_snapshot(
    *,
    agent_count: int,
    job_count: int,
    tasks_per_job: int,
    depth: int = 3,
    seed: int = 4,
) -> Snapshot:
    """A random but reproducible farm: a queue tree of ``depth`` levels.

    Agents come in a few tag and software classes with varied free resources;
    jobs have mixed priorities, weights, caps, minimums, requirements, batch
    settings and a few tasks that failed on some agent.
    """
    rng = random.Random(seed)
    tag_sets = [frozenset(), frozenset({"gpu"}), frozenset({"linux"})]
    software_sets = [
        frozenset({("blender", 1), ("nuke", 3)}),
        frozenset({("blender", 2)}),
        frozenset({("blender", 1), ("blender", 3), ("nuke", 1)}),
    ]
    agent_list = [
        AgentSnapshot(
            id=f"agent-{number:05}",
            cpus=16,
            free_cpus=rng.choice([2, 4, 8, 16]),
            total_ram=32768,
            free_ram=rng.choice([2048, 8192, 26214]),
            idle=rng.random() < 0.9,
            tags=rng.choice(tag_sets),
            software=rng.choice(software_sets),
        )
        for number in range(agent_count)
    ]
    queue_list: list[QueueSnapshot] = []
    level: list[int | None] = [None]
    next_queue = 1
    for _ in range(depth):
        parents, level = level, []
        for parent in parents:
            for _ in range(3 if parent is None else 4):
                queue_list.append(
                    QueueSnapshot(
                        id=next_queue,
                        parent_id=parent,
                        priority=rng.choice([0, 0, 1]),
                        weight=rng.randint(1, 5),
                        minimum_agents=rng.choice([None, None, None, 2]),
                        maximum_agents=rng.choice([None, None, agent_count // 10]),
                        assigned_agents=rng.randint(0, 3),
                    )
                )
                level.append(next_queue)
                next_queue += 1
    queue_ids: list[int | None] = [None, *(queue.id for queue in queue_list)]
    job_list = []
    task_id = 1
    for number in range(1, job_count + 1):
        job_tasks = []
        for frame in range(1, tasks_per_job + 1):
            failed_on = (
                frozenset({rng.choice(agent_list).id})
                if agent_list and rng.random() < 0.02
                else frozenset()
            )
            job_tasks.append(TaskSnapshot(task_id, Decimal(frame), None, failed_on))
            task_id += 1
        requirements = []
        if rng.random() < 0.3:
            requirements.append(SoftwareRequirement("blender", 1, rng.choice([2, 3])))
        if rng.random() < 0.1:
            requirements.append(SoftwareRequirement("nuke", 2, None))
        job_list.append(
            JobSnapshot(
                id=number,
                queue_id=rng.choice(queue_ids),
                priority=rng.choice([0, 0, 0, 1, 2]),
                weight=rng.randint(1, 10),
                minimum_agents=rng.choice([None] * 9 + [2]),
                maximum_agents=rng.choice([None] * 4 + [5]),
                assigned_agents=rng.randint(0, 2),
                state=rng.choice(["queued", "running"]),
                time_submitted=rng.randint(0, 10**6),
                cpus=rng.choice([0, 1, 2, 4, -1]),
                ram=rng.choice([0, 0, 1024, 4096]),
                batch=rng.choice([1, 1, 2, 5]),
                max_batch=rng.choice([None, 3]),
                batch_contiguous=rng.random() < 0.5,
                required_tags=rng.choice([frozenset()] * 4 + [frozenset({"gpu"})]),
                forbidden_tags=rng.choice([frozenset()] * 4 + [frozenset({"linux"})]),
                software=tuple(requirements),
                parents_done=rng.random() < 0.95,
                tasks=tuple(job_tasks),
            )
        )
    return Snapshot(tuple(agent_list), tuple(queue_list), tuple(job_list), True)


def shuffled(snapshot: Snapshot, seed: int) -> Snapshot:
    """The same snapshot with agents, queues, jobs and tasks in another order."""
    rng = random.Random(seed)

    def mixed(items: tuple) -> tuple:
        items_list = list(items)
        rng.shuffle(items_list)
        return tuple(items_list)

    jobs = tuple(replace(item, tasks=mixed(item.tasks)) for item in snapshot.jobs)
    return Snapshot(
        mixed(snapshot.agents),
        mixed(snapshot.queues),
        mixed(jobs),
        snapshot.prefer_running_jobs,
    )


def assert_plan_obeys_rules(snapshot: Snapshot, result: Plan) -> None:
    """Check every hard rule of the planner on a plan."""
    agents_by_id = {item.id: item for item in snapshot.agents}
    jobs_by_id = {item.id: item for item in snapshot.jobs}
    queues_by_id = {item.id: item for item in snapshot.queues}
    seen_agents: set[str] = set()
    seen_tasks: set[int] = set()
    extra_per_job: Counter[int] = Counter()
    extra_per_queue: Counter[int] = Counter()
    for assignment in result:
        assert assignment.agent_id not in seen_agents
        seen_agents.add(assignment.agent_id)
        farm_agent = agents_by_id[assignment.agent_id]
        farm_job = jobs_by_id[assignment.job_id]
        assert farm_job.state in {"queued", "running"}
        assert farm_job.parents_done
        assert resources_fit(farm_agent, farm_job)
        assert tags_fit(farm_agent, farm_job)
        assert software_fit(farm_agent, farm_job)
        job_tasks = {task.id: task for task in farm_job.tasks}
        batch = [job_tasks[task_id] for task_id in assignment.task_ids]
        assert 1 <= len(batch) <= min(farm_job.batch, farm_job.max_batch or 10**9)
        assert [task.frame for task in batch] == sorted(task.frame for task in batch)
        for task in batch:
            assert task.id not in seen_tasks
            seen_tasks.add(task.id)
            assert farm_agent.id not in task.failed_on
        if farm_job.batch_contiguous:
            for previous, following in pairwise(batch):
                assert following.frame == previous.frame + farm_job.by
        extra_per_job[farm_job.id] += 1
        queue_id = farm_job.queue_id
        while queue_id is not None:
            extra_per_queue[queue_id] += 1
            queue_id = queues_by_id[queue_id].parent_id
    for job_id, extra in extra_per_job.items():
        maximum = jobs_by_id[job_id].maximum_agents
        if maximum is not None:
            assert jobs_by_id[job_id].assigned_agents + extra <= maximum
    for queue_id, extra in extra_per_queue.items():
        maximum = queues_by_id[queue_id].maximum_agents
        if maximum is not None:
            assert queues_by_id[queue_id].assigned_agents + extra <= maximum


# --------------------------------------------------------------------------
# Empty inputs
# --------------------------------------------------------------------------


def test_empty_snapshot_gives_empty_plan() -> None:
    assert plan(Snapshot()) == Plan(())


def test_agents_without_jobs_get_nothing() -> None:
    assert len(run(agents(3), [])) == 0


def test_jobs_without_agents_get_nothing() -> None:
    assert len(run([], [job(1)])) == 0


def test_job_without_tasks_gets_nothing() -> None:
    assert len(run(agents(2), [job(1, frames=0)])) == 0


# --------------------------------------------------------------------------
# Eligibility
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("needed", "free", "expected"),
    [(4, 4, True), (5, 4, False), (0, 0, True)],
    ids=["enough", "too-few", "none-needed"],
)
def test_job_runs_only_where_free_cpus_cover_its_cpus(
    needed: int, free: float, expected: bool
) -> None:
    result = run([agent("a", free_cpus=free)], [job(1, cpus=needed)])
    assert (job_of(result, "a") == 1) is expected


@pytest.mark.parametrize(
    ("needed", "free", "expected"),
    [(4096, 4096, True), (4097, 4096, False), (0, 0, True)],
    ids=["enough", "too-little", "none-needed"],
)
def test_job_runs_only_where_free_ram_covers_its_ram(
    needed: int, free: int, expected: bool
) -> None:
    result = run([agent("a", free_ram=free)], [job(1, ram=needed)])
    assert (job_of(result, "a") == 1) is expected


def test_need_between_agent_sizes_goes_to_the_larger_agent() -> None:
    farm = [agent("small", free_cpus=2), agent("large", free_cpus=4)]
    result = run(farm, [job(1, cpus=3)])
    assert [assignment.agent_id for assignment in result] == ["large"]


@pytest.mark.parametrize("resource", ["cpus", "ram"])
def test_job_needing_the_whole_agent_runs_only_on_an_idle_agent(resource: str) -> None:
    busy = agent("busy", idle=False)
    idle = agent("idle")
    result = run([busy, idle], [job(1, **{resource: -1})])
    assert job_of(result, "idle") == 1
    assert job_of(result, "busy") is None


def test_job_runs_only_on_agents_with_every_required_tag() -> None:
    result = run(
        [
            agent("one-tag", tags=frozenset({"gpu"})),
            agent("both", tags=frozenset({"gpu", "a"})),
        ],
        [job(1, required_tags=frozenset({"gpu", "a"}))],
    )
    assert [assignment.agent_id for assignment in result] == ["both"]


def test_job_never_runs_on_an_agent_with_a_forbidden_tag() -> None:
    result = run(
        [agent("tagged", tags=frozenset({"slow"})), agent("plain")],
        [job(1, forbidden_tags=frozenset({"slow"}))],
    )
    assert [assignment.agent_id for assignment in result] == ["plain"]


@pytest.mark.parametrize(
    ("ranks", "minimum", "maximum", "expected"),
    [
        ({2}, 2, 4, True),
        ({1}, 2, 4, False),
        ({5}, 2, 4, False),
        ({1, 3, 5}, 2, 4, True),
        ({1}, None, None, True),
        ({9}, 2, None, True),
        ({9}, None, 4, False),
        (set(), None, None, False),
    ],
    ids=[
        "within",
        "below-minimum",
        "above-maximum",
        "one-of-several-within",
        "open-bounds",
        "open-maximum",
        "over-open-minimum",
        "software-missing",
    ],
)
def test_software_requirement_needs_a_version_within_its_ranks(
    ranks: set[int], minimum: int | None, maximum: int | None, expected: bool
) -> None:
    farm_agent = agent("a", software=frozenset(("maya", rank) for rank in ranks))
    requirement = SoftwareRequirement("maya", minimum, maximum)
    result = run([farm_agent], [job(1, software=(requirement,))])
    assert (job_of(result, "a") == 1) is expected


def test_job_level_software_requirement_is_enforced() -> None:
    # The job type needs blender (met); the job itself also needs a plugin.
    requirements = (
        SoftwareRequirement("blender", 1, None),
        SoftwareRequirement("cycles-x", 1, None),
    )
    without_plugin = agent("a", software=frozenset({("blender", 3)}))
    with_plugin = agent("b", software=frozenset({("blender", 3), ("cycles-x", 1)}))
    result = run([without_plugin, with_plugin], [job(1, software=requirements)])
    assert [assignment.agent_id for assignment in result] == ["b"]


def test_task_never_goes_back_to_an_agent_it_failed_on() -> None:
    failed = TaskSnapshot(1, Decimal(1), failed_on=frozenset({"a"}))
    other = TaskSnapshot(2, Decimal(2))
    result = run([agent("a")], [job(1, tasks=(failed, other))])
    assert result.assignments == (Assignment("a", 1, (2,)),)


def test_job_whose_tasks_all_failed_on_an_agent_leaves_it_to_other_jobs() -> None:
    failed = tasks(1, 2, failed_on=frozenset({"a"}))
    result = run([agent("a")], [job(1, priority=5, tasks=failed), job(2, priority=0)])
    assert job_of(result, "a") == 2


def test_agent_refused_by_one_job_stays_available_to_jobs_alike() -> None:
    # Same requirements, so both jobs draw from one pool of agents.
    failed = tasks(1, failed_on=frozenset({"a"}))
    result = run([agent("a")], [job(1, priority=5, tasks=failed), job(2)])
    assert result.assignments[0].agent_id == "a"
    assert result.assignments[0].job_id == 2


@pytest.mark.parametrize("state", ["paused", "done", "failed"])
def test_job_not_queued_or_running_is_skipped(state: str) -> None:
    assert len(run(agents(2), [job(1, state=state)])) == 0


def test_job_whose_parents_are_not_done_is_skipped() -> None:
    result = run(agents(2), [job(1, parents_done=False, priority=9), job(2)])
    assert set(agents_per_job(result)) == {2}


def test_job_in_an_unknown_queue_is_skipped() -> None:
    assert len(run(agents(2), [job(1, queue_id=99)])) == 0


def test_queues_in_a_parent_cycle_are_skipped() -> None:
    cycle = [QueueSnapshot(1, parent_id=2), QueueSnapshot(2, parent_id=1)]
    assert len(run(agents(2), [job(1, queue_id=1)], cycle)) == 0


def test_specialised_agents_are_kept_for_jobs_that_need_them() -> None:
    farm = [agent("a-gpu", tags=frozenset({"gpu"})), agent("b-plain")]
    result = run(
        farm, [job(1, time_submitted=1), job(2, required_tags=frozenset({"gpu"}))]
    )
    assert job_of(result, "b-plain") == 1
    assert job_of(result, "a-gpu") == 2


# --------------------------------------------------------------------------
# Minimums, priorities, weights
# --------------------------------------------------------------------------


def test_job_below_its_minimum_is_served_before_higher_priorities() -> None:
    result = run(agents(4), [job(1, priority=10), job(2, minimum_agents=3)])
    assert agents_per_job(result) == {2: 3, 1: 1}


def test_minimum_counts_the_agents_a_job_already_has() -> None:
    result = run(
        agents(4),
        [job(1, priority=10), job(2, minimum_agents=3, assigned_agents=2)],
    )
    assert agents_per_job(result) == {2: 1, 1: 3}


def test_queue_below_its_minimum_is_served_before_higher_priorities() -> None:
    queues = [QueueSnapshot(1, minimum_agents=2)]
    result = run(agents(3), [job(1, priority=10), job(2, queue_id=1)], queues)
    assert agents_per_job(result) == {2: 2, 1: 1}


def test_job_minimum_inside_a_low_priority_queue_comes_first() -> None:
    queues = [QueueSnapshot(1, priority=-5)]
    jobs = [job(1, priority=10), job(2, queue_id=1, minimum_agents=2)]
    assert agents_per_job(run(agents(3), jobs, queues)) == {2: 2, 1: 1}


def test_higher_priority_minimum_is_served_first() -> None:
    jobs = [job(1, minimum_agents=2), job(2, minimum_agents=2, priority=1)]
    assert agents_per_job(run(agents(2), jobs)) == {2: 2}


def test_higher_priority_job_takes_every_agent_it_can_use() -> None:
    result = run(agents(5), [job(1, priority=1), job(2, priority=2)])
    assert agents_per_job(result) == {2: 5}


def test_lower_priority_job_gets_only_the_leftovers() -> None:
    result = run(agents(5), [job(1, priority=1), job(2, priority=2, frames=2)])
    assert agents_per_job(result) == {2: 2, 1: 3}


def test_lower_priority_job_gets_agents_the_higher_one_cannot_use() -> None:
    farm = [*agents(2, "gpu", tags=frozenset({"gpu"})), *agents(3, "cpu")]
    jobs = [job(1, priority=9, required_tags=frozenset({"gpu"})), job(2)]
    assert agents_per_job(run(farm, jobs)) == {1: 2, 2: 3}


def test_queue_priority_ranks_against_sibling_jobs() -> None:
    queues = [QueueSnapshot(1, priority=3)]
    result = run(agents(3), [job(1, priority=2), job(2, queue_id=1)], queues)
    assert agents_per_job(result) == {2: 3}


def test_equal_priority_jobs_share_agents_in_proportion_to_weight() -> None:
    result = run(agents(8), [job(1, weight=1), job(2, weight=3)])
    assert agents_per_job(result) == {1: 2, 2: 6}


def test_weight_share_counts_agents_already_assigned() -> None:
    jobs = [job(1, assigned_agents=4, state=RUNNING), job(2)]
    assert agents_per_job(run(agents(4), jobs)) == {2: 4}


def test_running_job_does_not_fill_up_before_an_equal_queued_job() -> None:
    jobs = [job(1, state=RUNNING), job(2)]
    assert agents_per_job(run(agents(6), jobs)) == {1: 3, 2: 3}


def test_equal_priority_queues_share_agents_in_proportion_to_weight() -> None:
    queues = [QueueSnapshot(1, weight=1), QueueSnapshot(2, weight=4)]
    jobs = [job(1, queue_id=1), job(2, queue_id=2), job(3, queue_id=2)]
    result = run(agents(10), jobs, queues)
    per_job = agents_per_job(result)
    assert per_job[1] == 2
    assert per_job[2] + per_job[3] == 8


def test_queue_share_counts_agents_already_busy_in_its_subtree() -> None:
    queues = [QueueSnapshot(1, assigned_agents=3), QueueSnapshot(2)]
    jobs = [job(1, queue_id=1), job(2, queue_id=2)]
    assert agents_per_job(run(agents(5), jobs, queues)) == {2: 4, 1: 1}


def test_prefer_running_jobs_breaks_a_tie_towards_the_running_job() -> None:
    jobs = [job(1, time_submitted=1), job(2, time_submitted=2, state=RUNNING)]
    assert agents_per_job(run(agents(1), jobs)) == {2: 1}


def test_without_prefer_running_jobs_the_older_job_wins_a_tie() -> None:
    jobs = [job(1, time_submitted=1), job(2, time_submitted=2, state=RUNNING)]
    result = run(agents(1), jobs, prefer_running_jobs=False)
    assert agents_per_job(result) == {1: 1}


def test_prefer_running_jobs_does_not_override_the_weight_share() -> None:
    jobs = [job(1), job(2, state=RUNNING, assigned_agents=1)]
    assert agents_per_job(run(agents(1), jobs)) == {1: 1}


def test_lowest_id_wins_a_complete_tie() -> None:
    assert agents_per_job(run(agents(1), [job(7), job(3)])) == {3: 1}


# --------------------------------------------------------------------------
# Caps
# --------------------------------------------------------------------------


def test_job_maximum_caps_its_agents_counting_those_it_has() -> None:
    result = run(agents(5), [job(1, maximum_agents=3, assigned_agents=1)])
    assert agents_per_job(result) == {1: 2}


def test_job_at_its_maximum_leaves_agents_to_lower_priorities() -> None:
    jobs = [job(1, priority=5, maximum_agents=1), job(2)]
    assert agents_per_job(run(agents(3), jobs)) == {1: 1, 2: 2}


def test_queue_maximum_caps_its_whole_subtree_within_the_tick() -> None:
    queues = [QueueSnapshot(1, maximum_agents=3, assigned_agents=1)]
    jobs = [job(1, queue_id=1), job(2, queue_id=1), job(3, priority=-1)]
    per_job = agents_per_job(run(agents(6), jobs, queues))
    assert per_job[1] + per_job[2] == 2
    assert per_job[3] == 4


def test_ancestor_queue_maximum_caps_nested_queues() -> None:
    queues = [
        QueueSnapshot(1, maximum_agents=2),
        QueueSnapshot(2, parent_id=1),
        QueueSnapshot(3, parent_id=1),
    ]
    jobs = [job(1, queue_id=2), job(2, queue_id=3)]
    per_job = agents_per_job(run(agents(6), jobs, queues))
    assert sum(per_job.values()) == 2


def test_queue_already_at_its_maximum_gets_nothing() -> None:
    queues = [QueueSnapshot(1, maximum_agents=2, assigned_agents=2)]
    assert len(run(agents(3), [job(1, queue_id=1)], queues)) == 0


# --------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch", "max_batch", "size"),
    [(4, None, 4), (4, 2, 2), (2, 5, 2), (1, 1, 1)],
)
def test_batch_size_is_the_smaller_of_batch_and_max_batch(
    batch: int, max_batch: int | None, size: int
) -> None:
    result = run([agent("a")], [job(1, batch=batch, max_batch=max_batch)])
    assert len(result.assignments[0].task_ids) == size


def test_batch_is_ordered_by_frame_then_tile() -> None:
    job_tasks = (
        TaskSnapshot(10, Decimal(2), tile=0),
        TaskSnapshot(11, Decimal(1), tile=1),
        TaskSnapshot(12, Decimal(1), tile=0),
    )
    result = run([agent("a")], [job(1, batch=3, tasks=job_tasks)])
    assert result.assignments[0].task_ids == (12, 11, 10)


def test_batch_takes_the_lowest_frames_first() -> None:
    job_tasks = tasks(5, 3, 4, 1)
    result = run([agent("a")], [job(1, batch=2, tasks=job_tasks)])
    frames = {task.id: task.frame for task in job_tasks}
    taken = [frames[task_id] for task_id in result.assignments[0].task_ids]
    assert taken == [Decimal(1), Decimal(3)]


def test_contiguous_batch_stops_at_the_first_gap() -> None:
    job_tasks = tasks(1, 2, 4, 5)
    result = run(
        [agent("a")], [job(1, batch=4, batch_contiguous=True, tasks=job_tasks)]
    )
    assert result.assignments[0].task_ids == (job_tasks[0].id, job_tasks[1].id)


def test_contiguous_batch_follows_the_job_step() -> None:
    job_tasks = tasks("1.5", 3, "4.5", 7)
    result = run(
        [agent("a")],
        [job(1, batch=4, by=Decimal("1.5"), batch_contiguous=True, tasks=job_tasks)],
    )
    assert result.assignments[0].task_ids == tuple(task.id for task in job_tasks[:3])


def test_non_contiguous_batch_spans_gaps() -> None:
    job_tasks = tasks(1, 2, 4, 5)
    result = run([agent("a")], [job(1, batch=4, tasks=job_tasks)])
    assert len(result.assignments[0].task_ids) == 4


def test_batch_skips_tasks_failed_on_its_agent() -> None:
    job_tasks = (
        TaskSnapshot(1, Decimal(1)),
        TaskSnapshot(2, Decimal(2), failed_on=frozenset({"a"})),
        TaskSnapshot(3, Decimal(3)),
    )
    result = run([agent("a")], [job(1, batch=3, tasks=job_tasks)])
    assert result.assignments[0].task_ids == (1, 3)


def test_contiguous_batch_stops_at_a_task_failed_on_its_agent() -> None:
    job_tasks = (
        TaskSnapshot(1, Decimal(1)),
        TaskSnapshot(2, Decimal(2), failed_on=frozenset({"a"})),
        TaskSnapshot(3, Decimal(3)),
    )
    result = run(
        [agent("a"), agent("b")],
        [job(1, batch=3, batch_contiguous=True, tasks=job_tasks)],
    )
    assert result.assignments == (
        Assignment("a", 1, (1,)),
        Assignment("b", 1, (2, 3)),
    )


def test_next_agent_continues_where_the_previous_batch_ended() -> None:
    result = run(agents(3), [job(1, frames=5, batch=2)])
    assert [len(assignment.task_ids) for assignment in result] == [2, 2, 1]


# --------------------------------------------------------------------------
# Invariants and determinism
# --------------------------------------------------------------------------


def test_no_task_is_given_twice() -> None:
    shared = TaskSnapshot(1, Decimal(1))
    result = run(agents(4), [job(1, tasks=(shared, shared)), job(2, tasks=(shared,))])
    assert [assignment.task_ids for assignment in result] == [(1,)]


def test_agent_gets_at_most_one_assignment() -> None:
    result = run([agent("a"), agent("a")], [job(1), job(2)])
    assert [assignment.agent_id for assignment in result] == ["a"]


def test_agents_are_given_once_across_jobs_of_different_needs() -> None:
    jobs = [job(1, ram=1024), job(2, cpus=2), job(3)]
    result = run(agents(5), jobs)
    assert sorted(assignment.agent_id for assignment in result) == [
        f"a{number:02}" for number in range(5)
    ]


def test_every_agent_gets_work_while_work_remains() -> None:
    result = run(agents(6), [job(1, frames=3), job(2, frames=3)])
    assert len(result) == 6


def test_synthetic_farm_plan_obeys_every_rule() -> None:
    snapshot = synthetic_snapshot(agent_count=200, job_count=50, tasks_per_job=20)
    result = plan(snapshot)
    assert len(result) > 100
    assert_plan_obeys_rules(snapshot, result)


def test_same_snapshot_gives_the_same_plan() -> None:
    snapshot = synthetic_snapshot(agent_count=100, job_count=30, tasks_per_job=10)
    assert plan(snapshot) == plan(snapshot)


def test_shuffled_snapshot_gives_the_same_plan() -> None:
    snapshot = synthetic_snapshot(agent_count=100, job_count=30, tasks_per_job=10)
    assert plan(shuffled(snapshot, seed=1)) == plan(snapshot)
