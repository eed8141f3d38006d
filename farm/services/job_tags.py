"""One job's tags and tag requirements, one at a time (the job page's edits).

The API replaces a job's whole lists (`farm.services.submission.update_job`);
the dashboard adds or removes one entry, which these functions do in one
statement each, so that two users editing the same job at once do not undo
each other's changes. Tags named for the first time are created, as the API
does; a tag that does not exist is never created by a removal.
"""

from __future__ import annotations

from farm.models import Job, JobTagRequirement, Tag
from farm.services.tags import get_or_create_tag
from farm.signals import notify_work_changed

__all__ = [
    "add_job_tag",
    "remove_job_tag",
    "remove_job_tag_requirement",
    "set_job_tag_requirement",
]


def add_job_tag(*, job: Job, name: str) -> bool:
    """Put the tag ``name`` on the job; returns False when it had it already.

    Raises ValidationError for a name the tag model refuses.
    """
    tag, _ = get_or_create_tag(name=name)
    _, created = Job.tags.through.objects.get_or_create(job_id=job.pk, tag_id=tag.pk)
    return created


def remove_job_tag(*, job: Job, name: str) -> bool:
    """Take the tag ``name`` off the job; returns whether the job had it."""
    deleted, _ = Job.tags.through.objects.filter(job_id=job.pk, tag__tag=name).delete()
    return bool(deleted)


def set_job_tag_requirement(*, job: Job, name: str, negate: bool = False) -> bool:
    """Require (or with ``negate`` forbid) the tag ``name`` on the job's agents.

    An existing requirement of that tag gets the new ``negate``. Returns
    whether anything changed. The scheduler is told: other agents may fit
    now. Raises ValidationError for a name the tag model refuses.
    """
    tag, _ = get_or_create_tag(name=name)
    requirement, created = JobTagRequirement.objects.get_or_create(
        job_id=job.pk, tag=tag, defaults={"negate": negate}
    )
    changed = created or bool(
        JobTagRequirement.objects.filter(pk=requirement.pk)
        .exclude(negate=negate)
        .update(negate=negate)
    )
    if changed:
        notify_work_changed("tag requirements changed")
    return changed


def remove_job_tag_requirement(*, job: Job, name: str) -> bool:
    """Drop the job's requirement of the tag ``name``; returns whether it had one."""
    deleted, _ = JobTagRequirement.objects.filter(
        job_id=job.pk, tag__in=Tag.objects.filter(tag=name)
    ).delete()
    if deleted:
        notify_work_changed("tag requirements changed")
    return bool(deleted)
