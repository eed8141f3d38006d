"""How jobs are organised: the job queue tree and job groups.

Queues are found by id, by full path ("root/child") or by a name that only
one queue has; names are unique among siblings. Neither a queue nor a group
is deleted while jobs (or, for queues, child queues) still belong to it.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Prefetch, Q, QuerySet

from farm.choices import WorkState
from farm.models import Job, JobGroup, JobQueue, JobType
from farm.services.errors import ConflictError
from farm.services.owners import refuse_other_owner
from farm.services.references import find_users
from farm.validators import parse_id
from pyfarm_site.conf import farm_config

__all__ = [
    "AmbiguousQueueName",
    "create_jobgroup",
    "create_queue",
    "delete_jobgroup",
    "delete_queue",
    "delete_queue_tree",
    "find_queue",
    "jobgroup_jobs",
    "jobgroups",
    "queues",
    "update_jobgroup",
    "update_queue",
]

# The queue columns callers may set (``parent_id`` is looked up).
QUEUE_FIELDS = (
    "name",
    "parent_id",
    "priority",
    "weight",
    "minimum_agents",
    "maximum_agents",
)


class AmbiguousQueueName(Exception):
    """Several queues have this name; the full path tells them apart."""


# --- Job queues ---------------------------------------------------------------


def queues() -> QuerySet[JobQueue]:
    """Every queue, in tree order, with its parent and its jobs' ids at hand."""
    return JobQueue.objects.select_related("parent").prefetch_related(
        Prefetch("jobs", queryset=Job.objects.only("id", "queue_id").order_by("id"))
    )


def find_queue(value: str) -> JobQueue | None:
    """The queue whose id, full path or (unique) name is ``value``.

    A number is tried as an id first, as the original did. Raises
    AmbiguousQueueName when only a name matches and several queues have it.
    """
    found = None
    pk = parse_id(value)
    if pk is not None:
        found = queues().filter(pk=pk).first()
    if found is None:
        found = queues().filter(fullpath=value).first()
    if found is None:
        named = list(queues().filter(name=value)[:2])
        if len(named) > 1:
            raise AmbiguousQueueName(
                f"several job queues are named {value!r}; use the full path"
            )
        found = named[0] if named else None
    return found


def _check_name_free(queue: JobQueue) -> None:
    siblings = JobQueue.objects.filter(parent_id=queue.parent_id, name=queue.name)
    if queue.pk is not None:
        siblings = siblings.exclude(pk=queue.pk)
    if siblings.exists():
        where = f"below {queue.parent}" if queue.parent_id else "at the top level"
        raise ConflictError(f"a job queue named {queue.name!r} already exists {where}")


def _save_queue(queue: JobQueue) -> JobQueue:
    # Uniqueness is a conflict (409), not a validation error (400): check it
    # separately, and let the database settle a race.
    queue.full_clean(validate_unique=False, validate_constraints=False)
    _check_name_free(queue)
    try:
        with transaction.atomic():
            queue.save()
    except IntegrityError:
        raise ConflictError(
            f"a job queue named {queue.name!r} already exists"
        ) from None
    return queue


def _apply(queue: JobQueue, changes: dict[str, Any]) -> None:
    unknown = set(changes) - set(QUEUE_FIELDS)
    if unknown:
        raise TypeError(f"not a job queue column: {', '.join(sorted(unknown))}")
    for field, value in changes.items():
        if field == "parent_id":
            queue.parent = _resolve_parent(value)
        else:
            setattr(queue, field, value)


def _resolve_parent(parent_id: int | None) -> JobQueue | None:
    if parent_id is None:
        return None
    parent = JobQueue.objects.filter(pk=parent_id).first()
    if parent is None:
        raise JobQueue.DoesNotExist(f"parent job queue {parent_id} not found")
    return parent


def create_queue(**fields: Any) -> JobQueue:
    """Create a queue from ``QUEUE_FIELDS`` (``name`` required).

    Raises ConflictError, ValidationError, or DoesNotExist for an unknown parent.
    """
    queue = JobQueue()
    _apply(queue, fields)
    return _save_queue(queue)


def update_queue(*, queue: JobQueue, **changes: Any) -> JobQueue:
    """Change some of ``QUEUE_FIELDS`` of ``queue``; the paths below follow a move."""
    _apply(queue, changes)
    return _save_queue(queue)


def delete_queue(*, queue: JobQueue) -> None:
    """Delete an empty queue; raises ConflictError while it has jobs or children."""
    with transaction.atomic():
        if queue.jobs.exists() or queue.children.exists():
            raise ConflictError(
                f"job queue {queue} still contains jobs or child queues"
            )
        queue.delete()


def delete_queue_tree(*, queue: JobQueue) -> int:
    """Delete a queue with every queue below it; returns how many were deleted.

    The original's ``delete_jobqueue``/``delete_subqueue``. Raises
    ConflictError, deleting nothing, while any queue of the subtree holds
    jobs (move or delete them first).
    """
    with transaction.atomic():
        subtree = list(
            JobQueue.objects.select_for_update().filter(
                Q(pk=queue.pk) | Q(fullpath__startswith=queue.fullpath + "/")
            )
        )
        busy = list(
            JobQueue.objects.filter(pk__in=[row.pk for row in subtree])
            .filter(jobs__isnull=False)
            .distinct()
            .order_by("fullpath")
            .values_list("fullpath", flat=True)
        )
        if busy:
            raise ConflictError(
                f"job queue {', '.join(busy)} still contains jobs; move or "
                "delete them first"
            )
        # The deepest first: a parent is protected while it has children.
        for row in sorted(subtree, key=lambda row: -row.fullpath.count("/")):
            row.delete()
    return len(subtree)


# --- Job groups ---------------------------------------------------------------


def jobgroups() -> QuerySet[JobGroup]:
    """Every group, with its owner and main job type."""
    return JobGroup.objects.select_related("user", "main_jobtype")


def _find_owner(username: str | None) -> Any:
    """The user named ``username`` (None for none), created when configured."""
    if username is None:
        return None
    autocreate = bool(farm_config("autocreate_users"))
    return find_users(usernames=[username], autocreate=autocreate)[username]


#: A group's owner named by a user who is no farm admin (`refuse_other_owner`).
OTHER_OWNER_REFUSAL = "only farm admins may make another user the owner"


def _resolve_jobtype(name: str) -> JobType:
    jobtype = JobType.objects.filter(name=name).first()
    if jobtype is None:
        raise JobType.DoesNotExist(f"job type {name!r} not found")
    return jobtype


def create_jobgroup(
    *, title: str, main_jobtype: str, user: str | None, created_by: Any = None
) -> JobGroup:
    """Create a group; ``main_jobtype`` and ``user`` are a job type and user name.

    Raises DoesNotExist for an unknown job type or user (unknown users are
    created when ``autocreate_users`` is on) and ValidationError. A
    ``created_by`` who is not a farm admin may name only themselves as
    ``user`` (PermissionDenied, before anything is looked up).
    """
    refuse_other_owner(user, created_by, refusal=OTHER_OWNER_REFUSAL)
    with transaction.atomic():
        group = JobGroup(
            title=title,
            main_jobtype=_resolve_jobtype(main_jobtype),
            user=_find_owner(user),
        )
        group.full_clean()
        group.save()
    return group


def update_jobgroup(
    *, group: JobGroup, changed_by: Any = None, **changes: Any
) -> JobGroup:
    """Change the ``title``, ``user`` (a name) or ``main_jobtype`` (a name).

    A ``changed_by`` who is not a farm admin may set ``user`` to themselves
    only (PermissionDenied).
    """
    if "user" in changes:
        refuse_other_owner(changes["user"], changed_by, refusal=OTHER_OWNER_REFUSAL)
    with transaction.atomic():
        if "title" in changes:
            group.title = changes["title"]
        if "user" in changes:
            group.user = _find_owner(changes["user"])
        if "main_jobtype" in changes:
            group.main_jobtype = _resolve_jobtype(changes["main_jobtype"])
        group.full_clean()
        group.save()
    return group


def delete_jobgroup(*, group: JobGroup) -> None:
    """Delete an empty group; raises ConflictError while it has jobs."""
    with transaction.atomic():
        if group.jobs.exists():
            raise ConflictError(f"job group {group.pk} still contains jobs")
        group.delete()


def jobgroup_jobs(group: JobGroup) -> QuerySet[Job]:
    """The group's jobs, oldest first, with their job type and task counts."""
    return (
        Job.objects.filter(group=group)
        .select_related("jobtype_version__jobtype")
        .annotate(
            **{
                f"tasks_{state.value}": Count("tasks", filter=Q(tasks__state=state))
                for state in (
                    WorkState.QUEUED,
                    WorkState.RUNNING,
                    WorkState.DONE,
                    WorkState.FAILED,
                )
            }
        )
        .order_by("time_submitted", "id")
    )
