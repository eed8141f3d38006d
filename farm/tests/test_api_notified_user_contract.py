"""Contract: a job's notified users, key for key (issue #9).

Each entry is the user's ``id``, ``username`` and ``email`` (null when the
user has none) with that job's ``on_success``, ``on_failure`` and
``on_deletion`` flags, in ``/jobs/<job>/notified_users/`` and inside a job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from accounts.tests.factories import UserFactory
from farm.models import Job, JobNotifiedUser
from farm.services.submission import create_job
from farm.tests.factories import JobTypeVersionFactory

if TYPE_CHECKING:
    from rest_framework.test import APIClient

    from accounts.models import User

pytestmark = pytest.mark.django_db

JOB = "/api/v1/jobs/{job}"
NOTIFIED_USERS = "/api/v1/jobs/{job}/notified_users/"


@pytest.fixture
def job(user: User) -> Job:
    return create_job(
        jobtype_version=JobTypeVersionFactory.create(),
        title="shot 010",
        user=user,
        start=1,
        end=2,
    )


@pytest.fixture
def watchers(job: Job) -> tuple[User, User]:
    """A producer told of everything, a coordinator without an email."""
    producer = UserFactory.create(username="producer", email="p@example.com")
    coordinator = UserFactory.create(username="coordinator", email="")
    JobNotifiedUser.objects.create(
        job=job, user=producer, on_success=False, on_failure=True, on_deletion=True
    )
    JobNotifiedUser.objects.create(job=job, user=coordinator)
    return producer, coordinator


def _entries(producer: User, coordinator: User) -> list[dict[str, Any]]:
    return [
        {
            "id": coordinator.pk,
            "username": "coordinator",
            "email": None,
            "on_success": True,
            "on_failure": True,
            "on_deletion": False,
        },
        {
            "id": producer.pk,
            "username": "producer",
            "email": "p@example.com",
            "on_success": False,
            "on_failure": True,
            "on_deletion": True,
        },
    ]


def test_the_list_has_each_users_id_name_email_and_flags(
    api_client: APIClient, job: Job, watchers: tuple[User, User]
) -> None:
    response = api_client.get(NOTIFIED_USERS.format(job=job.pk))
    assert response.status_code == 200
    assert response.json() == _entries(*watchers)


def test_a_job_has_the_same_notified_user_entries(
    api_client: APIClient, job: Job, watchers: tuple[User, User]
) -> None:
    response = api_client.get(JOB.format(job=job.pk))
    assert response.status_code == 200
    listed = response.json()["notified_users"]
    assert sorted(listed, key=lambda entry: entry["username"]) == _entries(*watchers)


def test_the_flags_are_those_of_the_job_not_of_the_user(
    api_client: APIClient, job: Job, user: User, watchers: tuple[User, User]
) -> None:
    producer, _ = watchers
    other = create_job(
        jobtype_version=JobTypeVersionFactory.create(),
        title="shot 020",
        user=user,
        start=1,
        end=2,
    )
    JobNotifiedUser.objects.create(
        job=other, user=producer, on_success=True, on_failure=False
    )
    assert api_client.get(NOTIFIED_USERS.format(job=other.pk)).json() == [
        {
            "id": producer.pk,
            "username": "producer",
            "email": "p@example.com",
            "on_success": True,
            "on_failure": False,
            "on_deletion": False,
        }
    ]


def test_adding_a_user_without_an_email_answers_a_null_email(
    api_client: APIClient, job: Job
) -> None:
    newcomer = UserFactory.create(username="newcomer", email="")
    response = api_client.post(
        NOTIFIED_USERS.format(job=job.pk), {"username": "newcomer"}, format="json"
    )
    assert response.status_code == 201
    assert response.json() == {"id": newcomer.pk, "username": "newcomer", "email": None}
