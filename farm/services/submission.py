"""Jobs with their relations: creation, submission and changes by name.

`create_job` takes rows; `submit_job` and `update_job` take what the API
receives, names and ids, resolved by `farm.services.references`. The users
notified about a job are added and removed here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import transaction

from farm.choices import WorkState
from farm.models import (
    Job,
    JobNotifiedUser,
    JobSoftwareRequirement,
    JobTagRequirement,
    JobTypeVersion,
    Tag,
)
from farm.services.jobs import (
    alter_frame_range,
    create_job_tasks,
    job_task_count,
    pause_jobs,
    unpause_jobs,
)
from farm.services.owners import acts_for_others, refuse_other_owner
from farm.services.references import (
    NotifiedUserSpec,
    SoftwareRequirementSpec,
    TagRequirementSpec,
    build_software_requirements,
    find_jobgroup,
    find_jobqueue,
    find_jobtype_version,
    find_parent_jobs,
    find_users,
    notified_user_rows,
    tag_requirement_rows,
)
from farm.services.tags import find_or_create_tags
from farm.signals import notify_work_changed
from farm.validators import job_size_error
from pyfarm_site.conf import farm_config


def _refuse_other_owner(username: str | None, user: Any, *, what: str) -> None:
    """PermissionDenied when ``user`` names another owner than themselves."""
    refuse_other_owner(
        username,
        user,
        refusal=f"only farm admins may {what} another user ({{username!r}}); "
        "leave user out or name yourself ({own!r})",
    )


def _notified_rows(
    specs: Sequence[NotifiedUserSpec], *, submitted_by: Any
) -> list[JobNotifiedUser]:
    """`notified_user_rows`, creating unknown users only for farm admins.

    Looks the users up first, so that a submission naming known users only
    costs no check of the submitter's roles.
    """
    try:
        return notified_user_rows(specs, autocreate=False)
    except ObjectDoesNotExist as error:
        if not farm_config("autocreate_users"):
            raise
        if not acts_for_others(submitted_by):
            raise PermissionDenied(
                f"{error}; only farm admins may have users created"
            ) from None
    return notified_user_rows(specs, autocreate=True)


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
    job_task_count(job.start, job.end, job.by, job.num_tiles)
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
        create_job_tasks(job)
        notify_work_changed("job submitted")
    return job


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
    unknown reference, ConflictError for a requirement or user listed
    twice and ValidationError for invalid values; nothing is left behind.
    ``fields`` are further Job columns; ``autodelete_time`` defaults to
    ``default_job_delete_time``. A job of more than ``max_tasks_per_job``
    tasks (frames x tiles) is refused first, by arithmetic.

    A ``submitted_by`` who is not a farm admin (`acts_for_others`) may name
    only themselves as ``user`` and never causes a user to be created:
    PermissionDenied, before anything is looked up.
    """
    if user is not None:
        _refuse_other_owner(user, submitted_by, what="submit a job for")
    # Arithmetic only, before any lookup: a job too large is refused at once.
    if size := job_size_error(start, end, by, fields.get("num_tiles")):
        raise ValidationError(dict([size]))
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
            tag_requirements=tag_requirement_rows(tag_requirements),
            software_requirements=software_rows,
            notified_users=_notified_rows(notified_users, submitted_by=submitted_by),
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
    changed_by: Any = None,
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
    saved. A ``changed_by`` who is not a farm admin may set ``user`` to
    themselves only (PermissionDenied).
    """
    if "user" in changes:
        _refuse_other_owner(changes["user"], changed_by, what="give a job to")
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
            rows = tag_requirement_rows(tag_requirements)
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
        notify_work_changed("job changed")
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
