"""Jobs API: the job list, one job (read, change, delete), schema, notified users."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection

from accounts.models import User
from accounts.tests.factories import UserFactory
from farm.choices import WorkState
from farm.models import Job, JobNotifiedUser, JobTagRequirement, Task
from farm.services.errors import ConflictError
from farm.services.jobs import refresh_job_states
from farm.services.references import TagRequirementSpec
from farm.services.submission import (
    add_notified_user,
    create_job,
    remove_notified_user,
    update_job,
)
from farm.tests.factories import (
    JobGroupFactory,
    JobQueueFactory,
    JobTypeVersionFactory,
    SoftwareFactory,
    TagFactory,
)
from farm.tests.test_api_job_submission import JOB_KEYS

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs/"
JOB = "/api/v1/jobs/{job}"
SCHEMA = "/api/v1/jobs/schema"
NOTIFIED_USERS = "/api/v1/jobs/{job}/notified_users/"
NOTIFIED_USER = "/api/v1/jobs/{job}/notified_users/{username}"

DOCUMENTED_SCHEMA = {
    "autodelete_time": "INTEGER",
    "batch": "INTEGER",
    "by": "NUMERIC(10, 4)",
    "completion_notify_sent": "BOOLEAN",
    "cpus": "INTEGER",
    "data": "JSONDict",
    "end": "NUMERIC(10,4)",
    "environ": "JSONDict",
    "hidden": "BOOLEAN",
    "id": "INTEGER",
    "job_group_id": "INTEGER",
    "jobtype": "VARCHAR(64)",
    "jobtype_version": "INTEGER",
    "jobqueue": "VARCHAR(255)",
    "maximum_agents": "INTEGER",
    "minimum_agents": "INTEGER",
    "notes": "TEXT",
    "num_tiles": "INTEGER",
    "output_link": "TEXT",
    "priority": "INTEGER",
    "ram": "INTEGER",
    "ram_max": "INTEGER",
    "ram_warning": "INTEGER",
    "requeue": "INTEGER",
    "start": "NUMERIC(10,4)",
    "state": "WorkStateEnum",
    "time_finished": "DATETIME",
    "time_started": "DATETIME",
    "time_submitted": "DATETIME",
    "title": "VARCHAR(255)",
    "to_be_deleted": "BOOLEAN",
    "user": "VARCHAR(255)",
    "weight": "INTEGER",
}
SUBMITTED_AT = datetime.datetime(2026, 11, 29, 7, 0, tzinfo=datetime.UTC)


def _job_json(job: Job, **changes: Any) -> dict[str, Any]:
    """The whole JSON of a queued job of frames 1-4 submitted at `SUBMITTED_AT`.

    Columns that come from the configuration are read from the stored job.
    """
    job.refresh_from_db()
    body = {
        "id": job.pk,
        "title": job.title,
        "state": "queued",
        "jobtype": job.jobtype_version.jobtype.name,
        "jobtype_version": job.jobtype_version.version,
        "jobqueue": None,
        "job_group_id": None,
        "jobgroup": None,
        "user": None,
        "priority": job.priority,
        "weight": job.weight,
        "minimum_agents": None,
        "maximum_agents": None,
        "start": 1.0,
        "end": 4.0,
        "by": 1.0,
        "batch": job.batch,
        "num_tiles": None,
        "requeue": job.requeue,
        "cpus": job.cpus,
        "ram": job.ram,
        "ram_warning": None,
        "ram_max": None,
        "hidden": False,
        "to_be_deleted": False,
        "completion_notify_sent": False,
        "autodelete_time": None,
        "output_link": None,
        "data": None,
        "environ": None,
        "notes": "",
        "time_submitted": "2026-11-29T07:00:00Z",
        "time_started": None,
        "time_finished": None,
        "parents": [],
        "children": [],
        "tags": [],
        "tag_requirements": [],
        "software_requirements": [],
        "notified_users": [],
    }
    body.update(changes)
    return body


def _job(title: str = "Test Job", owner: Any = None, **fields: Any) -> Job:
    fields.setdefault("start", 1)
    fields.setdefault("end", 4)
    return create_job(
        jobtype_version=JobTypeVersionFactory.create(),
        title=title,
        user=owner,
        **fields,
    )


def _error(response: Any) -> str:
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    return str(body["error"])


def _snapshot(job: Job) -> tuple[Any, ...]:
    job.refresh_from_db()
    frames = tuple(Task.objects.for_job(job.pk).values_list("frame", flat=True))
    tags = tuple(job.tags.values_list("tag", flat=True))
    return (
        job.title,
        job.priority,
        job.start,
        job.end,
        job.by,
        job.state,
        job.user_id,
        job.queue_id,
        job.to_be_deleted,
        frames,
        tags,
    )


# --- GET jobs/ ----------------------------------------------------------------


def test_it_lists_every_job_with_title_and_state(api_client) -> None:
    first, second = _job("Test Job"), _job("Test Job 2")
    Job.objects.filter(pk=second.pk).update(state=WorkState.RUNNING)
    response = api_client.get(JOBS)
    assert response.status_code == 200
    assert response.json() == [
        {"title": "Test Job", "state": "queued", "id": first.pk},
        {"title": "Test Job 2", "state": "running", "id": second.pk},
    ]


def test_it_lists_jobs_without_the_trailing_slash(api_client) -> None:
    _job()
    response = api_client.get(JOBS.rstrip("/"))
    assert response.status_code == 200
    assert len(response.json()) == 1


@pytest.mark.parametrize("count", [2, 20])
def test_the_job_list_runs_a_constant_number_of_queries(
    api_client, django_assert_num_queries, count
) -> None:
    version = JobTypeVersionFactory.create()
    for index in range(count):
        create_job(jobtype_version=version, title=f"job {index}", start=1, end=2)
    with django_assert_num_queries(1):
        response = api_client.get(JOBS)
    assert len(response.json()) == count


def test_anonymous_users_cannot_list_jobs(anonymous_client) -> None:
    response = anonymous_client.get(JOBS)
    assert response.status_code == 401
    _error(response)


# --- GET jobs/schema ------------------------------------------------------------


@pytest.mark.parametrize("url", [SCHEMA, SCHEMA + "/"])
def test_the_schema_is_the_documented_map(api_client, url) -> None:
    response = api_client.get(url)
    assert response.status_code == 200
    id_type = "INTEGER" if connection.vendor == "sqlite" else "BIGINT"
    assert response.json() == {
        **DOCUMENTED_SCHEMA,
        "id": id_type,
        "job_group_id": id_type,
    }


@pytest.mark.parametrize(
    ("vendor", "id_type"), [("sqlite", "INTEGER"), ("postgresql", "BIGINT")]
)
def test_the_schema_types_work_ids_as_the_original_did_on_the_database(
    api_client, monkeypatch, vendor, id_type
) -> None:
    monkeypatch.setattr(connection, "vendor", vendor)
    body = api_client.get(SCHEMA).json()
    assert (body["id"], body["job_group_id"]) == (id_type, id_type)
    assert body["batch"] == "INTEGER"


def test_anonymous_users_cannot_read_the_schema(anonymous_client) -> None:
    assert anonymous_client.get(SCHEMA).status_code == 401


# --- GET jobs/<job> -------------------------------------------------------------


def test_it_returns_a_job_by_id_with_every_column(api_client, user) -> None:
    with time_machine.travel(SUBMITTED_AT, tick=False):
        job = _job(owner=user, data={"foo": "bar"})
    response = api_client.get(JOB.format(job=job.pk))
    assert response.status_code == 200
    assert response.json() == _job_json(job, user="artist", data={"foo": "bar"})


def test_it_returns_the_columns_a_job_was_given(api_client) -> None:
    queue = JobQueueFactory.create(
        name="shots", parent=JobQueueFactory.create(name="render")
    )
    group = JobGroupFactory.create(title="Sequence 10")
    with time_machine.travel(SUBMITTED_AT, tick=False):
        job = _job(
            queue=queue,
            group=group,
            weight=7,
            minimum_agents=2,
            maximum_agents=5,
            autodelete_time=3600,
            output_link="https://example.com/out",
            ram_warning=1000,
            ram_max=2000,
            environ={"A": "1"},
            notes="see me",
        )
    Job.objects.filter(pk=job.pk).update(
        to_be_deleted=True, completion_notify_sent=True, hidden=True
    )
    assert api_client.get(JOB.format(job=job.pk)).json() == _job_json(
        job,
        jobqueue="render/shots",
        job_group_id=group.pk,
        jobgroup="Sequence 10",
        weight=7,
        minimum_agents=2,
        maximum_agents=5,
        autodelete_time=3600,
        output_link="https://example.com/out",
        ram_warning=1000,
        ram_max=2000,
        environ={"A": "1"},
        notes="see me",
        to_be_deleted=True,
        completion_notify_sent=True,
        hidden=True,
    )


def test_it_returns_a_job_by_title(api_client) -> None:
    job = _job("Test Job 2")
    response = api_client.get(JOB.format(job="Test%20Job%202"))
    assert response.status_code == 200
    assert response.json()["id"] == job.pk


def test_it_renders_the_relations_of_a_job(api_client) -> None:
    parent = _job("parent")
    job = _job(
        tags=[TagFactory.create(tag="shot")],
        tag_requirements=[(TagFactory.create(tag="workstation"), True)],
        parents=[parent],
    )
    child = _job("child", parents=[job])
    notified = UserFactory.create(username="testuser", email="t@example.com")
    JobNotifiedUser.objects.create(job=job, user=notified)
    body = api_client.get(JOB.format(job=job.pk)).json()
    assert body["parents"] == [{"id": parent.pk, "title": "parent"}]
    assert body["children"] == [{"id": child.pk, "title": "child"}]
    assert body["tags"] == ["shot"]
    assert body["tag_requirements"] == [{"tag": "workstation", "negate": True}]
    assert body["notified_users"] == [
        {
            "id": notified.pk,
            "username": "testuser",
            "email": "t@example.com",
            "on_success": True,
            "on_failure": True,
            "on_deletion": False,
        }
    ]


def test_reading_a_job_runs_a_constant_number_of_queries(
    api_client, django_assert_num_queries
) -> None:
    job = _job(
        tags=[TagFactory.create(), TagFactory.create()],
        parents=[_job("p1"), _job("p2")],
    )
    with django_assert_num_queries(7):
        response = api_client.get(JOB.format(job=job.pk))
    assert response.status_code == 200


def test_it_answers_404_for_an_unknown_job(api_client) -> None:
    response = api_client.get(JOB.format(job="no such job"))
    assert response.status_code == 404
    assert "no such job" in _error(response)


def test_anonymous_users_cannot_read_a_job(anonymous_client) -> None:
    job = _job()
    assert anonymous_client.get(JOB.format(job=job.pk)).status_code == 401


# --- POST/PUT jobs/<job> --------------------------------------------------------


def _change(client: Any, job: Job, body: Any, method: str = "post") -> Any:
    return getattr(client, method)(JOB.format(job=job.pk), body, format="json")


@pytest.mark.parametrize("method", ["post", "put"])
def test_the_owner_changes_a_job_and_gets_200(api_client, user, method) -> None:
    job = _job(owner=user)
    response = _change(api_client, job, {"priority": 5, "notes": "rush"}, method)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == JOB_KEYS
    assert (body["priority"], body["notes"]) == (5, "rush")


def test_a_job_is_changed_by_its_title(api_client, user) -> None:
    _job("Test Job", owner=user)
    response = api_client.post(
        JOB.format(job="Test%20Job"), {"priority": 3}, format="json"
    )
    assert response.status_code == 200
    assert Job.objects.get().priority == 3


def test_a_new_start_deletes_tasks(api_client, user) -> None:
    job = _job(owner=user)
    response = _change(api_client, job, {"start": 2.0})
    assert response.status_code == 200
    assert response.json()["start"] == 2.0
    frames = Task.objects.for_job(job.pk).values_list("frame", flat=True)
    assert sorted(frames) == [Decimal(2), Decimal(3), Decimal(4)]


def test_a_new_end_and_step_create_and_delete_tasks(api_client, user) -> None:
    job = _job(owner=user)
    kept = Task.objects.get(job=job, frame=3)
    response = _change(api_client, job, {"end": 7.0, "by": 2.0})
    assert (response.json()["end"], response.json()["by"]) == (7.0, 2.0)
    frames = Task.objects.for_job(job.pk).values_list("frame", flat=True)
    assert sorted(frames) == [Decimal(n) for n in (1, 3, 5, 7)]
    assert Task.objects.filter(pk=kept.pk).exists()


def test_a_finished_job_is_reopened_by_new_frames(api_client, user) -> None:
    job = _job(owner=user)
    Task.objects.filter(job=job).update(state=WorkState.DONE)
    refresh_job_states(job_ids=[job.pk])
    job.refresh_from_db()
    response = _change(api_client, job, {"end": 6.0})
    assert response.json()["state"] == "running"
    assert response.json()["time_finished"] is None


def test_it_changes_the_relations_by_name(admin_api_client, user) -> None:
    job = _job(owner=user)
    JobQueueFactory.create(name="render")
    group = JobGroupFactory.create()
    UserFactory.create(username="other")
    parent = _job("parent")
    response = _change(
        admin_api_client,
        job,
        {
            "jobqueue": "render",
            "job_group_id": group.pk,
            "user": "other",
            "parents": [parent.pk],
            "tags": ["a", "b"],
            "tag_requirements": [{"tag": "gpu"}],
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["jobqueue"], body["job_group_id"], body["user"]) == (
        "render",
        group.pk,
        "other",
    )
    assert body["parents"] == [{"id": parent.pk, "title": "parent"}]
    assert sorted(body["tags"]) == ["a", "b"]
    assert body["tag_requirements"] == [{"tag": "gpu", "negate": False}]


def test_null_clears_the_queue(api_client, user) -> None:
    job = _job(owner=user, queue=JobQueueFactory.create())
    assert _change(api_client, job, {"jobqueue": None}).json()["jobqueue"] is None


@pytest.mark.parametrize("state", ["paused", 100, "PAUSED"])
def test_the_state_paused_pauses_the_job(api_client, user, state) -> None:
    job = _job(owner=user)
    response = _change(api_client, job, {"state": state})
    assert response.status_code == 200
    assert response.json()["state"] == "paused"


def test_the_state_queued_resumes_a_paused_job(api_client, user) -> None:
    job = _job(owner=user, state=WorkState.PAUSED)
    assert _change(api_client, job, {"state": "queued"}).json()["state"] == "queued"


def test_an_empty_change_changes_nothing(api_client, user) -> None:
    job = _job(owner=user)
    before = _snapshot(job)
    assert _change(api_client, job, {}).status_code == 200
    assert _snapshot(job) == before


def test_an_admin_changes_any_job(admin_api_client) -> None:
    job = _job(owner=UserFactory.create(username="someone"))
    assert _change(admin_api_client, job, {"priority": 2}).status_code == 200


def test_owners_cannot_give_their_job_to_another_user(api_client, user) -> None:
    job = _job(owner=user)
    UserFactory.create(username="other")
    response = _change(api_client, job, {"user": "other", "priority": 5})
    assert response.status_code == 403
    assert "only farm admins" in _error(response)
    job.refresh_from_db()
    assert (job.user, job.priority) == (user, 0)


def test_owners_cannot_disown_their_job(api_client, user) -> None:
    job = _job(owner=user)
    response = _change(api_client, job, {"user": None})
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.user == user


def test_owners_cannot_have_a_new_owner_created(api_client, user, farm_config) -> None:
    farm_config(autocreate_users=True)
    job = _job(owner=user)
    response = _change(api_client, job, {"user": "newcomer"})
    assert response.status_code == 403
    assert not User.objects.filter(username="newcomer").exists()


def test_owners_may_name_themselves(api_client, user) -> None:
    job = _job(owner=user)
    response = _change(api_client, job, {"user": user.username})
    assert response.status_code == 200
    assert response.json()["user"] == user.username


def test_other_users_cannot_change_a_job(api_client) -> None:
    job = _job(owner=UserFactory.create(username="someone"))
    before = _snapshot(job)
    response = _change(api_client, job, {"priority": 2})
    assert response.status_code == 403
    _error(response)
    assert _snapshot(job) == before


def test_anonymous_users_cannot_change_a_job(anonymous_client) -> None:
    job = _job()
    before = _snapshot(job)
    assert _change(anonymous_client, job, {"priority": 2}).status_code == 401
    assert _snapshot(job) == before


@pytest.mark.parametrize(
    "body",
    [
        {"colour": "red"},
        {"id": 7},
        {"jobtype": "Other"},
        {"jobtype_version": 2},
        {"num_tiles": 2},
        {"time_submitted": "2014-03-06T15:40:58"},
        {"time_started": None},
        {"to_be_deleted": True},
        {"notified_users": []},
        {"children": []},
        {"tasks_failed": []},
        {"priority": 2, "colour": "red"},
    ],
)
def test_it_refuses_unknown_and_read_only_columns(api_client, user, body) -> None:
    job = _job(owner=user)
    before = _snapshot(job)
    response = _change(api_client, job, body)
    assert response.status_code == 400
    _error(response)
    assert _snapshot(job) == before


@pytest.mark.parametrize(
    "body",
    [
        {"priority": "5"},
        {"start": "2"},
        {"hidden": 1},
        {"title": None},
        {"tags": "a"},
        {"state": "bogus"},
        {"state": "done"},
        {"start": 9.0},
        {"by": 0},
        {"end": 10**7},
        {"priority": 10**9},
        {"cpus": 100000},
        {"title": ""},
        {"start": 2.0, "batch": 0},
        [],
    ],
)
def test_it_refuses_invalid_values_and_changes_nothing(api_client, user, body) -> None:
    job = _job(owner=user)
    before = _snapshot(job)
    response = _change(api_client, job, body)
    assert response.status_code == 400
    _error(response)
    assert _snapshot(job) == before


def test_a_job_cannot_depend_on_itself(api_client, user) -> None:
    job = _job(owner=user)
    response = _change(api_client, job, {"parents": [job.pk]})
    assert response.status_code == 400
    assert "itself" in _error(response)
    assert not job.parents.exists()


def test_a_job_cannot_depend_on_its_children(api_client, user) -> None:
    job = _job(owner=user)
    child = _job("child", parents=[job])
    grandchild = _job("grandchild", parents=[child])
    response = _change(api_client, job, {"parents": [grandchild.pk]})
    assert response.status_code == 400
    assert not job.parents.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"jobqueue": "nowhere"},
        {"job_group_id": 4242},
        {"parents": [4242]},
        {"software_requirements": [{"software": "maya"}]},
    ],
)
def test_it_answers_404_for_unknown_references(api_client, user, body) -> None:
    job = _job(owner=user)
    before = _snapshot(job)
    response = _change(api_client, job, {"priority": 9, **body})
    assert response.status_code == 404
    _error(response)
    assert _snapshot(job) == before


def test_it_answers_409_for_conflicting_requirements(api_client, user) -> None:
    job = _job(owner=user)
    SoftwareFactory.create(software="blender")
    body = {"software_requirements": [{"software": "blender"}] * 2}
    response = _change(api_client, job, body)
    assert response.status_code == 409
    _error(response)
    assert not job.software_requirements.exists()


def test_changing_an_unknown_job_is_404(api_client) -> None:
    response = api_client.post(JOB.format(job=4242), {"priority": 1}, format="json")
    assert response.status_code == 404
    _error(response)


# --- DELETE jobs/<job> ----------------------------------------------------------


def test_the_owner_marks_a_job_for_deletion(api_client, user) -> None:
    job = _job(owner=user)
    response = api_client.delete(JOB.format(job=job.pk))
    assert response.status_code == 204
    job.refresh_from_db()
    assert job.to_be_deleted is True


def test_a_job_is_deleted_by_title(admin_api_client) -> None:
    job = _job("Test Job")
    assert admin_api_client.delete(JOB.format(job="Test%20Job")).status_code == 204
    job.refresh_from_db()
    assert job.to_be_deleted is True


def test_deleting_an_unknown_job_is_404(admin_api_client) -> None:
    response = admin_api_client.delete(JOB.format(job=4242))
    assert response.status_code == 404
    _error(response)


def test_other_users_cannot_delete_a_job(api_client) -> None:
    job = _job(owner=UserFactory.create(username="someone"))
    response = api_client.delete(JOB.format(job=job.pk))
    assert response.status_code == 403
    _error(response)
    job.refresh_from_db()
    assert job.to_be_deleted is False


def test_anonymous_users_cannot_delete_a_job(anonymous_client) -> None:
    job = _job()
    assert anonymous_client.delete(JOB.format(job=job.pk)).status_code == 401
    job.refresh_from_db()
    assert job.to_be_deleted is False


# --- notified users -------------------------------------------------------------


def test_it_lists_the_notified_users(api_client) -> None:
    job = _job()
    subscriber = UserFactory.create(username="testuser", email="testuser@localhost")
    JobNotifiedUser.objects.create(job=job, user=subscriber)
    response = api_client.get(NOTIFIED_USERS.format(job=job.pk))
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": subscriber.pk,
            "username": "testuser",
            "email": "testuser@localhost",
            "on_success": True,
            "on_failure": True,
            "on_deletion": False,
        }
    ]


@pytest.mark.parametrize("count", [2, 20])
def test_the_notified_user_list_runs_a_constant_number_of_queries(
    api_client, django_assert_num_queries, count
) -> None:
    job = _job()
    for index in range(count):
        JobNotifiedUser.objects.create(
            job=job, user=UserFactory.create(username=f"u{index}")
        )
    with django_assert_num_queries(2):
        response = api_client.get(NOTIFIED_USERS.format(job=job.pk))
    assert len(response.json()) == count


def test_the_notified_users_of_an_unknown_job_are_404(api_client) -> None:
    response = api_client.get(NOTIFIED_USERS.format(job=4242))
    assert response.status_code == 404
    _error(response)


def test_the_owner_adds_a_notified_user(api_client, user) -> None:
    job = _job(owner=user)
    subscriber = UserFactory.create(username="testuser", email="testuser@example.com")
    response = api_client.post(
        NOTIFIED_USERS.format(job=job.pk),
        {"username": "testuser", "on_success": True, "on_deletion": False},
        format="json",
    )
    assert response.status_code == 201
    assert response.json() == {
        "id": subscriber.pk,
        "username": "testuser",
        "email": "testuser@example.com",
    }
    assert job.notified_users.get().user == subscriber


def test_adding_a_notified_user_again_changes_the_flags(api_client, user) -> None:
    job = _job(owner=user)
    JobNotifiedUser.objects.create(
        job=job, user=UserFactory.create(username="testuser")
    )
    response = api_client.post(
        NOTIFIED_USERS.format(job=job.pk),
        {"username": "testuser", "on_failure": False},
        format="json",
    )
    assert response.status_code == 200
    assert job.notified_users.get().on_failure is False


def test_adding_an_unknown_user_is_404(api_client, user) -> None:
    job = _job(owner=user)
    response = api_client.post(
        NOTIFIED_USERS.format(job=job.pk), {"username": "nobody"}, format="json"
    )
    assert response.status_code == 404
    assert "nobody" in _error(response)
    assert not job.notified_users.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": 5},
        {"username": "testuser", "on_success": "yes"},
        {"username": "testuser", "email": "x@example.com"},
        ["testuser"],
    ],
)
def test_adding_a_notified_user_refuses_invalid_bodies(api_client, user, body) -> None:
    job = _job(owner=user)
    UserFactory.create(username="testuser")
    response = api_client.post(NOTIFIED_USERS.format(job=job.pk), body, format="json")
    assert response.status_code == 400
    _error(response)
    assert not job.notified_users.exists()


def test_other_users_cannot_add_notified_users(api_client) -> None:
    job = _job(owner=UserFactory.create(username="someone"))
    response = api_client.post(
        NOTIFIED_USERS.format(job=job.pk), {"username": "artist"}, format="json"
    )
    assert response.status_code == 403
    _error(response)
    assert not job.notified_users.exists()


def test_the_owner_removes_a_notified_user(api_client, user) -> None:
    job = _job(owner=user)
    JobNotifiedUser.objects.create(
        job=job, user=UserFactory.create(username="testuser")
    )
    response = api_client.delete(NOTIFIED_USER.format(job=job.pk, username="testuser"))
    assert response.status_code == 204
    assert not job.notified_users.exists()


def test_removing_a_user_who_is_not_notified_answers_204(api_client, user) -> None:
    job = _job(owner=user)
    UserFactory.create(username="testuser")
    response = api_client.delete(NOTIFIED_USER.format(job=job.pk, username="testuser"))
    assert response.status_code == 204


@pytest.mark.parametrize(("job", "username"), [("4242", "artist"), (None, "nobody")])
def test_removing_from_an_unknown_job_or_user_is_404(
    admin_api_client, job, username
) -> None:
    existing = _job()
    url = NOTIFIED_USER.format(job=job or existing.pk, username=username)
    response = admin_api_client.delete(url)
    assert response.status_code == 404
    _error(response)


def test_other_users_cannot_remove_notified_users(api_client) -> None:
    job = _job(owner=UserFactory.create(username="someone"))
    JobNotifiedUser.objects.create(
        job=job, user=UserFactory.create(username="testuser")
    )
    response = api_client.delete(NOTIFIED_USER.format(job=job.pk, username="testuser"))
    assert response.status_code == 403
    assert job.notified_users.exists()


def test_anonymous_users_cannot_read_notified_users(anonymous_client) -> None:
    job = _job()
    assert anonymous_client.get(NOTIFIED_USERS.format(job=job.pk)).status_code == 401


# --- OpenAPI ----------------------------------------------------------------------


def test_the_openapi_description_includes_the_jobs_endpoints(anonymous_client) -> None:
    response = anonymous_client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/jobs/" in paths
    assert "/api/v1/jobs/{job}/tasks/{task_id}" in paths


# --- the services -----------------------------------------------------------------


def test_update_job_changes_everything_or_nothing() -> None:
    job = _job()
    with pytest.raises(ValidationError):
        update_job(job=job, priority=3, start=Decimal(9))
    job.refresh_from_db()
    assert (job.priority, job.start) == (0, Decimal(1))


def test_update_job_replaces_tag_requirements() -> None:
    job = _job(tag_requirements=[(TagFactory.create(tag="old"), False)])
    update_job(job=job, tag_requirements=[TagRequirementSpec("new", negate=True)])
    requirement = JobTagRequirement.objects.get(job=job)
    assert (requirement.tag.tag, requirement.negate) == ("new", True)


def test_update_job_refuses_unknown_columns() -> None:
    with pytest.raises(TypeError, match="colour"):
        update_job(job=_job(), colour="red")


def test_update_job_raises_a_conflict_for_duplicate_tag_requirements() -> None:
    job = _job()
    with pytest.raises(ConflictError):
        update_job(
            job=job,
            tag_requirements=[TagRequirementSpec("a"), TagRequirementSpec("a")],
        )


def test_notified_users_are_added_updated_and_removed() -> None:
    job = _job()
    UserFactory.create(username="testuser")
    _, created = add_notified_user(job=job, username="testuser", on_success=False)
    _, created_again = add_notified_user(job=job, username="testuser")
    assert (created, created_again) == (True, False)
    assert job.notified_users.get().on_success is False
    assert remove_notified_user(job=job, username="testuser") is True
    assert remove_notified_user(job=job, username="testuser") is False


def test_a_frame_range_change_beyond_the_maximum_is_refused_before_building(
    api_client, user, monkeypatch
) -> None:
    job = _job(owner=user, start=1, end=1, num_tiles=1000)

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the job's tasks were being built")

    monkeypatch.setattr("farm.services.jobs._insert_range_tasks", fail)
    response = _change(api_client, job, {"end": 2000})
    assert response.status_code == 400
    assert "2000000 tasks (2000 frames x 1000 tiles)" in _error(response)
    job.refresh_from_db()
    assert job.end == 1
    assert Task.objects.filter(job=job).count() == 1000


def test_a_frame_range_change_within_the_configured_maximum_is_made(
    api_client, user, farm_config
) -> None:
    farm_config(max_tasks_per_job=6)
    job = _job(owner=user, start=1, end=2, num_tiles=2)
    assert _change(api_client, job, {"end": 4}).status_code == 400
    assert _change(api_client, job, {"end": 3}).status_code == 200
    assert Task.objects.filter(job=job).count() == 6


# --- whole job answers of POST jobs/ and POST jobs/<job> ------------------------


def test_a_submission_answers_the_whole_job(api_client, user) -> None:
    version = JobTypeVersionFactory.create()
    group = JobGroupFactory.create(title="Sequence 10")
    with time_machine.travel(SUBMITTED_AT, tick=False):
        response = api_client.post(
            JOBS,
            {
                "title": "Test Job",
                "jobtype": version.jobtype.name,
                "start": 1,
                "end": 4,
                "job_group_id": group.pk,
            },
            format="json",
        )
    assert response.status_code == 201
    job = Job.objects.get()
    assert response.json() == _job_json(
        job, user="artist", job_group_id=group.pk, jobgroup="Sequence 10"
    )


def test_a_change_of_the_group_answers_the_whole_job(api_client, user) -> None:
    with time_machine.travel(SUBMITTED_AT, tick=False):
        job = _job(owner=user)
    group = JobGroupFactory.create(title="Sequence 20")
    response = _change(api_client, job, {"job_group_id": group.pk})
    assert response.status_code == 200
    assert response.json() == _job_json(
        job, user="artist", job_group_id=group.pk, jobgroup="Sequence 20"
    )
    response = _change(api_client, job, {"job_group_id": None})
    assert response.json() == _job_json(job, user="artist")


def test_the_legacy_jobgroup_id_is_refused_as_unknown(api_client, user) -> None:
    job = _job(owner=user)
    group = JobGroupFactory.create()
    response = _change(api_client, job, {"jobgroup_id": group.pk})
    assert response.status_code == 400
    assert "jobgroup_id" in response.json()["error"]
    job.refresh_from_db()
    assert job.group_id is None
