"""Job submission: ``POST /api/v1/jobs/`` and the `submit_job` service."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import (
    ObjectDoesNotExist,
    PermissionDenied,
    ValidationError,
)

from accounts.tests.factories import UserFactory
from farm.choices import WorkState
from farm.models import (
    Job,
    JobNotifiedUser,
    JobSoftwareRequirement,
    JobTagRequirement,
    Tag,
    Task,
)
from farm.services.errors import ConflictError
from farm.services.references import (
    NotifiedUserSpec,
    SoftwareRequirementSpec,
    TagRequirementSpec,
)
from farm.services.submission import submit_job
from farm.tests.factories import (
    JobFactory,
    JobGroupFactory,
    JobQueueFactory,
    JobTypeFactory,
    JobTypeVersionFactory,
    SoftwareFactory,
    SoftwareVersionFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs/"

# Every key of a job's JSON: the columns of the job model (the ids of its job
# type version, owner and queue as their names), its group's title, the frame
# range and the relations the original rendered.
JOB_KEYS = {
    "id",
    "title",
    "state",
    "jobtype",
    "jobtype_version",
    "jobqueue",
    "job_group_id",
    "jobgroup",
    "user",
    "priority",
    "weight",
    "minimum_agents",
    "maximum_agents",
    "start",
    "end",
    "by",
    "batch",
    "num_tiles",
    "requeue",
    "cpus",
    "ram",
    "ram_warning",
    "ram_max",
    "hidden",
    "to_be_deleted",
    "completion_notify_sent",
    "autodelete_time",
    "output_link",
    "data",
    "environ",
    "notes",
    "time_submitted",
    "time_started",
    "time_finished",
    "parents",
    "children",
    "tags",
    "tag_requirements",
    "software_requirements",
    "notified_users",
}
SOFTWARE_REQUIREMENT_KEYS = {
    "software",
    "software_id",
    "min_version",
    "max_version",
    "min_version_id",
    "max_version_id",
}


@pytest.fixture
def jobtype(db: None) -> Any:
    """The documentation's "TestJobType", version 1."""
    return JobTypeVersionFactory.create(jobtype__name="TestJobType", version=1).jobtype


@pytest.fixture
def blender(db: None) -> Any:
    """Software "blender" with versions 2.79 and 2.80."""
    software = SoftwareFactory.create(software="blender")
    SoftwareVersionFactory.create(software=software, version="2.79", rank=1)
    SoftwareVersionFactory.create(software=software, version="2.80", rank=2)
    return software


def _body(**extra: Any) -> dict[str, Any]:
    """The documentation's example submission, without requirements."""
    return {
        "title": "Test Job 2",
        "jobtype": "TestJobType",
        "start": 1.0,
        "end": 2.0,
        "data": {"foo": "bar"},
        **extra,
    }


def _submit(client: Any, body: Any) -> Any:
    return client.post(JOBS, body, format="json")


def _error(response: Any) -> str:
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    return str(body["error"])


def _nothing_created() -> bool:
    return not Job.objects.exists() and not Task.objects.exists()


# --- the documented submission ------------------------------------------------


def test_it_submits_a_job_and_answers_201_with_the_documented_keys(
    api_client, jobtype
) -> None:
    response = _submit(api_client, _body())
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == JOB_KEYS
    assert (body["start"], body["end"], body["by"]) == (1.0, 2.0, 1.0)
    assert (body["jobtype"], body["jobtype_version"]) == ("TestJobType", 1)
    assert (body["state"], body["data"], body["jobqueue"]) == (
        "queued",
        {"foo": "bar"},
        None,
    )
    assert (body["parents"], body["children"], body["tags"]) == ([], [], [])


def test_it_creates_one_task_per_frame(api_client, jobtype) -> None:
    body = _submit(api_client, _body(start=1, end=9, by=2)).json()
    frames = Task.objects.filter(job_id=body["id"]).values_list("frame", flat=True)
    assert sorted(frames) == [Decimal(n) for n in (1, 3, 5, 7, 9)]


def test_it_creates_one_task_per_frame_and_tile(api_client, jobtype) -> None:
    body = _submit(api_client, _body(num_tiles=4)).json()
    assert body["num_tiles"] == 4
    assert Task.objects.filter(job_id=body["id"]).count() == 8


def test_it_uses_the_latest_jobtype_version_by_default(api_client, jobtype) -> None:
    JobTypeVersionFactory.create(jobtype=jobtype, version=3)
    JobTypeVersionFactory.create(jobtype=jobtype, version=2)
    assert _submit(api_client, _body()).json()["jobtype_version"] == 3


def test_it_uses_the_requested_jobtype_version(api_client, jobtype) -> None:
    JobTypeVersionFactory.create(jobtype=jobtype, version=2)
    response = _submit(api_client, _body(jobtype_version=1))
    assert response.json()["jobtype_version"] == 1


def test_the_job_belongs_to_the_requesting_user(api_client, jobtype) -> None:
    assert _submit(api_client, _body()).json()["user"] == "artist"


def test_admins_set_the_named_user(admin_api_client, jobtype) -> None:
    UserFactory.create(username="testuser")
    response = _submit(admin_api_client, _body(user="testuser"))
    assert response.json()["user"] == "testuser"


def test_users_may_name_themselves(api_client, jobtype) -> None:
    response = _submit(api_client, _body(user="artist"))
    assert response.status_code == 201
    assert response.json()["user"] == "artist"


def test_users_cannot_submit_in_another_users_name(api_client, jobtype) -> None:
    UserFactory.create(username="victim")
    response = _submit(api_client, _body(user="victim"))
    assert response.status_code == 403
    assert "only farm admins" in _error(response)
    assert _nothing_created()


def test_users_cannot_have_an_owner_created(api_client, jobtype, farm_config) -> None:
    farm_config(autocreate_users=True)
    response = _submit(api_client, _body(user="newcomer"))
    assert response.status_code == 403
    _error(response)
    assert _nothing_created()
    assert not get_user_model().objects.filter(username="newcomer").exists()


def test_users_cannot_have_notified_users_created(
    api_client, jobtype, farm_config
) -> None:
    farm_config(autocreate_users=True)
    body = _body(notified_users=[{"username": "artist"}, {"username": "newcomer"}])
    response = _submit(api_client, body)
    assert response.status_code == 403
    assert "newcomer" in _error(response)
    assert _nothing_created()
    assert not get_user_model().objects.filter(username="newcomer").exists()


def test_users_may_notify_existing_users(api_client, jobtype, farm_config) -> None:
    farm_config(autocreate_users=True)
    UserFactory.create(username="producer")
    response = _submit(api_client, _body(notified_users=[{"username": "producer"}]))
    assert response.status_code == 201
    assert [n["username"] for n in response.json()["notified_users"]] == ["producer"]


def test_admins_autocreate_unknown_users(
    admin_api_client, jobtype, farm_config
) -> None:
    farm_config(autocreate_users=True, autocreate_user_email="{username}@farm.test")
    response = _submit(
        admin_api_client,
        _body(user="newcomer", notified_users=[{"username": "watcher"}]),
    )
    assert response.status_code == 201
    created = get_user_model().objects.get(username="newcomer")
    assert created.email == "newcomer@farm.test"
    assert not created.has_usable_password()
    assert get_user_model().objects.filter(username="watcher").exists()


def test_autocreated_users_have_no_email_without_a_template(
    admin_api_client, jobtype, farm_config
) -> None:
    farm_config(autocreate_users=True, autocreate_user_email=None)
    _submit(admin_api_client, _body(user="newcomer"))
    assert get_user_model().objects.get(username="newcomer").email == ""


def test_unknown_users_are_404_without_autocreation(
    admin_api_client, jobtype, farm_config
) -> None:
    farm_config(autocreate_users=False)
    response = _submit(admin_api_client, _body(user="nobody"))
    assert response.status_code == 404
    assert "nobody" in _error(response)
    assert _nothing_created()
    assert not get_user_model().objects.filter(username="nobody").exists()


def test_it_sets_the_queue_by_name(api_client, jobtype) -> None:
    JobQueueFactory.create(name="render")
    assert _submit(api_client, _body(jobqueue="render")).json()["jobqueue"] == "render"


def test_it_sets_a_nested_queue_by_its_path(api_client, jobtype) -> None:
    queue = JobQueueFactory.create(
        name="lighting", parent=JobQueueFactory.create(name="render")
    )
    response = _submit(api_client, _body(jobqueue="render/lighting"))
    assert response.status_code == 201
    assert Job.objects.get().queue == queue


def test_it_sets_the_group(api_client, jobtype) -> None:
    group = JobGroupFactory.create(main_jobtype=jobtype)
    response = _submit(api_client, _body(job_group_id=group.pk))
    assert (response.json()["job_group_id"], response.json()["jobgroup"]) == (
        group.pk,
        group.title,
    )


def test_it_sets_the_parents(api_client, jobtype) -> None:
    parent = JobFactory.create(title="parent")
    response = _submit(api_client, _body(parents=[parent.pk]))
    assert response.json()["parents"] == [{"id": parent.pk, "title": "parent"}]


def test_it_creates_unknown_tags(api_client, jobtype) -> None:
    TagFactory.create(tag="existing")
    response = _submit(api_client, _body(tags=["existing", "new"]))
    assert sorted(response.json()["tags"]) == ["existing", "new"]
    assert Tag.objects.count() == 2


def test_it_sets_tag_requirements(api_client, jobtype) -> None:
    body = _body(
        tag_requirements=[{"tag": "workstation", "negate": True}, {"tag": "gpu"}]
    )
    response = _submit(api_client, body)
    assert sorted(
        response.json()["tag_requirements"], key=lambda item: item["tag"]
    ) == [{"tag": "gpu", "negate": False}, {"tag": "workstation", "negate": True}]


def test_it_sets_software_requirements(api_client, jobtype, blender) -> None:
    body = _body(
        software_requirements=[
            {"software": "blender", "min_version": "2.79", "max_version": "2.80"}
        ]
    )
    requirements = _submit(api_client, body).json()["software_requirements"]
    assert len(requirements) == 1
    assert set(requirements[0]) == SOFTWARE_REQUIREMENT_KEYS
    assert requirements[0]["software"] == "blender"
    assert requirements[0]["software_id"] == blender.pk
    assert (requirements[0]["min_version"], requirements[0]["max_version"]) == (
        "2.79",
        "2.80",
    )


def test_a_software_requirement_needs_no_versions(api_client, jobtype, blender) -> None:
    body = _body(software_requirements=[{"software": "blender"}])
    requirement = _submit(api_client, body).json()["software_requirements"][0]
    assert requirement["min_version"] is None
    assert requirement["max_version_id"] is None


def test_it_sets_notified_users(api_client, jobtype) -> None:
    notified = UserFactory.create(username="testuser", email="testuser@example.com")
    body = _body(notified_users=[{"username": "testuser", "on_deletion": True}])
    response = _submit(api_client, body)
    assert response.json()["notified_users"] == [
        {
            "id": notified.pk,
            "username": "testuser",
            "email": "testuser@example.com",
            "on_success": True,
            "on_failure": True,
            "on_deletion": True,
        }
    ]


def test_it_sets_every_documented_column(api_client, jobtype) -> None:
    columns = {
        "priority": 5,
        "weight": 3,
        "minimum_agents": 1,
        "maximum_agents": 4,
        "batch": 2,
        "requeue": 5,
        "cpus": 2,
        "ram": 512,
        "ram_warning": 600,
        "ram_max": 800,
        "hidden": True,
        "autodelete_time": 3600,
        "output_link": "https://example.com/out",
        "environ": {"PATH": "/bin"},
        "notes": "rush",
    }
    body = _submit(api_client, _body(**columns)).json()
    assert {key: body[key] for key in columns} == columns


def test_the_autodelete_time_defaults_to_the_configuration(
    api_client, jobtype, farm_config
) -> None:
    farm_config(default_job_delete_time=600)
    assert _submit(api_client, _body()).json()["autodelete_time"] == 600


def test_new_tasks_are_queued_with_the_jobs_priority(api_client, jobtype) -> None:
    body = _submit(api_client, _body(priority=7)).json()
    tasks = Task.objects.filter(job_id=body["id"])
    assert set(tasks.values_list("state", "priority")) == {(WorkState.QUEUED, 7)}


# --- refusals -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"jobtype": "NoSuchType"}, "NoSuchType"),
        ({"jobtype_version": 9}, "version 9"),
        ({"jobqueue": "nowhere"}, "nowhere"),
        ({"job_group_id": 4242}, "4242"),
        ({"parents": [4242]}, "4242"),
        ({"software_requirements": [{"software": "maya"}]}, "maya"),
        (
            {"software_requirements": [{"software": "blender", "min_version": "9"}]},
            "'9'",
        ),
        (
            {"software_requirements": [{"software": "blender", "max_version": "9"}]},
            "'9'",
        ),
    ],
)
def test_it_answers_404_for_unknown_references(
    api_client, jobtype, blender, farm_config, extra, expected
) -> None:
    farm_config(autocreate_users=False)
    response = _submit(api_client, _body(**extra))
    assert response.status_code == 404
    assert expected in _error(response)
    assert _nothing_created()


def test_a_jobtype_without_versions_is_404(api_client) -> None:
    JobTypeFactory.create(name="Empty")
    response = _submit(api_client, _body(jobtype="Empty"))
    assert response.status_code == 404
    assert "no versions" in _error(response)


@pytest.mark.parametrize(
    "extra",
    [
        {"software_requirements": [{"software": "blender"}, {"software": "blender"}]},
        {"tag_requirements": [{"tag": "a"}, {"tag": "a", "negate": True}]},
        {"notified_users": [{"username": "artist"}, {"username": "artist"}]},
    ],
)
def test_it_answers_409_for_conflicting_requirements(
    api_client, jobtype, blender, extra
) -> None:
    response = _submit(api_client, _body(**extra))
    assert response.status_code == 409
    assert "more than once" in _error(response)
    assert _nothing_created()
    assert not Tag.objects.exists()


@pytest.mark.parametrize(
    "extra",
    [
        {"colour": "red"},
        {"id": 5},
        {"state": "running"},
        {"time_submitted": "2014-03-06T15:40:58"},
        {"children": []},
        {"tasks_failed": []},
        {"to_be_deleted": True},
        {"tag_requirements": [{"tag": "a", "colour": "red"}]},
        {"software_requirements": [{"software": "blender", "version": "1"}]},
        {"notified_users": [{"username": "artist", "email": "x@example.com"}]},
    ],
)
def test_it_refuses_unknown_and_read_only_columns(
    api_client, jobtype, blender, extra
) -> None:
    response = _submit(api_client, _body(**extra))
    assert response.status_code == 400
    _error(response)
    assert _nothing_created()


@pytest.mark.parametrize(
    "extra",
    [
        {"start": "1"},
        {"end": None},
        {"by": True},
        {"title": 5},
        {"jobtype": 1},
        {"jobtype_version": "1"},
        {"batch": "2"},
        {"priority": 1.5},
        {"hidden": "yes"},
        {"data": [1, 2]},
        {"environ": "PATH=/bin"},
        {"tags": "a"},
        {"tags": [1]},
        {"parents": ["1"]},
        {"parents": 1},
        {"tag_requirements": {"tag": "a"}},
        {"tag_requirements": [{"tag": "a", "negate": "yes"}]},
        {"tag_requirements": [{"negate": True}]},
        {"software_requirements": ["blender"]},
        {"notified_users": [{"username": "artist", "on_success": 1}]},
        {"user": 7},
        {"jobqueue": 7},
    ],
)
def test_it_refuses_wrong_json_types(api_client, jobtype, blender, extra) -> None:
    response = _submit(api_client, _body(**extra))
    assert response.status_code == 400
    _error(response)
    assert _nothing_created()


@pytest.mark.parametrize("missing", ["jobtype", "title", "start", "end"])
def test_it_refuses_missing_required_fields(api_client, jobtype, missing) -> None:
    body = _body()
    del body[missing]
    response = _submit(api_client, body)
    assert response.status_code == 400
    assert missing in _error(response)
    assert _nothing_created()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"start": 5.0, "end": 1.0}, "end"),
        ({"by": 0}, "by"),
        ({"by": -1}, "by"),
        ({"start": 1.00001}, "start"),
        ({"end": 10**7}, "end"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 300}, "title"),
        ({"batch": 0}, "batch"),
        ({"priority": 10**9}, "priority"),
        ({"weight": -1}, "weight"),
        ({"weight": 10**20}, "weight"),
        ({"cpus": 100000}, "cpus"),
        ({"requeue": -2}, "requeue"),
        ({"num_tiles": 0}, "num_tiles"),
        ({"ram_warning": 900, "ram_max": 800}, "ram_warning"),
        ({"minimum_agents": 5, "maximum_agents": 1}, "maximum_agents"),
        ({"output_link": "not a url"}, "output_link"),
        ({"tags": [""]}, "tags"),
        ({"tags": ["x" * 100]}, "tag"),
        ({"job_group_id": 10**20}, "job_group_id"),
    ],
)
def test_it_refuses_out_of_range_values(api_client, jobtype, extra, field) -> None:
    response = _submit(api_client, _body(**extra))
    assert response.status_code == 400
    assert field in _error(response)
    assert _nothing_created()
    assert not Tag.objects.exists()


def test_it_refuses_a_minimum_version_above_the_maximum(
    api_client, jobtype, blender
) -> None:
    requirement = {"software": "blender", "min_version": "2.80", "max_version": "2.79"}
    response = _submit(api_client, _body(software_requirements=[requirement]))
    assert response.status_code == 400
    assert "min_version" in _error(response)
    assert _nothing_created()


def test_an_invalid_submission_leaves_no_users_or_tags_behind(
    admin_api_client, jobtype, farm_config
) -> None:
    farm_config(autocreate_users=True)
    body = _body(user="newcomer", tags=["new"], start=9.0, end=1.0)
    response = _submit(admin_api_client, body)
    assert response.status_code == 400
    _error(response)
    assert _nothing_created()
    assert not Tag.objects.exists()
    assert not get_user_model().objects.filter(username="newcomer").exists()


def test_it_refuses_malformed_json(api_client, jobtype) -> None:
    response = api_client.post(
        JOBS, data='{"title": "x",', content_type="application/json"
    )
    assert response.status_code == 400
    _error(response)
    assert _nothing_created()


@pytest.mark.parametrize("body", [[], "job", 5])
def test_it_refuses_bodies_that_are_not_objects(api_client, jobtype, body) -> None:
    response = _submit(api_client, body)
    assert response.status_code == 400
    _error(response)
    assert _nothing_created()


# --- permissions and cost -----------------------------------------------------


def test_anonymous_users_cannot_submit(anonymous_client, jobtype) -> None:
    response = _submit(anonymous_client, _body())
    assert response.status_code == 401
    _error(response)
    assert _nothing_created()


def test_agents_cannot_submit(agent_client, jobtype) -> None:
    response = agent_client.post(JOBS, _body())
    assert response.status_code == 401
    _error(response)
    assert _nothing_created()


def test_a_large_submission_runs_a_bounded_number_of_queries(
    api_client, jobtype, blender, django_assert_max_num_queries
) -> None:
    body = _body(
        start=1,
        end=20_000,
        tags=["a", "b"],
        tag_requirements=[{"tag": "c"}],
        software_requirements=[{"software": "blender", "min_version": "2.79"}],
        notified_users=[{"username": "artist"}],
    )
    with django_assert_max_num_queries(40):
        response = _submit(api_client, body)
    assert response.status_code == 201
    assert Task.objects.filter(job_id=response.json()["id"]).count() == 20_000


# --- the service ----------------------------------------------------------------


def test_submit_job_resolves_every_reference(jobtype, blender) -> None:
    owner = UserFactory.create(username="owner")
    job = submit_job(
        jobtype="TestJobType",
        title="t",
        start=1,
        end=3,
        user="owner",
        tags=["x"],
        tag_requirements=[TagRequirementSpec(tag="y", negate=True)],
        software_requirements=[SoftwareRequirementSpec(software="blender")],
        notified_users=[NotifiedUserSpec(username="owner", on_success=False)],
    )
    assert job.user == owner
    assert [tag.tag for tag in job.tags.all()] == ["x"]
    assert JobTagRequirement.objects.get(job=job).negate is True
    assert JobSoftwareRequirement.objects.get(job=job).software == blender
    assert JobNotifiedUser.objects.get(job=job).on_success is False
    assert job.tasks.count() == 3


def test_submit_job_refuses_another_owner_for_a_plain_submitter(jobtype) -> None:
    UserFactory.create(username="victim")
    with pytest.raises(PermissionDenied):
        submit_job(
            jobtype="TestJobType",
            title="t",
            start=1,
            end=1,
            user="victim",
            submitted_by=UserFactory.create(),
        )
    assert _nothing_created()


def test_submit_job_falls_back_to_the_submitting_user(jobtype) -> None:
    owner = UserFactory.create()
    job = submit_job(
        jobtype="TestJobType", title="t", start=1, end=1, submitted_by=owner
    )
    assert job.user == owner


def test_submit_job_raises_does_not_exist_for_unknown_jobtypes() -> None:
    with pytest.raises(ObjectDoesNotExist, match="Nope"):
        submit_job(jobtype="Nope", title="t", start=1, end=1)


def test_submit_job_raises_a_conflict_for_duplicate_requirements(jobtype) -> None:
    with pytest.raises(ConflictError):
        submit_job(
            jobtype="TestJobType",
            title="t",
            start=1,
            end=1,
            tag_requirements=[TagRequirementSpec("a"), TagRequirementSpec("a")],
        )


def test_submit_job_validates_before_creating_anything(jobtype) -> None:
    with pytest.raises(ValidationError):
        submit_job(jobtype="TestJobType", title="t", start=2, end=1, tags=["new"])
    assert not Tag.objects.exists()
    assert not Job.objects.exists()


# --- the size of a job ------------------------------------------------------------


def _building_tasks_fails(monkeypatch: Any) -> None:
    """Building a job's tasks (or their keys) fails the test."""

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the job's tasks were being built")

    monkeypatch.setattr("farm.services.submission.create_job_tasks", fail)


@pytest.mark.parametrize("num_tiles", [2_147_483_647, 20_000_000, 1_000_001])
def test_a_job_of_too_many_tiles_is_refused_before_anything_is_built(
    api_client, jobtype, monkeypatch, django_assert_num_queries, num_tiles
) -> None:
    _building_tasks_fails(monkeypatch)
    with django_assert_num_queries(0):
        response = _submit(api_client, _body(start=1, end=1, num_tiles=num_tiles))
    assert response.status_code == 400
    # num_tiles alone is bounded by max_tasks_per_job (a job has a frame).
    assert _error(response) == (
        "num_tiles: Ensure this value is less than or equal to 1000000."
    )
    assert _nothing_created()


def test_frames_times_tiles_over_the_maximum_are_refused(
    api_client, jobtype, monkeypatch
) -> None:
    _building_tasks_fails(monkeypatch)
    response = _submit(api_client, _body(start=1, end=1001, num_tiles=1000))
    assert response.status_code == 400
    assert "1001000 tasks (1001 frames x 1000 tiles)" in _error(response)
    assert _nothing_created()


def test_the_maximum_job_size_is_configurable(api_client, jobtype, farm_config) -> None:
    farm_config(max_tasks_per_job=10)
    response = _submit(api_client, _body(start=1, end=11))
    assert response.status_code == 400
    assert "max_tasks_per_job (10)" in _error(response)
    assert _nothing_created()
    response = _submit(api_client, _body(start=1, end=5, num_tiles=2))
    assert response.status_code == 201
    assert Task.objects.count() == 10
