"""The explainer: each constraint that keeps a job from agents, and the command."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from farm.choices import WorkState
from farm.models import Job, JobSoftwareRequirement, JobTypeSoftwareRequirement, Task
from farm.services import create_job
from farm.tests.factories import (
    AgentFactory,
    JobQueueFactory,
    JobTypeVersionFactory,
    SoftwareFactory,
    SoftwareVersionFactory,
    TagFactory,
)
from scheduling.explain import Blocker, Constraint, Explanation, explain
from scheduling.snapshot import load_snapshot

pytestmark = pytest.mark.django_db


def make_job(title: str = "job", frames: int = 3, **fields: Any) -> Job:
    """A job with one queued task per frame 1..frames."""
    version = fields.pop("jobtype_version", None) or JobTypeVersionFactory.create()
    return create_job(
        jobtype_version=version, title=title, start=1, end=frames, **fields
    )


def blockers(result: Explanation) -> dict[str, Blocker]:
    """The blocking constraints by name."""
    return {blocker.constraint: blocker for blocker in result.blocking}


def occupy(agent: Any, job: Job) -> None:
    """Give the agent one of the job's queued tasks, so it is busy on the job."""
    task = Task.objects.filter(job=job, agent__isnull=True).order_by("frame").first()
    assert task is not None
    Task.objects.filter(pk=task.pk).update(agent=agent, state=WorkState.RUNNING)


def test_a_runnable_job_has_no_blocking_reasons_and_counts_eligible_agents() -> None:
    AgentFactory.create_batch(3)
    job = make_job(frames=4)

    result = explain(job.pk)

    assert result.blocking == []
    assert result.idle_agents == 3
    assert result.eligible_agents == 3
    assert result.runnable_tasks == 4
    assert result.state == WorkState.QUEUED


def test_it_reads_the_tasks_of_its_own_job_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Other runnable jobs are never loaded (a farm of millions of tasks)."""
    AgentFactory.create()
    job = make_job(frames=2)
    make_job(title="other", frames=50)
    loaded: list[Any] = []

    def load(**kwargs: Any) -> Any:
        snapshot = load_snapshot(**kwargs)
        loaded.append(snapshot)
        return snapshot

    monkeypatch.setattr("scheduling.explain.load_snapshot", load)
    result = explain(job.pk)
    assert result.runnable_tasks == 2
    (snapshot,) = loaded
    assert [entry.id for entry in snapshot.jobs] == [job.pk]


def test_a_farm_without_agents_says_no_agent_can_run_the_job() -> None:
    job = make_job(frames=2)

    result = explain(job.pk)

    assert result.blocking == [
        Blocker(
            Constraint.NO_IDLE_AGENTS,
            0,
            "no agent can run it: no agent has registered with this master",
        )
    ]
    assert result.eligible_agents == 0


def test_a_farm_without_idle_agents_says_why_none_can_run_the_job() -> None:
    other = make_job(title="other", frames=1)
    occupy(AgentFactory.create(running=True), other)
    AgentFactory.create_batch(2, offline=True)
    AgentFactory.create(disabled=True)
    job = make_job(frames=2)

    result = explain(job.pk)

    assert result.blocking == [
        Blocker(
            Constraint.NO_IDLE_AGENTS,
            0,
            "no agent can run it now: none is idle (1 busy, 2 offline, 1 disabled)",
        )
    ]


def test_the_command_does_not_say_nothing_blocks_a_job_without_agents() -> None:
    job = make_job()
    out = StringIO()

    call_command("explain_job", str(job.pk), stdout=out)

    assert "nothing blocks this job" not in out.getvalue()
    assert "- no_idle_agents: rules out 0 idle agents; no agent can run it" in (
        out.getvalue()
    )


def test_it_counts_busy_offline_and_disabled_agents() -> None:
    AgentFactory.create()
    busy = AgentFactory.create(running=True)
    AgentFactory.create_batch(2, offline=True)
    AgentFactory.create(disabled=True)
    job = make_job(frames=3)
    occupy(busy, job)

    result = explain(job.pk)

    assert (result.idle_agents, result.busy_agents) == (1, 1)
    assert (result.offline_agents, result.disabled_agents) == (2, 1)
    assert result.assigned_agents == 1


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"state": WorkState.PAUSED}, "paused"),
        ({"hidden": True}, "hidden"),
        ({"to_be_deleted": True}, "deleted"),
        ({"state": WorkState.DONE}, "done"),
        ({"state": WorkState.FAILED}, "failed"),
    ],
)
def test_a_job_the_planner_skips_is_blocked_by_its_state(
    fields: dict[str, Any], detail: str
) -> None:
    AgentFactory.create_batch(2)
    job = make_job()
    Job.objects.filter(pk=job.pk).update(**fields)

    result = explain(job.pk)

    assert [blocker.constraint for blocker in result.blocking] == [Constraint.STATE]
    assert result.blocking[0].agents_ruled_out == 2
    assert detail in result.blocking[0].detail
    assert result.eligible_agents == 0


def test_unfinished_parents_block_the_job_and_are_named() -> None:
    AgentFactory.create_batch(2)
    done_parent = make_job("finished parent")
    Job.objects.filter(pk=done_parent.pk).update(state=WorkState.DONE)
    open_parent = make_job("open parent")
    job = make_job(parents=[done_parent, open_parent])

    result = explain(job.pk)

    (blocker,) = result.blocking
    assert blocker.constraint == Constraint.DEPENDENCIES
    assert blocker.agents_ruled_out == 2
    assert "open parent" in blocker.detail
    assert "finished parent" not in blocker.detail


def test_the_jobs_reached_maximum_rules_out_every_idle_agent() -> None:
    busy, *_ = AgentFactory.create_batch(3)
    job = make_job(maximum_agents=1)
    occupy(busy, job)

    result = explain(job.pk)

    assert blockers(result)[Constraint.QUEUE_MAXIMUM].agents_ruled_out == 2
    assert "maximum_agents is 1" in blockers(result)[Constraint.QUEUE_MAXIMUM].detail
    assert result.eligible_agents == 0


def test_an_ancestor_queues_reached_maximum_blocks_the_job() -> None:
    top = JobQueueFactory.create(name="top", maximum_agents=1)
    child = JobQueueFactory.create(name="child", parent=top)
    busy, _ = AgentFactory.create_batch(2)
    occupy(busy, make_job("other", queue=child))
    job = make_job(queue=child)

    result = explain(job.pk)

    blocker = blockers(result)[Constraint.QUEUE_MAXIMUM]
    assert f"queue {top.pk}" in blocker.detail
    assert blocker.agents_ruled_out == 1


def test_cpus_rule_out_agents_with_too_few() -> None:
    AgentFactory.create(cpus=2)
    AgentFactory.create(cpus=16)
    job = make_job(cpus=8)

    result = explain(job.pk)

    assert list(blockers(result)) == [Constraint.CPUS]
    assert blockers(result)[Constraint.CPUS].agents_ruled_out == 1
    assert result.eligible_agents == 1


def test_ram_rules_out_agents_with_too_little_free() -> None:
    AgentFactory.create(ram=4096, free_ram=2000)
    AgentFactory.create_batch(2, ram=65536, free_ram=60000)
    job = make_job(ram=8000)

    result = explain(job.pk)

    assert list(blockers(result)) == [Constraint.RAM]
    assert blockers(result)[Constraint.RAM].agents_ruled_out == 1
    assert result.eligible_agents == 2


def test_a_missing_required_tag_rules_out_agents() -> None:
    gpu = TagFactory.create(tag="gpu")
    AgentFactory.create().tags.add(gpu)
    AgentFactory.create_batch(2)
    job = make_job(tag_requirements=[(gpu, False)])

    result = explain(job.pk)

    assert list(blockers(result)) == [Constraint.REQUIRED_TAGS]
    assert blockers(result)[Constraint.REQUIRED_TAGS].agents_ruled_out == 2
    assert "gpu" in blockers(result)[Constraint.REQUIRED_TAGS].detail


def test_a_present_forbidden_tag_rules_out_agents() -> None:
    windows = TagFactory.create(tag="windows")
    AgentFactory.create().tags.add(windows)
    AgentFactory.create()
    job = make_job(tag_requirements=[(windows, True)])

    result = explain(job.pk)

    assert list(blockers(result)) == [Constraint.FORBIDDEN_TAGS]
    assert blockers(result)[Constraint.FORBIDDEN_TAGS].agents_ruled_out == 1


def test_job_and_jobtype_software_requirements_rule_out_agents() -> None:
    maya, nuke = (
        SoftwareFactory.create(software="maya"),
        SoftwareFactory.create(software="nuke"),
    )
    maya_2024 = SoftwareVersionFactory.create(software=maya, version="2024", rank=2024)
    nuke_15 = SoftwareVersionFactory.create(software=nuke, version="15", rank=15)
    version = JobTypeVersionFactory.create()
    JobTypeSoftwareRequirement.objects.create(jobtype_version=version, software=maya)
    both = AgentFactory.create()
    both.software_versions.add(maya_2024, nuke_15)
    AgentFactory.create().software_versions.add(maya_2024)  # lacks the job's nuke
    AgentFactory.create().software_versions.add(nuke_15)  # lacks the jobtype's maya
    job = make_job(
        jobtype_version=version,
        software_requirements=[JobSoftwareRequirement(software=nuke)],
    )

    result = explain(job.pk)

    assert list(blockers(result)) == [Constraint.SOFTWARE]
    assert blockers(result)[Constraint.SOFTWARE].agents_ruled_out == 2
    assert result.eligible_agents == 1


def test_agents_every_runnable_task_failed_on_are_ruled_out() -> None:
    failed, other, _ = AgentFactory.create_batch(3)
    job = make_job(frames=2)
    tasks = list(Task.objects.filter(job=job).order_by("frame"))
    tasks[0].failed_in_agents.set([failed, other])
    tasks[1].failed_in_agents.set([failed])

    result = explain(job.pk)

    assert list(blockers(result)) == [Constraint.FAILED_ON]
    assert blockers(result)[Constraint.FAILED_ON].agents_ruled_out == 1
    assert result.eligible_agents == 2


def test_a_job_with_no_runnable_task_is_blocked() -> None:
    AgentFactory.create()
    busy = AgentFactory.create()
    job = make_job(frames=1)
    occupy(busy, job)

    result = explain(job.pk)

    assert list(blockers(result)) == [Constraint.NO_RUNNABLE_TASKS]
    assert blockers(result)[Constraint.NO_RUNNABLE_TASKS].agents_ruled_out == 1
    assert result.runnable_tasks == 0
    assert result.eligible_agents == 0


def test_an_unknown_job_raises_does_not_exist() -> None:
    with pytest.raises(Job.DoesNotExist):
        explain(999_999)


def test_the_command_prints_each_blocking_constraint() -> None:
    AgentFactory.create(cpus=2)
    job = make_job("shot 010", cpus=8)
    out = StringIO()

    call_command("explain_job", str(job.pk), stdout=out)

    text = out.getvalue()
    assert f"job {job.pk} (shot 010): queued, 3 runnable tasks" in text
    assert "- cpus: rules out 1 idle agents; needs 8 free cpus" in text
    assert "0 idle agents could take it now" in text


def test_the_command_says_when_nothing_blocks_the_job() -> None:
    AgentFactory.create()
    job = make_job()
    out = StringIO()

    call_command("explain_job", str(job.pk), stdout=out)

    assert "nothing blocks this job" in out.getvalue()
    assert "1 idle agents could take it now" in out.getvalue()


def test_the_command_rejects_an_unknown_job() -> None:
    with pytest.raises(CommandError, match="job '999999' not found"):
        call_command("explain_job", "999999")


def test_the_command_finds_a_job_by_its_title() -> None:
    AgentFactory.create(cpus=2)
    job = make_job("shot 020", cpus=8)
    out = StringIO()

    call_command("explain_job", "shot 020", stdout=out)

    assert f"job {job.pk} (shot 020): queued" in out.getvalue()


def test_the_command_takes_a_number_as_an_id_first_then_as_a_title() -> None:
    other = make_job("other")
    numbered = make_job(str(other.pk + 1000))
    out = StringIO()

    call_command("explain_job", str(other.pk), stdout=out)
    call_command("explain_job", str(other.pk + 1000), stdout=out)

    lines = [line for line in out.getvalue().splitlines() if line.startswith("job ")]
    assert lines[0].startswith(f"job {other.pk} (other)")
    assert lines[1].startswith(f"job {numbered.pk} ({numbered.title})")


def test_the_command_rejects_an_unknown_title() -> None:
    with pytest.raises(CommandError, match="job 'no such shot' not found"):
        call_command("explain_job", "no such shot")
