"""Job group endpoints: list, create, read, change, delete, jobs, schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from drf_spectacular.generators import SchemaGenerator

from accounts.models import User
from accounts.tests.factories import UserFactory
from farm.api.urls import jobgroups
from farm.choices import WorkState
from farm.models import JobGroup, JobType
from farm.tests.factories import (
    JobFactory,
    JobGroupFactory,
    JobTypeFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db

JOBGROUPS = "/api/v1/jobgroups/"
GROUP_KEYS = {"id", "user", "main_jobtype", "title"}
DETAIL_KEYS = {"id", "user", "main_jobtype", "jobs", "title"}
JOB_KEYS = {
    "id",
    "title",
    "state",
    "jobtype_id",
    "jobtype",
    "tasks_queued",
    "tasks_running",
    "tasks_done",
    "tasks_failed",
}


def _error(response: Any) -> str:
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    return body["error"]


@pytest.fixture
def jobtype() -> JobType:
    return JobTypeFactory.create(name="Test JobType")


@pytest.fixture
def group(user: User, jobtype: JobType) -> JobGroup:
    """A group owned by the ordinary user "artist"."""
    return JobGroupFactory.create(title="Test Group", user=user, main_jobtype=jobtype)


def _snapshot() -> list[tuple]:
    return list(
        JobGroup.objects.order_by("id").values_list(
            "id", "title", "user_id", "main_jobtype_id"
        )
    )


# --- the list --------------------------------------------------------------------


def test_it_lists_the_groups(api_client, group) -> None:
    response = api_client.get(JOBGROUPS)
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": group.pk,
            "user": "artist",
            "main_jobtype": "Test JobType",
            "title": "Test Group",
        }
    ]


def test_it_lists_groups_without_an_owner(api_client, jobtype) -> None:
    JobGroupFactory.create(main_jobtype=jobtype, user=None)
    response = api_client.get(JOBGROUPS)
    assert response.json()[0]["user"] is None


@pytest.mark.parametrize("count", [2, 20])
def test_listing_groups_runs_a_constant_number_of_queries(
    api_client, user, count, django_assert_num_queries
) -> None:
    JobGroupFactory.create_batch(count, user=user)
    with django_assert_num_queries(1):
        response = api_client.get(JOBGROUPS)
    assert len(response.json()) == count


def test_the_list_answers_without_a_trailing_slash(api_client, group) -> None:
    response = api_client.get(JOBGROUPS.rstrip("/"))
    assert response.status_code == 200
    assert len(response.json()) == 1


def test_anonymous_requests_from_outside_get_401(anonymous_client, group) -> None:
    for method, url in (
        ("get", JOBGROUPS),
        ("post", JOBGROUPS),
        ("get", f"{JOBGROUPS}{group.pk}"),
        ("post", f"{JOBGROUPS}{group.pk}"),
        ("delete", f"{JOBGROUPS}{group.pk}"),
        ("get", f"{JOBGROUPS}{group.pk}/jobs"),
        ("get", f"{JOBGROUPS}schema"),
    ):
        response = getattr(anonymous_client, method)(url)
        assert response.status_code == 401, (method, url)
        _error(response)
    assert JobGroup.objects.count() == 1


# --- creating --------------------------------------------------------------------


def test_it_creates_a_group(admin_api_client, user, jobtype) -> None:
    response = admin_api_client.post(
        JOBGROUPS,
        {"title": "Test Group", "user": "artist", "main_jobtype": "Test JobType"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == DETAIL_KEYS
    assert (body["title"], body["user"], body["main_jobtype"], body["jobs"]) == (
        "Test Group",
        "artist",
        "Test JobType",
        [],
    )
    group = JobGroup.objects.get(pk=body["id"])
    assert (group.user, group.main_jobtype) == (user, jobtype)


def test_the_owner_defaults_to_the_requesting_user(api_client, user, jobtype) -> None:
    response = api_client.post(
        JOBGROUPS, {"title": "Mine", "main_jobtype": "Test JobType"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["user"] == "artist"
    assert JobGroup.objects.get().user == user


def test_users_may_create_groups_for_themselves(api_client, jobtype) -> None:
    response = api_client.post(
        JOBGROUPS,
        {"title": "Mine", "main_jobtype": "Test JobType", "user": "artist"},
        format="json",
    )
    assert response.status_code == 201


def test_users_may_not_create_groups_for_others(api_client, jobtype) -> None:
    UserFactory.create(username="someone")
    response = api_client.post(
        JOBGROUPS,
        {"title": "Yours", "main_jobtype": "Test JobType", "user": "someone"},
        format="json",
    )
    assert response.status_code == 403
    _error(response)
    assert not JobGroup.objects.exists()


def test_unknown_owners_are_created_when_configured(
    admin_api_client, jobtype, farm_config
) -> None:
    farm_config(autocreate_users=True, autocreate_user_email="{username}@example.com")
    response = admin_api_client.post(
        JOBGROUPS,
        {"title": "New", "main_jobtype": "Test JobType", "user": "newcomer"},
        format="json",
    )
    assert response.status_code == 201
    created = User.objects.get(username="newcomer")
    assert created.email == "newcomer@example.com"
    assert not created.has_usable_password()


def test_unknown_owners_are_404_without_autocreation(
    admin_api_client, jobtype, farm_config
) -> None:
    farm_config(autocreate_users=False)
    response = admin_api_client.post(
        JOBGROUPS,
        {"title": "New", "main_jobtype": "Test JobType", "user": "nobody"},
        format="json",
    )
    assert response.status_code == 404
    assert "nobody" in _error(response)
    assert not JobGroup.objects.exists()
    assert not User.objects.filter(username="nobody").exists()


def test_an_unknown_job_type_is_404(api_client) -> None:
    response = api_client.post(
        JOBGROUPS, {"title": "New", "main_jobtype": "NoSuchType"}, format="json"
    )
    assert response.status_code == 404
    assert "NoSuchType" in _error(response)
    assert not JobGroup.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"title": "New", "main_jobtype": "Test JobType", "colour": "red"},
        {"main_jobtype": "Test JobType"},
        {"title": "New"},
        {"title": 5, "main_jobtype": "Test JobType"},
        {"title": "New", "main_jobtype": ["Test JobType"]},
        {"title": "", "main_jobtype": "Test JobType"},
        ["Test JobType"],
    ],
    ids=[
        "unknown-column",
        "no-title",
        "no-jobtype",
        "int-title",
        "list-jobtype",
        "blank-title",
        "not-an-object",
    ],
)
def test_it_refuses_malformed_groups(api_client, jobtype, body) -> None:
    response = api_client.post(JOBGROUPS, body, format="json")
    assert response.status_code == 400
    _error(response)
    assert not JobGroup.objects.exists()


def test_it_refuses_titles_over_the_configured_length(
    api_client, jobtype, farm_config
) -> None:
    farm_config(max_jobgroup_name_length=5)
    response = api_client.post(
        JOBGROUPS, {"title": "Too long", "main_jobtype": "Test JobType"}, format="json"
    )
    assert response.status_code == 400
    assert "title" in _error(response)
    assert not JobGroup.objects.exists()


def test_it_refuses_malformed_json(api_client) -> None:
    response = api_client.post(JOBGROUPS, data="{", content_type="application/json")
    assert response.status_code == 400
    _error(response)


# --- one group ---------------------------------------------------------------------


def test_it_returns_a_group_with_its_jobs(api_client, group) -> None:
    jobs = JobFactory.create_batch(2, group=group)
    response = api_client.get(f"{JOBGROUPS}{group.pk}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == DETAIL_KEYS
    assert body["jobs"] == sorted(job.pk for job in jobs)


def test_an_unknown_group_is_404(api_client) -> None:
    response = api_client.get(f"{JOBGROUPS}4242")
    assert response.status_code == 404
    assert "4242" in _error(response)


def test_a_group_id_that_is_no_number_is_404(api_client) -> None:
    response = api_client.get(f"{JOBGROUPS}abc")
    assert response.status_code == 404
    _error(response)


def test_the_owner_changes_a_group(api_client, group) -> None:
    response = api_client.post(
        f"{JOBGROUPS}{group.pk}", {"title": "Renamed"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == DETAIL_KEYS
    assert (body["title"], body["user"]) == ("Renamed", "artist")
    group.refresh_from_db()
    assert group.title == "Renamed"


def test_admins_give_a_group_to_another_user(admin_api_client, group) -> None:
    other = UserFactory.create(username="testuser2")
    response = admin_api_client.post(
        f"{JOBGROUPS}{group.pk}", {"user": "testuser2"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["user"] == "testuser2"
    group.refresh_from_db()
    assert group.user == other


def test_admins_change_the_main_job_type(admin_api_client, group) -> None:
    JobTypeFactory.create(name="Other")
    response = admin_api_client.post(
        f"{JOBGROUPS}{group.pk}", {"main_jobtype": "Other"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["main_jobtype"] == "Other"


def test_owners_may_not_give_a_group_away(api_client, group) -> None:
    UserFactory.create(username="testuser2")
    response = api_client.post(
        f"{JOBGROUPS}{group.pk}", {"user": "testuser2"}, format="json"
    )
    assert response.status_code == 403
    _error(response)
    group.refresh_from_db()
    assert group.user.username == "artist"


def test_other_users_may_not_change_a_group(api_client, jobtype) -> None:
    theirs = JobGroupFactory.create(main_jobtype=jobtype, user=UserFactory.create())
    before = _snapshot()
    response = api_client.post(
        f"{JOBGROUPS}{theirs.pk}", {"title": "Mine now"}, format="json"
    )
    assert response.status_code == 403
    _error(response)
    assert _snapshot() == before


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"colour": "red"}, 400),
        ({"title": None}, 400),
        ({"title": 5}, 400),
        ({"main_jobtype": "NoSuchType"}, 404),
    ],
    ids=["unknown-column", "null-title", "int-title", "unknown-jobtype"],
)
def test_it_refuses_malformed_changes(api_client, group, body, status) -> None:
    before = _snapshot()
    response = api_client.post(f"{JOBGROUPS}{group.pk}", body, format="json")
    assert response.status_code == status
    _error(response)
    assert _snapshot() == before


def test_changing_an_unknown_group_is_404(api_client) -> None:
    response = api_client.post(f"{JOBGROUPS}4242", {"title": "x"}, format="json")
    assert response.status_code == 404
    _error(response)


def test_the_owner_deletes_an_empty_group(api_client, group) -> None:
    response = api_client.delete(f"{JOBGROUPS}{group.pk}")
    assert response.status_code == 204
    assert not JobGroup.objects.exists()


def test_deleting_an_unknown_group_is_204(api_client) -> None:
    response = api_client.delete(f"{JOBGROUPS}4242")
    assert response.status_code == 204


def test_a_group_with_jobs_is_not_deleted(admin_api_client, group) -> None:
    JobFactory.create(group=group)
    response = admin_api_client.delete(f"{JOBGROUPS}{group.pk}")
    assert response.status_code == 409
    assert "jobs" in _error(response)
    assert JobGroup.objects.filter(pk=group.pk).exists()


def test_other_users_may_not_delete_a_group(api_client, jobtype) -> None:
    theirs = JobGroupFactory.create(main_jobtype=jobtype, user=UserFactory.create())
    response = api_client.delete(f"{JOBGROUPS}{theirs.pk}")
    assert response.status_code == 403
    _error(response)
    assert JobGroup.objects.filter(pk=theirs.pk).exists()


def test_admins_delete_any_group(admin_api_client, group) -> None:
    response = admin_api_client.delete(f"{JOBGROUPS}{group.pk}/")
    assert response.status_code == 204
    assert not JobGroup.objects.exists()


# --- the group's jobs ----------------------------------------------------------------


def test_it_lists_the_jobs_of_a_group_with_task_counts(api_client, group) -> None:
    job = JobFactory.create(group=group, title="Test Job")
    TaskFactory.create_batch(2, job=job)
    TaskFactory.create(job=job, running=True)
    TaskFactory.create(job=job, done=True)
    TaskFactory.create(job=job, failed=True)
    JobFactory.create()  # another group's
    response = api_client.get(f"{JOBGROUPS}{group.pk}/jobs")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"jobs"}
    assert body["jobs"] == [
        {
            "id": job.pk,
            "title": "Test Job",
            "state": WorkState.QUEUED,
            "jobtype_id": job.jobtype_version.jobtype_id,
            "jobtype": job.jobtype_version.jobtype.name,
            "tasks_queued": 2,
            "tasks_running": 1,
            "tasks_done": 1,
            "tasks_failed": 1,
        }
    ]


def test_the_jobs_come_oldest_first(api_client, group) -> None:
    first = JobFactory.create(group=group, priority=0)
    second = JobFactory.create(group=group, priority=10)
    response = api_client.get(f"{JOBGROUPS}{group.pk}/jobs/")
    assert [job["id"] for job in response.json()["jobs"]] == [first.pk, second.pk]
    assert set(response.json()["jobs"][0]) == JOB_KEYS


@pytest.mark.parametrize("count", [2, 20])
def test_listing_a_groups_jobs_runs_a_constant_number_of_queries(
    api_client, group, count, django_assert_num_queries
) -> None:
    for job in JobFactory.create_batch(count, group=group):
        TaskFactory.create(job=job)
    with django_assert_num_queries(2):
        response = api_client.get(f"{JOBGROUPS}{group.pk}/jobs")
    assert len(response.json()["jobs"]) == count


def test_the_jobs_of_an_unknown_group_are_404(api_client) -> None:
    response = api_client.get(f"{JOBGROUPS}4242/jobs")
    assert response.status_code == 404
    _error(response)


# --- the schema -------------------------------------------------------------------


@pytest.mark.parametrize("url", [f"{JOBGROUPS}schema", f"{JOBGROUPS}schema/"])
def test_it_describes_the_columns(api_client, url) -> None:
    response = api_client.get(url)
    assert response.status_code == 200
    assert response.json() == {
        "main_jobtype": "VARCHAR(64)",
        "title": "VARCHAR(255)",
        "user": "VARCHAR(255)",
        "id": "INTEGER" if connection.vendor == "sqlite" else "BIGINT",
    }


@pytest.mark.parametrize(
    ("vendor", "id_type"), [("sqlite", "INTEGER"), ("postgresql", "BIGINT")]
)
def test_the_id_type_is_the_databases_as_in_the_original(
    api_client, monkeypatch, vendor, id_type
) -> None:
    monkeypatch.setattr(connection, "vendor", vendor)
    response = api_client.get(f"{JOBGROUPS}schema")
    assert response.json()["id"] == id_type


def test_the_openapi_schema_builds() -> None:
    schema = SchemaGenerator(patterns=jobgroups.urlpatterns).get_schema(public=True)
    operations = {
        operation["operationId"]
        for path in schema["paths"].values()
        for operation in path.values()
    }
    assert operations == {
        "jobgroups_list",
        "jobgroups_create",
        "jobgroup_retrieve",
        "jobgroup_update",
        "jobgroup_destroy",
        "jobgroup_jobs",
        "jobgroups_schema",
    }
