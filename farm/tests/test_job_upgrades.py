"""Upgrading jobs to their job type's latest version: service and admin action."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from farm.models import Job
from farm.services.job_upgrades import (
    latest_jobtype_version,
    upgrade_job_to_latest_jobtype_version,
    upgrade_jobs_to_latest_jobtype_version,
)
from farm.tests.factories import JobFactory, JobTypeFactory, JobTypeVersionFactory

if TYPE_CHECKING:
    from django.test import Client

pytestmark = pytest.mark.django_db


def _versions(count: int) -> list:
    jobtype = JobTypeFactory.create()
    return [
        JobTypeVersionFactory.create(jobtype=jobtype, version=number)
        for number in range(1, count + 1)
    ]


def test_latest_jobtype_version_is_the_highest_number() -> None:
    """Not the newest row: the highest version number."""
    jobtype = JobTypeFactory.create()
    three = JobTypeVersionFactory.create(jobtype=jobtype, version=3)
    JobTypeVersionFactory.create(jobtype=jobtype, version=2)
    assert latest_jobtype_version(jobtype_id=jobtype.pk) == three


def test_it_moves_a_job_to_the_latest_version() -> None:
    """A job of v1 runs v3 afterwards."""
    first, _, third = _versions(3)
    job = JobFactory.create(jobtype_version=first)
    assert upgrade_job_to_latest_jobtype_version(job=job) is True
    job.refresh_from_db()
    assert job.jobtype_version == third


def test_it_leaves_a_job_on_the_latest_version_alone() -> None:
    """Nothing to do: False, and the job keeps its version."""
    _, second = _versions(2)
    job = JobFactory.create(jobtype_version=second)
    assert upgrade_job_to_latest_jobtype_version(job=job) is False
    job.refresh_from_db()
    assert job.jobtype_version == second


def test_it_upgrades_many_jobs_of_several_job_types() -> None:
    """Each job goes to its own job type's latest version; the count is returned."""
    a1, a2 = _versions(2)
    b1, b2, b3 = _versions(3)
    jobs = [
        JobFactory.create(jobtype_version=a1),
        JobFactory.create(jobtype_version=a2),
        JobFactory.create(jobtype_version=b1),
        JobFactory.create(jobtype_version=b2),
    ]
    moved = upgrade_jobs_to_latest_jobtype_version(
        jobs=Job.objects.filter(pk__in=[job.pk for job in jobs])
    )
    assert moved == 3
    assert [Job.objects.get(pk=job.pk).jobtype_version_id for job in jobs] == [
        a2.pk,
        a2.pk,
        b3.pk,
        b3.pk,
    ]


def test_it_leaves_jobs_outside_the_queryset_alone() -> None:
    """Only the jobs asked for move."""
    first, _ = _versions(2)
    asked = JobFactory.create(jobtype_version=first)
    other = JobFactory.create(jobtype_version=first)
    upgrade_jobs_to_latest_jobtype_version(jobs=Job.objects.filter(pk=asked.pk))
    other.refresh_from_db()
    assert other.jobtype_version == first


def test_upgrading_no_jobs_moves_nothing() -> None:
    """An empty queryset: 0."""
    assert upgrade_jobs_to_latest_jobtype_version(jobs=Job.objects.none()) == 0


def test_upgrading_many_jobs_takes_a_query_per_job_type(
    django_assert_num_queries: object,
) -> None:
    """Read the job types, their versions, then one UPDATE per job type.

    Plus the savepoint of the service's transaction and its release.
    """
    first, _ = _versions(2)
    for _ in range(5):
        JobFactory.create(jobtype_version=first)
    with django_assert_num_queries(5):  # type: ignore[operator]
        assert upgrade_jobs_to_latest_jobtype_version(jobs=Job.objects.all()) == 5


def test_admin_action_upgrades_the_selected_jobs(admin_client: Client) -> None:
    """JobAdmin's "Upgrade to the latest job type version" calls the service."""
    first, second = _versions(2)
    job = JobFactory.create(jobtype_version=first)
    response = admin_client.post(
        reverse("admin:farm_job_changelist"),
        {"action": "upgrade_to_latest_jobtype_version", "_selected_action": [job.pk]},
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.jobtype_version == second
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Upgraded 1 job to its job type's latest version."
    ]


def test_admin_action_warns_when_every_job_is_up_to_date(
    admin_client: Client,
) -> None:
    """Nothing upgraded: a warning says why."""
    (only,) = _versions(1)
    job = JobFactory.create(jobtype_version=only)
    response = admin_client.post(
        reverse("admin:farm_job_changelist"),
        {"action": "upgrade_to_latest_jobtype_version", "_selected_action": [job.pk]},
    )
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "No job was upgraded: they all run the latest version."
    ]
