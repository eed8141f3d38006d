"""Settings of many jobs at once: queue, priority and weight, tags, tag requirements.

The dashboard's bulk actions and the admin's actions on selected jobs call
these (the original's ``*_multiple_jobs`` and ``*_on_jobs``). Each is
set-based: a fixed number of statements (an ``update()`` or a
``bulk_create``) whatever the number of jobs, and none reads a job row by
row. Changes the scheduler acts on (queue, priority, weight, tag
requirements) tell it after commit (`farm.signals.notify_work_changed`); a
job's own tags are labels only and do not.

Who may change which job is the caller's business (`farm.services.owners`):
these functions change every job of ``jobs``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from farm.models import Job, JobQueue, JobTagRequirement, Tag
from farm.models.jobs import JobQuerySet
from farm.services.tags import get_or_create_tag
from farm.signals import notify_work_changed
from farm.validators import priority_error

__all__ = [
    "WEIGHT_RANGE",
    "add_tag_requirement_to_jobs",
    "add_tag_to_jobs",
    "move_jobs_to_queue",
    "remove_tag_from_jobs",
    "remove_tag_requirement_from_jobs",
    "set_jobs_priority_and_weight",
]

#: The weights a job may have: the column is a positive 32-bit integer, and
#: the API refuses anything outside it (`farm.api.fields.scheduling_fields`).
WEIGHT_RANGE = (0, 2**31 - 1)


def _ids(jobs: JobQuerySet) -> list[int]:
    """The jobs' ids, read once: the later statements then filter by primary key."""
    return list(jobs.order_by().values_list("pk", flat=True))


def move_jobs_to_queue(*, jobs: JobQuerySet, queue: JobQueue | None) -> int:
    """Put the jobs in ``queue`` (None: in no queue); returns how many moved.

    Jobs already in that queue are left as they are and not counted.
    """
    with transaction.atomic():
        moved = jobs.exclude(queue=queue) if queue else jobs.exclude(queue__isnull=True)
        count = Job.objects.filter(pk__in=_ids(moved)).update(queue=queue)
        if count:
            notify_work_changed("jobs moved to another queue")
    return count


def weight_error(value: int | None) -> str | None:
    """Check a job weight against the column's range (as the API does)."""
    if value is None:
        return None
    low, high = WEIGHT_RANGE
    if not low <= value <= high:
        return f"must be between {low} and {high}"
    return None


def set_jobs_priority_and_weight(
    *, jobs: JobQuerySet, priority: int | None = None, weight: int | None = None
) -> int:
    """Give the jobs a new priority and/or weight; returns how many changed.

    None leaves that setting alone; at least one must be given. The values
    are checked as the API checks them (priority within
    ``queue_min_priority``..``queue_max_priority``, weight a positive 32-bit
    integer): ValidationError, naming the field, and nothing changes.
    """
    if priority is None and weight is None:
        raise ValidationError("give a priority, a weight or both")
    errors = {
        field: error
        for field, error in (
            ("priority", priority_error(priority)),
            ("weight", weight_error(weight)),
        )
        if error
    }
    if errors:
        raise ValidationError(errors)
    values = {
        field: value
        for field, value in (("priority", priority), ("weight", weight))
        if value is not None
    }
    with transaction.atomic():
        # exclude() of several values: the jobs where any of them differs.
        count = Job.objects.filter(pk__in=_ids(jobs)).exclude(**values).update(**values)
        if count:
            notify_work_changed("job priority or weight changed")
    return count


def add_tag_to_jobs(*, jobs: JobQuerySet, name: str) -> int:
    """Put the tag ``name`` on the jobs, creating the tag if it is new.

    Returns how many jobs got it (those that had it already are not
    counted). Raises ValidationError for a name the tag model refuses.
    """
    with transaction.atomic():
        tag, _ = get_or_create_tag(name=name)
        through = Job.tags.through
        ids = _ids(jobs.exclude(tags=tag))
        through.objects.bulk_create(
            [through(job_id=pk, tag_id=tag.pk) for pk in ids],
            ignore_conflicts=True,
        )
    return len(ids)


def remove_tag_from_jobs(*, jobs: JobQuerySet, name: str) -> int:
    """Take the tag ``name`` off the jobs; returns how many jobs had it.

    An unknown tag is on no job: nothing changes and nothing is created.
    """
    through = Job.tags.through
    deleted, _ = through.objects.filter(
        tag__tag=name, job_id__in=jobs.order_by().values("pk")
    ).delete()
    return deleted


def add_tag_requirement_to_jobs(
    *, jobs: JobQuerySet, name: str, negate: bool = False
) -> int:
    """Make the jobs require the tag ``name`` of their agents (forbid it: ``negate``).

    The tag is created if it is new. A job that requires or forbids the tag
    already gets the new ``negate``. Returns how many jobs changed. Raises
    ValidationError for a name the tag model refuses.
    """
    with transaction.atomic():
        tag, _ = get_or_create_tag(name=name)
        ids = _ids(jobs)
        existing = JobTagRequirement.objects.filter(job_id__in=ids, tag=tag)
        flipped = existing.exclude(negate=negate).update(negate=negate)
        have = set(existing.values_list("job_id", flat=True))
        new = [
            JobTagRequirement(job_id=pk, tag=tag, negate=negate)
            for pk in ids
            if pk not in have
        ]
        JobTagRequirement.objects.bulk_create(new, ignore_conflicts=True)
        count = flipped + len(new)
        if count:
            notify_work_changed("job tag requirements changed")
    return count


def remove_tag_requirement_from_jobs(*, jobs: JobQuerySet, name: str) -> int:
    """Drop the jobs' requirement (or prohibition) of the tag ``name``.

    Returns how many jobs had one. An unknown tag is required by no job.
    """
    with transaction.atomic():
        tag = Tag.objects.filter(tag=name).first()
        if tag is None:
            return 0
        deleted, _ = JobTagRequirement.objects.filter(
            tag=tag, job_id__in=jobs.order_by().values("pk")
        ).delete()
        if deleted:
            notify_work_changed("job tag requirements changed")
    return deleted
