"""Moving jobs to the latest version of their job type.

A job runs the job type version it was submitted with (`farm.services.jobtypes`
never changes a version in place). When a job type gets a fixed version, its
waiting or failed jobs can be moved to it: the dashboard's job page and the
admin's job list do this through `upgrade_jobs_to_latest_jobtype_version`.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet

from farm.models import Job, JobTypeVersion
from farm.signals import notify_work_changed

__all__ = [
    "latest_jobtype_version",
    "upgrade_job_to_latest_jobtype_version",
    "upgrade_jobs_to_latest_jobtype_version",
]


def latest_jobtype_version(*, jobtype_id: int) -> JobTypeVersion | None:
    """The highest-numbered version of a job type (None if it has none)."""
    return (
        JobTypeVersion.objects.filter(jobtype_id=jobtype_id)
        .order_by("-version")
        .first()
    )


def upgrade_jobs_to_latest_jobtype_version(*, jobs: QuerySet[Job]) -> int:
    """Point each job at the latest version of its job type; returns how many moved.

    Jobs already on their job type's latest version are left alone. One
    UPDATE per job type among the jobs, each conditional on the job not being
    on that version already, so the cost does not grow with the number of
    jobs. The scheduler is told, since the new version may require other
    software.
    """
    with transaction.atomic():
        jobtype_ids = set(
            jobs.order_by()
            .values_list("jobtype_version__jobtype_id", flat=True)
            .distinct()
        )
        if not jobtype_ids:
            return 0
        # A job type has a handful of versions: read them all, keep the highest.
        latest: dict[int, tuple[int, int]] = {}
        for jobtype_id, number, pk in JobTypeVersion.objects.filter(
            jobtype_id__in=jobtype_ids
        ).values_list("jobtype_id", "version", "pk"):
            if jobtype_id not in latest or number > latest[jobtype_id][0]:
                latest[jobtype_id] = (number, pk)
        moved = 0
        for jobtype_id, (_, target) in sorted(latest.items()):
            moved += (
                jobs.filter(jobtype_version__jobtype_id=jobtype_id)
                .exclude(jobtype_version_id=target)
                .update(jobtype_version_id=target)
            )
        if moved:
            notify_work_changed("jobs upgraded to the latest job type version")
    return moved


def upgrade_job_to_latest_jobtype_version(*, job: Job) -> bool:
    """Move one job to its job type's latest version; returns whether it moved."""
    moved = upgrade_jobs_to_latest_jobtype_version(jobs=Job.objects.filter(pk=job.pk))
    if moved:
        job.refresh_from_db(fields=["jobtype_version"])
    return bool(moved)
