"""factory_boy factories for the farm's models."""

from __future__ import annotations

import uuid
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from farm.choices import AgentState, WorkState
from farm.models import (
    GPU,
    Agent,
    AgentDisk,
    AgentMacAddress,
    Job,
    JobGroup,
    JobQueue,
    JobType,
    JobTypeVersion,
    PathMap,
    Software,
    SoftwareVersion,
    Tag,
    Task,
    TaskLog,
    TaskTaskLogAssociation,
)


class TagFactory(DjangoModelFactory[Tag]):
    class Meta:
        model = Tag
        django_get_or_create = ("tag",)

    tag = factory.Sequence(lambda n: f"tag{n}")


class PathMapFactory(DjangoModelFactory[PathMap]):
    class Meta:
        model = PathMap

    path_linux = "/mnt/projects/"
    path_windows = "P:\\"
    path_osx = "/Volumes/projects/"


class SoftwareFactory(DjangoModelFactory[Software]):
    class Meta:
        model = Software

    software = factory.Sequence(lambda n: f"software{n}")


class SoftwareVersionFactory(DjangoModelFactory[SoftwareVersion]):
    class Meta:
        model = SoftwareVersion

    software = factory.SubFactory(SoftwareFactory)
    version = factory.Sequence(lambda n: f"1.{n}")
    rank = factory.Sequence(lambda n: n)


class GPUFactory(DjangoModelFactory[GPU]):
    class Meta:
        model = GPU

    fullname = factory.Sequence(lambda n: f"GeForce {n}")


class AgentFactory(DjangoModelFactory[Agent]):
    class Meta:
        model = Agent

    id = factory.LazyFunction(uuid.uuid4)
    hostname = factory.Sequence(lambda n: f"agent{n:04d}.farm.local")
    port = 50000
    remote_ip = factory.Sequence(lambda n: f"10.0.{n // 250 % 250}.{n % 250 + 1}")
    cpus = 8
    ram = 16384
    free_ram = 12000
    state = AgentState.ONLINE

    class Params:
        running = factory.Trait(state=AgentState.RUNNING)
        offline = factory.Trait(state=AgentState.OFFLINE)
        disabled = factory.Trait(state=AgentState.DISABLED)


class AgentMacAddressFactory(DjangoModelFactory[AgentMacAddress]):
    class Meta:
        model = AgentMacAddress

    agent = factory.SubFactory(AgentFactory)
    mac_address = factory.Sequence(
        lambda n: f"02:00:00:00:{n // 256 % 256:02x}:{n % 256:02x}"
    )


class AgentDiskFactory(DjangoModelFactory[AgentDisk]):
    class Meta:
        model = AgentDisk

    agent = factory.SubFactory(AgentFactory)
    mountpoint = factory.Sequence(lambda n: f"/mnt/disk{n}")
    size = 500 * 1024**3
    free = 200 * 1024**3


class JobTypeFactory(DjangoModelFactory[JobType]):
    class Meta:
        model = JobType

    name = factory.Sequence(lambda n: f"JobType{n}")
    description = "renders frames"


class JobTypeVersionFactory(DjangoModelFactory[JobTypeVersion]):
    class Meta:
        model = JobTypeVersion

    jobtype = factory.SubFactory(JobTypeFactory)
    version = 1
    classname = "Render"
    code = "class Render(object):\n    pass\n"


class JobQueueFactory(DjangoModelFactory[JobQueue]):
    class Meta:
        model = JobQueue

    name = factory.Sequence(lambda n: f"queue{n}")


class JobGroupFactory(DjangoModelFactory[JobGroup]):
    class Meta:
        model = JobGroup

    title = factory.Sequence(lambda n: f"group {n}")
    main_jobtype = factory.SubFactory(JobTypeFactory)


class JobFactory(DjangoModelFactory[Job]):
    """A job without tasks; use ``farm.services.create_job`` for tasks."""

    class Meta:
        model = Job

    jobtype_version = factory.SubFactory(JobTypeVersionFactory)
    title = factory.Sequence(lambda n: f"job {n}")
    start = Decimal(1)
    end = Decimal(10)
    by = Decimal(1)

    class Params:
        paused = factory.Trait(state=WorkState.PAUSED)


class TaskFactory(DjangoModelFactory[Task]):
    class Meta:
        model = Task

    job = factory.SubFactory(JobFactory)
    frame = factory.Sequence(lambda n: Decimal(n + 1))

    class Params:
        running = factory.Trait(
            state=WorkState.RUNNING, attempts=1, agent=factory.SubFactory(AgentFactory)
        )
        done = factory.Trait(state=WorkState.DONE, attempts=1, progress=1.0)
        failed = factory.Trait(state=WorkState.FAILED, attempts=1, failures=1)


class TaskLogFactory(DjangoModelFactory[TaskLog]):
    class Meta:
        model = TaskLog

    identifier = factory.Sequence(lambda n: f"2026-11-29_07-00-57_1_{n:032x}.csv")
    agent = factory.SubFactory(AgentFactory)


class TaskTaskLogAssociationFactory(DjangoModelFactory[TaskTaskLogAssociation]):
    class Meta:
        model = TaskTaskLogAssociation

    task = factory.SubFactory(TaskFactory)
    log = factory.SubFactory(TaskLogFactory)
    attempt = 1
