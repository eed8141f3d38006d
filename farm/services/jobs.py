"""Job workflows: submission with its tasks, frame ranges, derived states, reruns."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from farm.choices import WorkState
from farm.models import (
    Job,
    JobGroup,
    JobNotifiedUser,
    JobQueue,
    JobSoftwareRequirement,
    JobTagRequirement,
    JobType,
    JobTypeVersion,
    Software,
    SoftwareVersion,
    Tag,
    Task,
    TaskTaskLogAssociation,
)
from farm.models.jobs import JobQuerySet
from pyfarm_site.conf import farm_config

# A job this large is a typo (a step of 0.0001 instead of 1), not a render.
MAX_TASKS_PER_JOB = 1_000_000
# Rows per INSERT/DELETE statement: large enough to be fast, small enough to
# stay under every driver's parameter limit.
BULK_BATCH_SIZE = 2_000
_FRAME_QUANTUM = Decimal("0.0001")


def frame_range(
    start: Decimal | float, end: Decimal | float, by: Decimal | float
) -> list[Decimal]:
    """The frames from ``start`` to ``end`` (inclusive) in steps of ``by``.

    Frames are exact decimals with four places, as the columns store them, so
    that steps such as 0.1 do not drift. Raises ValidationError for an empty
    or absurd range.
    """
    try:
        start_d = Decimal(str(start)).quantize(_FRAME_QUANTUM)
        end_d = Decimal(str(end)).quantize(_FRAME_QUANTUM)
        by_d = Decimal(str(by)).quantize(_FRAME_QUANTUM)
    except InvalidOperation:
        raise ValidationError("start, end and by must be numbers") from None
    if by_d <= 0:
        raise ValidationError({"by": "must be greater than 0"})
    if end_d < start_d:
        raise ValidationError({"end": "must not be lower than start"})
    count = int(((end_d - start_d) / by_d).to_integral_value(ROUND_FLOOR)) + 1
    if count > MAX_TASKS_PER_JOB:
        raise ValidationError(
            {"by": f"the range has {count} frames, more than {MAX_TASKS_PER_JOB}"}
        )
    return [start_d + by_d * index for index in range(count)]


def _task_keys(frames: Iterable[Decimal], num_tiles: int | None) -> list[tuple]:
    tiles: Sequence[int | None] = range(num_tiles) if num_tiles else (None,)
    keys = [(frame, tile) for frame in frames for tile in tiles]
    if len(keys) > MAX_TASKS_PER_JOB:
        raise ValidationError(
            {"num_tiles": f"{len(keys)} tasks, more than {MAX_TASKS_PER_JOB}"}
        )
    return keys


_TASK_INSERT_COLUMNS = (
    "job",
    "frame",
    "tile",
    "state",
    "priority",
    "attempts",
    "failures",
    "progress",
    "hidden",
    "sent_to_agent",
    "time_submitted",
)


def _insert_batch_size(columns: int) -> int:
    """Rows per SQLite INSERT within its limit of bound parameters."""
    raw = connection.connection
    limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if raw else 999
    return max(1, min(BULK_BATCH_SIZE, limit // columns))


def _create_tasks(job: Job, keys: Iterable[tuple]) -> int:
    """Insert a job's new tasks with multi-row INSERTs.

    Tasks are the one table that grows by 100,000 rows in a request, and
    building that many model instances costs several times the INSERTs
    themselves, so the rows are written as plain tuples (adapted by Django's
    own database operations) instead of through ``bulk_create``.
    """
    ops = connection.ops
    submitted = ops.adapt_datetimefield_value(timezone.now())
    rows = [
        (
            job.pk,
            ops.adapt_decimalfield_value(frame, 10, 4),
            tile,
            WorkState.QUEUED.value,
            job.priority,
            0,
            0,
            0.0,
            False,
            False,
            submitted,
        )
        for frame, tile in keys
    ]
    fields = [Task._meta.get_field(name) for name in _TASK_INSERT_COLUMNS]
    columns = ", ".join(
        ops.quote_name(field.column)  # type: ignore[union-attr, arg-type]
        for field in fields
    )
    table = ops.quote_name(Task._meta.db_table)
    connection.ensure_connection()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY streams the rows; psycopg's client-side parameter binding
            # of a 20,000-parameter INSERT costs more than the insert itself.
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
            size = _insert_batch_size(len(fields))
            for index in range(0, len(rows), size):
                batch = rows[index : index + size]
                values = ", ".join([row_sql] * len(batch))
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) VALUES {values}",
                    [value for row in batch for value in row],
                )
    return len(rows)


def _delete_tasks(task_ids: Sequence[int]) -> None:
    """Delete tasks and the rows that point at them, in batches.

    The ORM's cascading delete loads every task and deletes 100 at a time;
    deleting the dependent rows first lets each batch be three statements.
    """
    through = Task.failed_in_agents.through
    for index in range(0, len(task_ids), BULK_BATCH_SIZE):
        batch = task_ids[index : index + BULK_BATCH_SIZE]
        TaskTaskLogAssociation.objects.filter(task_id__in=batch).delete()
        through.objects.filter(task_id__in=batch).delete()
        tasks = Task.objects.filter(pk__in=batch)
        tasks._raw_delete(tasks.db)


def create_job(
    *,
    jobtype_version: JobTypeVersion,
    title: str,
    start: Decimal | float,
    end: Decimal | float,
    by: Decimal | float = 1,
    tags: Iterable[Tag] = (),
    tag_requirements: Iterable[tuple[Tag, bool]] = (),
    parents: Iterable[Job] = (),
    software_requirements: Iterable[JobSoftwareRequirement] = (),
    notified_users: Iterable[JobNotifiedUser] = (),
    **fields: Any,
) -> Job:
    """Submit a job and create its tasks (one per frame and tile) in bulk.

    ``fields`` are further Job columns (priority, batch, queue, user, …).
    ``software_requirements`` and ``notified_users`` are unsaved rows whose
    job is set here. Validation errors name the field and leave nothing
    behind.
    """
    job = Job(
        jobtype_version=jobtype_version,
        title=title,
        start=start,
        end=end,
        by=by,
        **fields,
    )
    job.full_clean()
    keys = _task_keys(frame_range(job.start, job.end, job.by), job.num_tiles)
    with transaction.atomic():
        job.save()
        if tags:
            job.tags.set(tags)
        if parents:
            job.parents.set(parents)
        JobTagRequirement.objects.bulk_create(
            [
                JobTagRequirement(job=job, tag=tag, negate=negate)
                for tag, negate in tag_requirements
            ]
        )
        requirements = list(software_requirements)
        for requirement in requirements:
            requirement.job = job
        JobSoftwareRequirement.objects.bulk_create(requirements)
        subscriptions = list(notified_users)
        for subscription in subscriptions:
            subscription.job = job
        JobNotifiedUser.objects.bulk_create(subscriptions)
        _create_tasks(job, keys)
    return job


def alter_frame_range(
    *, job: Job, start: Decimal | float, end: Decimal | float, by: Decimal | float
) -> None:
    """Change a job's frame range: create the new frames' tasks, delete the gone.

    Tasks of frames that stay are kept as they are (with their progress and
    history). Costs a constant number of statements per 2,000 tasks.
    """
    frames = frame_range(start, end, by)
    wanted = set(_task_keys(frames, job.num_tiles))
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        existing = {
            (frame, tile): pk
            for pk, frame, tile in Task.objects.for_job(job.pk).values_list(
                "pk", "frame", "tile"
            )
        }
        _delete_tasks([pk for key, pk in existing.items() if key not in wanted])
        _create_tasks(
            job,
            (key for key in _task_keys(frames, job.num_tiles) if key not in existing),
        )
        Job.objects.filter(pk=job.pk).update(
            start=frames[0],
            end=Decimal(str(end)).quantize(_FRAME_QUANTUM),
            by=Decimal(str(by)).quantize(_FRAME_QUANTUM),
        )
        refresh_job_states(job_ids=[job.pk])


def _derived_state(counts: dict[str, int], current: str) -> str:
    """A job's state from its task counts (paused jobs are never derived)."""
    open_tasks = (
        counts[WorkState.QUEUED] + counts[WorkState.RUNNING] + counts[WorkState.PAUSED]
    )
    if sum(counts.values()) == 0:
        return current
    if open_tasks == 0:
        return WorkState.FAILED if counts[WorkState.FAILED] else WorkState.DONE
    if counts[WorkState.RUNNING] or counts[WorkState.DONE] or counts[WorkState.FAILED]:
        return WorkState.RUNNING
    return WorkState.QUEUED


def refresh_job_states(*, job_ids: Iterable[int]) -> dict[int, str]:
    """Derive the state and times of jobs from their tasks.

    One aggregate query and at most one UPDATE, whatever the number of jobs
    and tasks. Paused jobs keep their state; the UPDATE is conditional on it,
    so a job paused meanwhile is not overwritten. Returns ``{job_id: state}``
    for the jobs whose state changed.
    """
    ids = list(job_ids)
    if not ids:
        return {}
    per_state = {
        state: Count("tasks", filter=Q(tasks__state=state))
        for state in WorkState.values
    }
    jobs = (
        Job.objects.filter(pk__in=ids)
        .exclude(state=WorkState.PAUSED)
        .annotate(
            first_started=Min("tasks__time_started"),
            last_finished=Max("tasks__time_finished"),
            **{f"n_{state}": count for state, count in per_state.items()},
        )
        .only("pk", "state", "time_started", "time_finished")
    )
    now = timezone.now()
    changed: list[Job] = []
    new_states: dict[int, str] = {}
    for job in jobs:
        counts = {state: getattr(job, f"n_{state}") for state in WorkState.values}
        first_started = job.first_started  # type: ignore[attr-defined]
        last_finished = job.last_finished  # type: ignore[attr-defined]
        state = _derived_state(counts, job.state)
        time_started = job.time_started
        time_finished = job.time_finished
        if state == WorkState.QUEUED:
            time_started = time_finished = None
        else:
            time_started = first_started or time_started or now
            if state in (WorkState.DONE, WorkState.FAILED):
                time_finished = last_finished or now
            else:
                time_finished = None
        if (state, time_started, time_finished) != (
            job.state,
            job.time_started,
            job.time_finished,
        ):
            if state != job.state:
                new_states[job.pk] = state
            job.state, job.time_started, job.time_finished = (
                state,
                time_started,
                time_finished,
            )
            changed.append(job)
    if changed:
        Job.objects.exclude(state=WorkState.PAUSED).bulk_update(
            changed,
            ["state", "time_started", "time_finished"],
            batch_size=BULK_BATCH_SIZE,
        )
    return new_states


def _job_ids(jobs: JobQuerySet) -> list[int]:
    return list(jobs.values_list("pk", flat=True))


def pause_jobs(*, jobs: JobQuerySet) -> int:
    """Pause queued and running jobs; returns how many were paused."""
    return jobs.pause()


def unpause_jobs(*, jobs: JobQuerySet) -> int:
    """Resume paused jobs and derive their states again; returns the count."""
    with transaction.atomic():
        ids = jobs.unpause()
        refresh_job_states(job_ids=ids)
    return len(ids)


def rerun_jobs(*, jobs: JobQuerySet, failed_only: bool = False) -> int:
    """Queue the jobs' tasks again (only the failed ones with ``failed_only``).

    Running tasks are left alone. The jobs can notify again when they end.
    Returns the number of tasks queued again.
    """
    with transaction.atomic():
        ids = _job_ids(jobs)
        tasks = Task.objects.filter(job_id__in=ids)
        if failed_only:
            tasks = tasks.filter(state=WorkState.FAILED)
        count = tasks.rerun()
        if count:
            Job.objects.filter(pk__in=ids).update(completion_notify_sent=False)
        refresh_job_states(job_ids=ids)
    return count


def mark_jobs_for_deletion(*, jobs: JobQuerySet) -> int:
    """Flag jobs for deletion by the scheduler; returns how many were flagged."""
    return jobs.mark_for_deletion()


# --- submissions and changes by name, as the API receives them ----------------


class JobConflictError(Exception):
    """A submission or change that contradicts itself (the API answers 409)."""


@dataclass(frozen=True)
class TagRequirementSpec:
    """A tag an agent must have (or, with ``negate``, must not have), by name."""

    tag: str
    negate: bool = False


@dataclass(frozen=True)
class SoftwareRequirementSpec:
    """A required software by name, with optional version bounds by name."""

    software: str
    min_version: str | None = None
    max_version: str | None = None


@dataclass(frozen=True)
class NotifiedUserSpec:
    """A user to tell about a job's success, failure or deletion, by username."""

    username: str
    on_success: bool = True
    on_failure: bool = True
    on_deletion: bool = False


def _refuse_duplicates(names: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise JobConflictError(f"{what} {name!r} is listed more than once")
        seen.add(name)


def find_jobtype_version(*, jobtype: str, version: int | None = None) -> JobTypeVersion:
    """The named job type's ``version``, or its latest version when None.

    Raises ``JobTypeVersion.DoesNotExist`` naming what is unknown.
    """
    versions = JobTypeVersion.objects.select_related("jobtype").filter(
        jobtype__name=jobtype
    )
    if version is None:
        found = versions.order_by("-version").first()
    else:
        found = versions.filter(version=version).first()
    if found is not None:
        return found
    if not JobType.objects.filter(name=jobtype).exists():
        raise JobTypeVersion.DoesNotExist(f"jobtype {jobtype!r} not found")
    if version is None:
        raise JobTypeVersion.DoesNotExist(f"jobtype {jobtype!r} has no versions")
    raise JobTypeVersion.DoesNotExist(
        f"version {version} of jobtype {jobtype!r} not found"
    )


def find_jobqueue(*, name: str) -> JobQueue:
    """A job queue by its full path ("render/lighting") or its unique name.

    Raises ``JobQueue.DoesNotExist`` when unknown, and ValidationError when
    several queues share the name (their full path tells them apart).
    """
    queue = JobQueue.objects.filter(fullpath=name).first()
    if queue is not None:
        return queue
    matches = list(JobQueue.objects.filter(name=name)[:2])
    if not matches:
        raise JobQueue.DoesNotExist(f"job queue {name!r} not found")
    if len(matches) > 1:
        raise ValidationError(
            {"jobqueue": f"several queues are named {name!r}; give the full path"}
        )
    return matches[0]


def find_jobgroup(*, jobgroup_id: int) -> JobGroup:
    """A job group by id; raises ``JobGroup.DoesNotExist`` when unknown."""
    group = JobGroup.objects.filter(pk=jobgroup_id).first()
    if group is None:
        raise JobGroup.DoesNotExist(f"job group {jobgroup_id} not found")
    return group


def find_parent_jobs(*, ids: Iterable[int]) -> list[Job]:
    """Jobs by id, in the given order; raises ``Job.DoesNotExist`` for a gap."""
    wanted = list(dict.fromkeys(ids))
    jobs = Job.objects.in_bulk(wanted)
    for pk in wanted:
        if pk not in jobs:
            raise Job.DoesNotExist(f"parent job {pk} not found")
    return [jobs[pk] for pk in wanted]


def find_users(*, usernames: Iterable[str], autocreate: bool = False) -> dict[str, Any]:
    """Users by username; with ``autocreate`` the unknown ones are created.

    Created users have no usable password and the email address that the
    ``autocreate_user_email`` template gives ("{username}@example.com"), or
    none. Without ``autocreate`` an unknown user raises ``DoesNotExist``.
    """
    user_model = get_user_model()
    wanted = list(dict.fromkeys(usernames))
    if not wanted:
        return {}
    users = {
        user.username: user for user in user_model.objects.filter(username__in=wanted)
    }
    missing = [name for name in wanted if name not in users]
    if missing and not autocreate:
        raise user_model.DoesNotExist(f"user {missing[0]!r} not found")
    template = farm_config("autocreate_user_email")
    for username in missing:
        user = user_model(
            username=username,
            email=template.format(username=username) if template else "",
        )
        user.set_unusable_password()
        try:
            user.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as error:
            raise ValidationError(
                f"cannot create user {username!r}: {'; '.join(error.messages)}"
            ) from None
        try:
            # A concurrent submission may create the same user first.
            with transaction.atomic():
                user.save()
        except IntegrityError:
            user = user_model.objects.get(username=username)
        users[username] = user
    return users


def find_or_create_tags(*, names: Iterable[str]) -> list[Tag]:
    """Tags by name, in the given order, creating (and validating) unknown ones."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    tags = {tag.tag: tag for tag in Tag.objects.filter(tag__in=wanted)}
    new = [Tag(tag=name) for name in wanted if name not in tags]
    if new:
        for tag in new:
            tag.full_clean(validate_unique=False, validate_constraints=False)
        Tag.objects.bulk_create(new, ignore_conflicts=True)
        tags = {tag.tag: tag for tag in Tag.objects.filter(tag__in=wanted)}
    return [tags[name] for name in wanted]


def build_software_requirements(
    specs: Sequence[SoftwareRequirementSpec],
) -> list[JobSoftwareRequirement]:
    """Unsaved requirement rows for software and versions named in ``specs``.

    Two queries whatever the count. Raises ``DoesNotExist`` for an unknown
    software or version, JobConflictError for a software listed twice and
    ValidationError when a minimum version is above the maximum.
    """
    names = [spec.software for spec in specs]
    _refuse_duplicates(names, "software")
    if not names:
        return []
    software = {
        item.software: item for item in Software.objects.filter(software__in=names)
    }
    for name in names:
        if name not in software:
            raise Software.DoesNotExist(f"software {name!r} not found")
    version_names = {
        version
        for spec in specs
        for version in (spec.min_version, spec.max_version)
        if version is not None
    }
    versions = {
        (version.software_id, version.version): version
        for version in SoftwareVersion.objects.filter(
            software__in=software.values(), version__in=version_names
        )
    }

    def version_of(item: Software, name: str | None) -> SoftwareVersion | None:
        if name is None:
            return None
        version = versions.get((item.pk, name))
        if version is None:
            raise SoftwareVersion.DoesNotExist(
                f"version {name!r} of software {item.software!r} not found"
            )
        return version

    rows = []
    for spec in specs:
        item = software[spec.software]
        row = JobSoftwareRequirement(
            software=item,
            min_version=version_of(item, spec.min_version),
            max_version=version_of(item, spec.max_version),
        )
        row.clean()
        rows.append(row)
    return rows


def _tag_requirement_rows(
    specs: Sequence[TagRequirementSpec],
) -> list[tuple[Tag, bool]]:
    _refuse_duplicates((spec.tag for spec in specs), "tag requirement")
    tags = find_or_create_tags(names=[spec.tag for spec in specs])
    return [(tag, spec.negate) for tag, spec in zip(tags, specs, strict=True)]


def _notified_user_rows(
    specs: Sequence[NotifiedUserSpec], *, autocreate: bool
) -> list[JobNotifiedUser]:
    _refuse_duplicates((spec.username for spec in specs), "notified user")
    users = find_users(
        usernames=[spec.username for spec in specs], autocreate=autocreate
    )
    return [
        JobNotifiedUser(
            user=users[spec.username],
            on_success=spec.on_success,
            on_failure=spec.on_failure,
            on_deletion=spec.on_deletion,
        )
        for spec in specs
    ]


def submit_job(
    *,
    jobtype: str,
    title: str,
    start: Decimal | float,
    end: Decimal | float,
    by: Decimal | float = 1,
    jobtype_version: int | None = None,
    user: str | None = None,
    submitted_by: Any = None,
    jobqueue: str | None = None,
    jobgroup_id: int | None = None,
    parents: Sequence[int] = (),
    tags: Sequence[str] = (),
    tag_requirements: Sequence[TagRequirementSpec] = (),
    software_requirements: Sequence[SoftwareRequirementSpec] = (),
    notified_users: Sequence[NotifiedUserSpec] = (),
    **fields: Any,
) -> Job:
    """Submit a job whose references are names and ids (the API's submission).

    The job type version is the latest unless ``jobtype_version`` is given.
    The owner is ``user`` (a username) or else ``submitted_by``. Unknown
    users (owner and notified) are created when ``autocreate_users`` is on;
    unknown tags are always created. Raises ``DoesNotExist`` for any other
    unknown reference, JobConflictError for a requirement or user listed
    twice and ValidationError for invalid values; nothing is left behind.
    ``fields`` are further Job columns; ``autodelete_time`` defaults to
    ``default_job_delete_time``.
    """
    version = find_jobtype_version(jobtype=jobtype, version=jobtype_version)
    queue = find_jobqueue(name=jobqueue) if jobqueue is not None else None
    group = find_jobgroup(jobgroup_id=jobgroup_id) if jobgroup_id is not None else None
    parent_jobs = find_parent_jobs(ids=parents)
    software_rows = build_software_requirements(software_requirements)
    autocreate = bool(farm_config("autocreate_users"))
    fields.setdefault("autodelete_time", farm_config("default_job_delete_time"))
    with transaction.atomic():
        owner = (
            find_users(usernames=[user], autocreate=autocreate)[user]
            if user is not None
            else submitted_by
        )
        return create_job(
            jobtype_version=version,
            title=title,
            start=start,
            end=end,
            by=by,
            user=owner,
            queue=queue,
            group=group,
            parents=parent_jobs,
            tags=find_or_create_tags(names=tags),
            tag_requirements=_tag_requirement_rows(tag_requirements),
            software_requirements=software_rows,
            notified_users=_notified_user_rows(notified_users, autocreate=autocreate),
            **fields,
        )


# Columns `update_job` sets as given; the rest of its arguments are resolved.
JOB_UPDATE_COLUMNS = frozenset(
    {
        "title",
        "priority",
        "weight",
        "minimum_agents",
        "maximum_agents",
        "start",
        "end",
        "by",
        "batch",
        "requeue",
        "cpus",
        "ram",
        "ram_warning",
        "ram_max",
        "hidden",
        "autodelete_time",
        "output_link",
        "data",
        "environ",
        "notes",
    }
)
_FRAME_RANGE_COLUMNS = ("start", "end", "by")


def _refuse_dependency_cycle(job: Job, parents: Sequence[Job]) -> None:
    """A job may not wait for itself, directly or through its parents."""
    through = Job.parents.through
    frontier = {parent.pk for parent in parents}
    seen: set[int] = set()
    while frontier:
        if job.pk in frontier:
            raise ValidationError({"parents": "a job cannot depend on itself"})
        seen |= frontier
        frontier = (
            set(
                through.objects.filter(from_job_id__in=frontier).values_list(
                    "to_job_id", flat=True
                )
            )
            - seen
        )


def update_job(
    *,
    job: Job,
    state: str | None = None,
    tags: Sequence[str] | None = None,
    tag_requirements: Sequence[TagRequirementSpec] | None = None,
    software_requirements: Sequence[SoftwareRequirementSpec] | None = None,
    parents: Sequence[int] | None = None,
    **changes: Any,
) -> Job:
    """Change a job as the API receives it; everything or nothing changes.

    ``changes`` are columns of `JOB_UPDATE_COLUMNS` plus ``user`` (a
    username, created when ``autocreate_users`` is on), ``jobqueue`` (a name
    or path) and ``jobgroup_id``; None clears those three. A new ``start``,
    ``end`` or ``by`` creates and deletes tasks (`alter_frame_range`).
    ``state`` "paused" pauses the job, "queued" or "running" resumes a paused
    one. ``tags``, ``tag_requirements``, ``software_requirements`` and
    ``parents`` replace the current lists when given. Returns the job as
    saved.
    """
    unknown = set(changes) - JOB_UPDATE_COLUMNS - {"user", "jobqueue", "jobgroup_id"}
    if unknown:
        raise TypeError(f"update_job() got unknown columns: {sorted(unknown)}")
    if state is not None and state not in (
        WorkState.PAUSED,
        WorkState.QUEUED,
        WorkState.RUNNING,
    ):
        raise ValidationError(
            {"state": "a job can only be paused, or resumed with queued or running"}
        )
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        updated = [name for name in changes if name in JOB_UPDATE_COLUMNS]
        if "user" in changes:
            username = changes.pop("user")
            job.user = (
                None
                if username is None
                else find_users(
                    usernames=[username],
                    autocreate=bool(farm_config("autocreate_users")),
                )[username]
            )
            updated.append("user")
        if "jobqueue" in changes:
            name = changes.pop("jobqueue")
            job.queue = None if name is None else find_jobqueue(name=name)
            updated.append("queue")
        if "jobgroup_id" in changes:
            group_id = changes.pop("jobgroup_id")
            job.group = (
                None if group_id is None else find_jobgroup(jobgroup_id=group_id)
            )
            updated.append("group")
        for name, value in changes.items():
            setattr(job, name, value)
        parent_jobs = find_parent_jobs(ids=parents) if parents is not None else None
        if parent_jobs is not None:
            _refuse_dependency_cycle(job, parent_jobs)
        requirement_rows = (
            build_software_requirements(software_requirements)
            if software_requirements is not None
            else None
        )
        job.full_clean()
        if updated:
            job.save(update_fields=updated)
        if any(name in changes for name in _FRAME_RANGE_COLUMNS):
            alter_frame_range(job=job, start=job.start, end=job.end, by=job.by)
        if tags is not None:
            job.tags.set(find_or_create_tags(names=tags))
        if tag_requirements is not None:
            rows = _tag_requirement_rows(tag_requirements)
            JobTagRequirement.objects.filter(job=job).delete()
            JobTagRequirement.objects.bulk_create(
                [
                    JobTagRequirement(job=job, tag=tag, negate=negate)
                    for tag, negate in rows
                ]
            )
        if requirement_rows is not None:
            JobSoftwareRequirement.objects.filter(job=job).delete()
            for row in requirement_rows:
                row.job = job
            JobSoftwareRequirement.objects.bulk_create(requirement_rows)
        if parent_jobs is not None:
            job.parents.set(parent_jobs)
        jobs = Job.objects.filter(pk=job.pk)
        if state == WorkState.PAUSED:
            pause_jobs(jobs=jobs)
        elif state is not None:
            unpause_jobs(jobs=jobs)
    job.refresh_from_db()
    return job


def add_notified_user(
    *,
    job: Job,
    username: str,
    on_success: bool | None = None,
    on_failure: bool | None = None,
    on_deletion: bool | None = None,
) -> tuple[JobNotifiedUser, bool]:
    """Subscribe a user to a job's notifications; returns (row, created).

    An existing subscription gets the flags that are given; a new one the
    model's defaults for the others. Raises ``DoesNotExist`` for an unknown
    user (this is not a submission: users are not created).
    """
    user = find_users(usernames=[username])[username]
    flags = {
        name: value
        for name, value in (
            ("on_success", on_success),
            ("on_failure", on_failure),
            ("on_deletion", on_deletion),
        )
        if value is not None
    }
    return JobNotifiedUser.objects.update_or_create(job=job, user=user, defaults=flags)


def remove_notified_user(*, job: Job, username: str) -> bool:
    """Unsubscribe a user from a job; returns whether they were subscribed.

    Raises ``DoesNotExist`` for an unknown user.
    """
    user = find_users(usernames=[username])[username]
    deleted, _ = JobNotifiedUser.objects.filter(job=job, user=user).delete()
    return bool(deleted)
