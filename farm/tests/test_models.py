"""Models: validation from models.yml, transitions, queue paths, choices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from farm.choices import (
    AgentState,
    OperatingSystem,
    UseAddress,
    WorkState,
    legacy_code,
    parse_choice,
)
from farm.models import (
    Agent,
    AgentMacAddress,
    Job,
    JobQueue,
    JobTypeSoftwareRequirement,
    Task,
)
from farm.services import frame_range, unpause_jobs
from farm.tests.factories import (
    AgentDiskFactory,
    AgentFactory,
    AgentMacAddressFactory,
    JobFactory,
    JobQueueFactory,
    JobTypeFactory,
    JobTypeVersionFactory,
    SoftwareFactory,
    SoftwareVersionFactory,
    TagFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


def _errors(obj: object) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as info:
        obj.full_clean()  # type: ignore[attr-defined]
    return info.value.message_dict


# --- choices -------------------------------------------------------------


@pytest.mark.parametrize(
    ("enum", "value", "expected"),
    [
        (WorkState, "running", WorkState.RUNNING),
        (WorkState, "DONE", WorkState.DONE),
        (WorkState, 100, WorkState.PAUSED),
        (WorkState, 107, WorkState.FAILED),
        (WorkState, "106", WorkState.DONE),
        (WorkState, None, WorkState.QUEUED),
        (AgentState, 202, AgentState.ONLINE),
        (AgentState, 200, AgentState.DISABLED),
        (UseAddress, 311, UseAddress.REMOTE),
        (UseAddress, "passive", UseAddress.PASSIVE),
        (OperatingSystem, 304, OperatingSystem.BSD),
        (OperatingSystem, "mac", OperatingSystem.MAC),
    ],
)
def test_choices_accept_names_and_original_codes(enum, value, expected) -> None:
    assert parse_choice(enum, value) == expected


@pytest.mark.parametrize("value", ["sleeping", 999, True, 1.5, None])
def test_choices_refuse_unknown_values(value: object) -> None:
    with pytest.raises(ValueError, match="online"):
        parse_choice(AgentState, value)


def test_legacy_codes_round_trip() -> None:
    assert legacy_code(WorkState, WorkState.RUNNING) == 105
    assert legacy_code(WorkState, WorkState.QUEUED) is None
    assert legacy_code(AgentState, AgentState.RUNNING) == 203


# --- agents ----------------------------------------------------------------


def test_a_valid_agent_passes_validation() -> None:
    AgentFactory.build(hostname="render01.example.com").full_clean()


def test_windows_host_names_with_underscores_are_valid() -> None:
    AgentFactory.build(hostname="RENDER_01.studio.local").full_clean()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cpus", 0),
        ("cpus", 257),
        ("ram", 8),
        ("ram", 262145),
        ("port", 80),
        ("port", 70000),
        ("hostname", "bad host"),
        ("hostname", "-leading.example.com"),
        ("hostname", "a" * 64 + ".example.com"),
        ("remote_ip", "not-an-ip"),
        ("remote_ip", "127.0.0.1"),
        ("remote_ip", "0.0.0.0"),
        ("remote_ip", "224.0.0.1"),
        ("ram_allocation", 1.5),
        ("cpu_allocation", 0),
        ("os_fullname", "x" * 129),
        ("cpu_name", "x" * 129),
    ],
)
def test_agent_validation_names_the_field(field: str, value: object) -> None:
    agent = AgentFactory.build(**{field: value})
    assert field in _errors(agent)


def test_loopback_agents_are_accepted_when_configured(farm_config) -> None:
    farm_config(allow_agents_from_loopback=True)
    AgentFactory.build(remote_ip="127.0.0.1", hostname="127.0.0.1").full_clean()


def test_agent_ranges_follow_the_configuration(farm_config) -> None:
    farm_config(agent_max_cpus=1024)
    AgentFactory.build(cpus=512).full_clean()


def test_loopback_error_says_how_to_allow_it() -> None:
    errors = _errors(AgentFactory.build(remote_ip="127.0.0.1"))
    assert "allow_agents_from_loopback" in errors["remote_ip"][0]


def test_agent_defaults_come_from_the_configuration(farm_config) -> None:
    farm_config(agent_ram_allocation=0.5, agent_cpu_allocation=0.75)
    agent = Agent(hostname="a", port=50000, cpus=1, ram=1024, free_ram=512)
    assert (agent.ram_allocation, agent.cpu_allocation) == (0.5, 0.75)
    assert agent.state == AgentState.ONLINE
    assert agent.use_address == UseAddress.REMOTE


@pytest.mark.parametrize(
    ("use_address", "expected"),
    [
        (UseAddress.REMOTE, "http://10.1.2.3:50000/api/v1"),
        (UseAddress.LOCAL, "http://10.1.2.3:50000/api/v1"),
        (UseAddress.HOSTNAME, "http://render01:50000/api/v1"),
    ],
)
def test_agent_api_url_follows_use_address(use_address: str, expected: str) -> None:
    agent = AgentFactory.build(
        hostname="render01", remote_ip="10.1.2.3", use_address=use_address
    )
    assert agent.api_url() == expected


def test_passive_agents_have_no_api_url() -> None:
    agent = AgentFactory.build(use_address=UseAddress.PASSIVE)
    with pytest.raises(ValueError, match="passive"):
        agent.api_url()


def test_disable_and_enable_agent() -> None:
    agent = AgentFactory(running=True)
    assert agent.disable() is True
    assert agent.state == AgentState.DISABLED
    assert agent.disable() is False
    assert agent.enable() is True
    assert agent.state == AgentState.ONLINE
    assert agent.enable() is False


def test_request_restart_and_heard_from() -> None:
    agent = AgentFactory()
    agent.request_restart()
    agent.mark_heard_from()
    agent.refresh_from_db()
    assert agent.restart_requested is True
    assert agent.last_heard_from is not None


def test_available_agents_are_online_or_running() -> None:
    online, running = AgentFactory(), AgentFactory(running=True)
    AgentFactory(offline=True)
    AgentFactory(disabled=True)
    assert set(Agent.objects.available()) == {online, running}


def test_mac_addresses_are_normalised() -> None:
    mac = AgentMacAddressFactory.build(
        agent=AgentFactory(), mac_address="02-95-A1-86-4B-03"
    )
    mac.full_clean()
    assert mac.mac_address == "02:95:a1:86:4b:03"
    assert AgentMacAddress.normalize("0295.a186.4b03") == "02:95:a1:86:4b:03"


def test_bad_mac_address_names_the_field() -> None:
    mac = AgentMacAddressFactory.build(agent=AgentFactory(), mac_address="zz:zz")
    assert "mac_address" in _errors(mac)


def test_mac_address_is_unique_per_agent() -> None:
    mac = AgentMacAddressFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        AgentMacAddressFactory(agent=mac.agent, mac_address=mac.mac_address)


def test_disk_sizes_are_validated() -> None:
    disk = AgentDiskFactory.build(agent=AgentFactory(), size=-1, free=-1)
    assert {"size", "free"} <= set(_errors(disk))


# --- software, tags, job types --------------------------------------------


def test_tag_length_follows_the_configuration(farm_config) -> None:
    farm_config(max_tag_length=5)
    assert "tag" in _errors(TagFactory.build(tag="toolong"))


def test_software_version_rank_is_unique_per_software() -> None:
    version = SoftwareVersionFactory(rank=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        SoftwareVersionFactory(software=version.software, rank=3, version="other")


def test_discovery_code_needs_a_function_name() -> None:
    version = SoftwareVersionFactory.build(
        software=SoftwareFactory(), discovery_code="def f(): return True"
    )
    assert "discovery_function_name" in _errors(version)


def test_requirement_bounds_belong_to_the_software() -> None:
    software = SoftwareFactory()
    other = SoftwareVersionFactory()
    requirement = JobTypeSoftwareRequirement(
        jobtype_version=JobTypeVersionFactory(), software=software, min_version=other
    )
    assert "min_version" in _errors(requirement)


def test_requirement_min_must_not_exceed_max() -> None:
    low = SoftwareVersionFactory(rank=1)
    high = SoftwareVersionFactory(software=low.software, rank=2)
    requirement = JobTypeSoftwareRequirement(
        jobtype_version=JobTypeVersionFactory(),
        software=low.software,
        min_version=high,
        max_version=low,
    )
    assert "max_version" in _errors(requirement)


def test_jobtype_version_defaults_come_from_the_configuration(farm_config) -> None:
    farm_config(job_type_max_batch=4, job_type_batch_contiguous=False)
    version = JobTypeVersionFactory()
    assert (version.max_batch, version.batch_contiguous) == (4, False)


def test_jobtype_name_is_limited() -> None:
    assert "name" in _errors(JobTypeFactory.build(name="x" * 65))


# --- queues ----------------------------------------------------------------


def test_queue_fullpath_follows_the_tree() -> None:
    root = JobQueueFactory(name="studio")
    child = JobQueueFactory(name="lighting", parent=root)
    leaf = JobQueueFactory(name="hero", parent=child)
    assert (root.fullpath, child.fullpath, leaf.fullpath) == (
        "studio",
        "studio/lighting",
        "studio/lighting/hero",
    )


def test_renaming_a_queue_rewrites_the_paths_below_it() -> None:
    root = JobQueueFactory(name="studio")
    child = JobQueueFactory(name="lighting", parent=root)
    leaf = JobQueueFactory(name="hero", parent=child)
    other = JobQueueFactory(name="studio-old")
    root.name = "facility"
    root.save()
    child.refresh_from_db()
    leaf.refresh_from_db()
    other.refresh_from_db()
    assert child.fullpath == "facility/lighting"
    assert leaf.fullpath == "facility/lighting/hero"
    assert other.fullpath == "studio-old"


def test_moving_a_queue_rewrites_the_paths_below_it() -> None:
    a, b = JobQueueFactory(name="a"), JobQueueFactory(name="b")
    child = JobQueueFactory(name="child", parent=a)
    leaf = JobQueueFactory(name="leaf", parent=child)
    child.parent = b
    child.save()
    leaf.refresh_from_db()
    assert leaf.fullpath == "b/child/leaf"


def test_queue_names_are_unique_among_siblings() -> None:
    root = JobQueueFactory(name="root")
    JobQueueFactory(name="x", parent=root)
    JobQueueFactory(name="x", parent=JobQueueFactory(name="elsewhere"))
    duplicate = JobQueue(name="x", parent=root)
    assert "__all__" in _errors(duplicate)


def test_top_level_queue_names_are_unique() -> None:
    JobQueueFactory(name="root")
    assert "__all__" in _errors(JobQueue(name="root"))


def test_a_queue_cannot_be_its_own_ancestor() -> None:
    root = JobQueueFactory(name="root")
    child = JobQueueFactory(name="child", parent=root)
    root.parent = child
    assert "parent" in _errors(root)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "a/b"}, "name"),
        ({"name": "  "}, "name"),
        ({"priority": 1001}, "priority"),
        ({"minimum_agents": 5, "maximum_agents": 2}, "maximum_agents"),
    ],
)
def test_queue_validation_names_the_field(fields: dict, field: str) -> None:
    assert field in _errors(JobQueue(**{"name": "q", **fields}))


def test_queue_defaults_come_from_the_configuration(farm_config) -> None:
    farm_config(queue_default_priority=5, queue_default_weight=7)
    queue = JobQueueFactory()
    assert (queue.priority, queue.weight) == (5, 7)


def test_queue_with_children_cannot_be_deleted() -> None:
    from django.db.models import ProtectedError

    root = JobQueueFactory()
    JobQueueFactory(parent=root)
    with pytest.raises(ProtectedError):
        root.delete()


# --- jobs ------------------------------------------------------------------


def test_job_defaults_come_from_the_configuration(farm_config) -> None:
    farm_config(
        job_default_batch=2,
        job_requeue_default=5,
        job_default_cpus=4,
        job_default_ram=2048,
        queue_default_weight=3,
    )
    job = JobFactory()
    assert (job.batch, job.requeue, job.cpus, job.ram, job.weight) == (2, 5, 4, 2048, 3)
    assert job.state == WorkState.QUEUED


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"by": Decimal(0)}, "by"),
        ({"start": Decimal(10), "end": Decimal(1)}, "end"),
        ({"priority": -1001}, "priority"),
        ({"batch": 0}, "batch"),
        ({"requeue": -2}, "requeue"),
        ({"cpus": 300}, "cpus"),
        ({"ram": 4}, "ram"),
        ({"ram_warning": 500, "ram_max": 100}, "ram_warning"),
        ({"minimum_agents": 3, "maximum_agents": 1}, "maximum_agents"),
        ({"title": "x" * 256}, "title"),
        ({"title": "   "}, "title"),
        ({"num_tiles": 0}, "num_tiles"),
    ],
)
def test_job_validation_names_the_field(fields: dict, field: str) -> None:
    assert field in _errors(JobFactory.build(**fields))


@pytest.mark.parametrize("value", [0, -1])
def test_job_resources_accept_the_special_values(value: int) -> None:
    JobFactory.build(
        cpus=value, ram=value, jobtype_version=JobTypeVersionFactory()
    ).full_clean()


def test_job_pause_and_unpause() -> None:
    job = JobFactory()
    TaskFactory(job=job, running=True)
    assert job.pause() is True
    assert job.state == WorkState.PAUSED
    assert job.pause() is False
    assert unpause_jobs(jobs=Job.objects.filter(pk=job.pk)) == 1
    job.refresh_from_db()
    assert job.state == WorkState.RUNNING


def test_a_finished_job_is_not_paused() -> None:
    job = JobFactory(state=WorkState.DONE)
    assert job.pause() is False
    assert job.state == WorkState.DONE


def test_job_dependencies_are_directed() -> None:
    parent, child = JobFactory(), JobFactory()
    child.parents.add(parent)
    assert list(parent.children.all()) == [child]
    assert list(parent.parents.all()) == []
    assert list(child.parent_ids()) == [parent.pk]


def test_job_exposes_its_jobtype_name() -> None:
    job = JobFactory(jobtype_version__jobtype__name="Blender")
    assert job.jobtype == "Blender"


def test_job_frames() -> None:
    job = JobFactory.build(start=Decimal(1), end=Decimal(2), by=Decimal("0.5"))
    assert frame_range(job.start, job.end, job.by) == [
        Decimal("1"),
        Decimal("1.5"),
        Decimal("2"),
    ]


# --- tasks -----------------------------------------------------------------


def test_running_counts_an_attempt_once() -> None:
    task = TaskFactory()
    assert task.mark_running() is True
    assert (task.state, task.attempts) == (WorkState.RUNNING, 1)
    assert task.time_started is not None
    assert task.mark_running() is False
    assert task.attempts == 1


def test_done_sets_progress_clears_error_and_records_agent_success() -> None:
    agent = AgentFactory()
    task = TaskFactory(agent=agent, last_error="old")
    task.mark_running()
    assert task.mark_done() is True
    agent.refresh_from_db()
    assert (task.state, task.progress, task.last_error) == (WorkState.DONE, 1.0, None)
    assert task.time_finished is not None
    assert agent.last_success_on == task.time_finished


def test_done_before_running_counts_the_attempt_the_agent_ran() -> None:
    """0.8.6 sends "done" and "running" concurrently; "done" may come first."""
    task = TaskFactory(agent=AgentFactory(), sent_to_agent=True)
    assert task.mark_done() is True
    assert (task.state, task.attempts) == (WorkState.DONE, 1)
    assert task.mark_running() is False
    assert task.attempts == 1


def test_failed_before_running_counts_the_attempt_the_agent_ran() -> None:
    task = TaskFactory(agent=AgentFactory(), sent_to_agent=True, job__requeue=0)
    assert task.mark_failed("exit 3") is True
    assert (task.state, task.attempts, task.failures) == (WorkState.FAILED, 1, 1)


def test_ending_a_queued_task_without_an_agent_counts_no_attempt() -> None:
    task = TaskFactory(agent=None)
    assert task.mark_done() is True
    assert (task.state, task.attempts) == (WorkState.DONE, 0)


def test_ending_a_running_task_counts_its_attempt_once() -> None:
    task = TaskFactory(agent=AgentFactory())
    task.mark_running()
    task.mark_done()
    assert task.attempts == 1


def test_a_late_running_does_not_regress_a_done_task() -> None:
    task = TaskFactory()
    task.mark_running()
    task.mark_done()
    assert task.mark_running() is False
    assert (task.state, task.attempts, task.progress) == (WorkState.DONE, 1, 1.0)


def test_a_late_running_does_not_regress_a_failed_task() -> None:
    task = TaskFactory(job__requeue=0)
    task.mark_running()
    task.mark_failed("boom")
    assert task.mark_running() is False
    assert task.state == WorkState.FAILED


def test_failed_without_requeue_counts_a_failure_and_stays_failed() -> None:
    agent = AgentFactory()
    task = TaskFactory(job__requeue=0, agent=agent)
    task.mark_running()
    assert task.mark_failed("exit code 1") is True
    assert (task.state, task.failures, task.last_error) == (
        WorkState.FAILED,
        1,
        "exit code 1",
    )
    assert task.time_finished is not None
    assert list(task.failed_in_agents.all()) == [agent]


def test_failed_tasks_are_requeued_while_the_job_allows() -> None:
    agent = AgentFactory()
    task = TaskFactory(job__requeue=2, agent=agent)
    for failure in (1, 2):
        task.mark_running()
        task.mark_failed()
        assert (task.state, task.failures, task.agent) == (
            WorkState.QUEUED,
            failure,
            None,
        )
    task.mark_running()
    task.mark_failed()
    assert (task.state, task.failures, task.attempts) == (WorkState.FAILED, 3, 3)


def test_requeue_forever() -> None:
    task = TaskFactory(job__requeue=-1)
    for _ in range(5):
        task.mark_running()
        task.mark_failed()
    assert (task.state, task.failures) == (WorkState.QUEUED, 5)


def test_requeue_gives_a_task_back_without_a_failure() -> None:
    task = TaskFactory(running=True, sent_to_agent=True)
    assert task.requeue() is True
    assert (task.state, task.agent, task.sent_to_agent, task.failures) == (
        WorkState.QUEUED,
        None,
        False,
        0,
    )


def test_done_tasks_are_not_requeued() -> None:
    task = TaskFactory(done=True)
    assert task.requeue() is False
    assert task.state == WorkState.DONE


def test_rerun_resets_everything_but_attempts() -> None:
    task = TaskFactory(failed=True, last_error="x", attempts=2)
    assert task.rerun() is True
    assert (task.state, task.failures, task.last_error, task.attempts) == (
        WorkState.QUEUED,
        0,
        None,
        2,
    )


def test_rerun_leaves_running_tasks_alone() -> None:
    task = TaskFactory(running=True)
    assert task.rerun() is False
    assert task.state == WorkState.RUNNING


def test_progress_is_ignored_after_the_attempt_ended() -> None:
    open_task, done_task = TaskFactory(running=True), TaskFactory(done=True)
    assert Task.objects.filter(pk=open_task.pk).set_progress(0.5) == 1
    assert Task.objects.filter(pk=done_task.pk).set_progress(0.5) == 0
    done_task.refresh_from_db()
    assert done_task.progress == 1.0


def test_progress_outside_0_and_1_is_refused_by_the_database() -> None:
    task = TaskFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(progress=1.5)


def test_runnable_tasks_exclude_paused_hidden_and_deleted_jobs() -> None:
    runnable = TaskFactory()
    TaskFactory(job__state=WorkState.PAUSED)
    TaskFactory(job__hidden=True)
    TaskFactory(job__to_be_deleted=True)
    TaskFactory(hidden=True)
    TaskFactory(done=True)
    assert list(Task.objects.runnable()) == [runnable]


def test_string_forms() -> None:
    task = TaskFactory(frame=Decimal("12.5000"), tile=2)
    assert str(task) == f"{task.job_id}: frame 12.5 tile 2"
    assert str(TaskFactory(frame=Decimal("10.0000"))).endswith(": frame 10")
    assert str(TaskFactory(frame=Decimal("100.0000"))).endswith(": frame 100")
    assert str(JobQueueFactory(name="q")) == "q"
    assert str(AgentFactory(hostname="h", port=50000)) == "h:50000"
    assert str(Job(title="t")) == "t"


# --- Job lookups by id or title -------------------------------------------------


def test_jobs_are_found_by_id() -> None:
    job = JobFactory.create(title="shot 010")
    assert Job.objects.by_id_or_title(str(job.pk)) == job


def test_jobs_are_found_by_title() -> None:
    job = JobFactory.create(title="shot 010")
    assert Job.objects.only("pk", "title").by_id_or_title("shot 010") == job


def test_a_number_that_is_no_id_is_tried_as_a_title() -> None:
    job = JobFactory.create(title="987654")
    assert Job.objects.by_id_or_title("987654") == job


def test_an_unknown_job_is_does_not_exist() -> None:
    with pytest.raises(Job.DoesNotExist, match="job 'nothing' not found"):
        Job.objects.by_id_or_title("nothing")
