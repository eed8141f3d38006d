"""API: job types, their versions, code and software requirements."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest

from farm.models import JobType, JobTypeSoftwareRequirement, JobTypeVersion
from farm.services.jobtypes import (
    JobTypeDefinition,
    Requirement,
    add_jobtype_version,
    create_jobtype,
)
from farm.tests.factories import (
    JobFactory,
    JobTypeFactory,
    JobTypeVersionFactory,
    SoftwareFactory,
    SoftwareVersionFactory,
)

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse
    from rest_framework.test import APIClient

    from farm.models import Software

pytestmark = pytest.mark.django_db

ENDPOINT = "/api/v1/jobtypes/"

CODE = (
    "from pyfarm.jobtypes.core.jobtype import JobType\n\n"
    "class TestJobType(JobType):\n"
    "    def get_command(self):\n"
    '        return "/usr/bin/touch"\n'
)
VERSION_KEYS = {
    "id",
    "name",
    "description",
    "version",
    "classname",
    "code",
    "max_batch",
    "batch_contiguous",
    "no_automatic_start_time",
    "supports_tiling",
    "success_subject",
    "success_body",
    "fail_subject",
    "fail_body",
    "software_requirements",
}
FLAT_REQUIREMENT_KEYS = {
    "software",
    "software_id",
    "min_version",
    "min_version_id",
    "max_version",
    "max_version_id",
}
REQUIREMENT_KEYS = {"software", "min_version", "max_version", "jobtype_version"}


def _error(response: _MonkeyPatchedResponse, status: int) -> str:
    """Assert an error response: the status and a ``{"error": "..."}`` body."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]
    return body["error"]


def _body(**fields: Any) -> dict[str, Any]:
    return {"name": "TestJobType", "classname": "TestJobType", "code": CODE, **fields}


def _jobtype(
    name: str = "TestJobType", requirements: tuple[Requirement, ...] = ()
) -> JobType:
    version = create_jobtype(
        name=name,
        definition=JobTypeDefinition(code=CODE, classname="TestJobType"),
        requirements=requirements,
    )
    return version.jobtype


def _new_version(jobtype: JobType, code: str = CODE) -> JobTypeVersion:
    return add_jobtype_version(
        jobtype=jobtype, definition=JobTypeDefinition(code=code, classname="X")
    )


def _blender(*versions: str) -> Software:
    software = SoftwareFactory.create(software="blender")
    for rank, version in enumerate(versions):
        SoftwareVersionFactory.create(software=software, version=version, rank=rank)
    return software


def _snapshot() -> tuple[list, list, list]:
    """Everything the jobtypes API may change, to check that nothing did."""
    return (
        list(JobType.objects.order_by("pk").values()),
        list(JobTypeVersion.objects.order_by("pk").values()),
        list(JobTypeSoftwareRequirement.objects.order_by("pk").values()),
    )


# --- GET jobtypes/ -------------------------------------------------------------


def test_it_lists_jobtypes_with_id_and_name(api_client: APIClient) -> None:
    jobtype = _jobtype()
    response = api_client.get(ENDPOINT)
    assert response.status_code == 200
    assert response.json() == [{"id": jobtype.pk, "name": "TestJobType"}]


@pytest.mark.parametrize("count", [2, 20])
def test_listing_jobtypes_takes_one_query_whatever_their_number(
    api_client: APIClient, django_assert_num_queries: Any, count: int
) -> None:
    JobTypeVersionFactory.create_batch(count)
    with django_assert_num_queries(1):
        response = api_client.get(ENDPOINT)
    assert len(response.json()) == count


def test_anonymous_requests_cannot_list_jobtypes(anonymous_client: APIClient) -> None:
    _error(anonymous_client.get(ENDPOINT), 401)


# --- POST jobtypes/ ------------------------------------------------------------


def test_it_creates_a_jobtype_with_its_first_version(
    admin_api_client: APIClient,
) -> None:
    response = admin_api_client.post(
        ENDPOINT, _body(description="renders", max_batch=5), format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == VERSION_KEYS
    jobtype = JobType.objects.get(name="TestJobType")
    assert body["id"] == jobtype.pk
    assert body["version"] == 1
    assert body["code"] == CODE
    assert body["max_batch"] == 5
    assert body["description"] == "renders"
    assert body["software_requirements"] == []


def test_it_creates_a_jobtype_with_notification_texts(
    admin_api_client: APIClient,
) -> None:
    admin_api_client.post(
        ENDPOINT,
        _body(success_subject="done", fail_body="it failed"),
        format="json",
    )
    jobtype = JobType.objects.get(name="TestJobType")
    assert (jobtype.success_subject, jobtype.fail_body) == ("done", "it failed")


def test_it_creates_a_jobtype_with_software_requirements(
    admin_api_client: APIClient,
) -> None:
    software = _blender("2.69", "2.79")
    response = admin_api_client.post(
        ENDPOINT,
        _body(
            software_requirements=[
                {"software": "blender", "min_version": "2.69", "max_version": "2.79"}
            ]
        ),
        format="json",
    )
    assert response.status_code == 201
    (requirement,) = response.json()["software_requirements"]
    assert set(requirement) == FLAT_REQUIREMENT_KEYS
    assert requirement["software"] == "blender"
    assert requirement["software_id"] == software.pk
    assert (requirement["min_version"], requirement["max_version"]) == ("2.69", "2.79")


def test_posting_a_taken_name_conflicts(admin_api_client: APIClient) -> None:
    _jobtype()
    before = _snapshot()
    _error(admin_api_client.post(ENDPOINT, _body(), format="json"), 409)
    assert _snapshot() == before


@pytest.mark.parametrize(
    "body",
    [
        _body(colour="red"),
        _body(id=3),
        _body(version=2),
        {"name": "TestJobType"},
        {"code": CODE},
        _body(code=""),
        _body(max_batch="2"),
        _body(max_batch=0),
        _body(batch_contiguous="yes"),
        _body(name=12),
        _body(classname="C" * 65),
        _body(name="N" * 65),
        _body(name="   "),
        _body(software_requirements={"software": "blender"}),
        _body(software_requirements=[{"software": "blender", "colour": "red"}]),
        [_body()],
    ],
    ids=[
        "unknown column",
        "id",
        "version",
        "no code",
        "no name",
        "blank code",
        "max_batch as string",
        "max_batch zero",
        "boolean as string",
        "name as number",
        "classname too long",
        "name too long",
        "blank name",
        "requirements not a list",
        "unknown requirement column",
        "not an object",
    ],
)
def test_it_refuses_bad_bodies(admin_api_client: APIClient, body: Any) -> None:
    _blender("2.69")
    _error(admin_api_client.post(ENDPOINT, body, format="json"), 400)
    assert not JobType.objects.exists()


def test_it_refuses_malformed_json(admin_api_client: APIClient) -> None:
    response = admin_api_client.post(
        ENDPOINT, '{"name": "X",', content_type="application/json"
    )
    _error(response, 400)
    assert not JobType.objects.exists()


@pytest.mark.parametrize("name", ["a/b", "a\\b", "..", "a..b"])
def test_it_refuses_names_that_cannot_be_a_url_segment(
    admin_api_client: APIClient, name: str
) -> None:
    _error(admin_api_client.post(ENDPOINT, _body(name=name), format="json"), 400)
    assert not JobType.objects.exists()


@pytest.mark.parametrize(
    "requirement",
    [
        {"software": "maya"},
        {"software": "blender", "min_version": "9.99"},
        {"software": "blender", "max_version": "9.99"},
    ],
    ids=["unknown software", "unknown min_version", "unknown max_version"],
)
def test_it_answers_404_for_requirements_of_unknown_software(
    admin_api_client: APIClient, requirement: dict[str, str]
) -> None:
    _blender("2.69")
    body = _body(software_requirements=[requirement])
    _error(admin_api_client.post(ENDPOINT, body, format="json"), 404)
    assert not JobType.objects.exists()


def test_it_refuses_a_min_version_above_the_max_version(
    admin_api_client: APIClient,
) -> None:
    _blender("2.69", "2.79")
    body = _body(
        software_requirements=[
            {"software": "blender", "min_version": "2.79", "max_version": "2.69"}
        ]
    )
    _error(admin_api_client.post(ENDPOINT, body, format="json"), 400)
    assert not JobType.objects.exists()


def test_it_refuses_the_same_software_required_twice(
    admin_api_client: APIClient,
) -> None:
    _blender("2.69")
    body = _body(software_requirements=[{"software": "blender"}] * 2)
    _error(admin_api_client.post(ENDPOINT, body, format="json"), 400)
    assert not JobType.objects.exists()


def test_ordinary_users_cannot_create_jobtypes(api_client: APIClient) -> None:
    _error(api_client.post(ENDPOINT, _body(), format="json"), 403)
    assert not JobType.objects.exists()


# --- GET jobtypes/<name|id> ----------------------------------------------------


@pytest.mark.parametrize("by", ["name", "id"])
def test_it_returns_the_latest_version(api_client: APIClient, by: str) -> None:
    jobtype = _jobtype()
    _new_version(jobtype, code="print('v2')\n")
    key = jobtype.name if by == "name" else jobtype.pk
    response = api_client.get(f"{ENDPOINT}{key}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == VERSION_KEYS
    assert (body["id"], body["version"], body["code"]) == (
        jobtype.pk,
        2,
        "print('v2')\n",
    )


def test_getting_an_unknown_jobtype_is_404(api_client: APIClient) -> None:
    _error(api_client.get(f"{ENDPOINT}NoSuchType"), 404)


def test_getting_a_jobtype_without_versions_is_404(api_client: APIClient) -> None:
    JobTypeFactory.create(name="Empty")
    _error(api_client.get(f"{ENDPOINT}Empty"), 404)


# --- PUT jobtypes/<name|id> ----------------------------------------------------


def test_put_adds_a_version_numbered_one_above_the_latest(
    admin_api_client: APIClient,
) -> None:
    jobtype = _jobtype()
    _new_version(jobtype)
    response = admin_api_client.put(
        f"{ENDPOINT}TestJobType", _body(code="print(3)\n"), format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == VERSION_KEYS
    assert (body["version"], body["code"]) == (3, "print(3)\n")
    assert jobtype.versions.count() == 3


def test_put_replaces_the_definition(admin_api_client: APIClient) -> None:
    admin_api_client.post(
        ENDPOINT, _body(description="old", max_batch=7), format="json"
    )
    body = admin_api_client.put(
        f"{ENDPOINT}TestJobType", {"code": CODE}, format="json"
    ).json()
    assert (body["description"], body["classname"]) == (None, None)
    assert body["max_batch"] == 1


def test_put_keeps_the_requirements_when_it_leaves_them_out(
    admin_api_client: APIClient,
) -> None:
    software = _blender("2.69")
    jobtype = _jobtype(requirements=(Requirement(software=software),))
    response = admin_api_client.put(f"{ENDPOINT}{jobtype.pk}", _body(), format="json")
    assert [r["software"] for r in response.json()["software_requirements"]] == [
        "blender"
    ]


def test_put_replaces_the_requirements_when_given(
    admin_api_client: APIClient,
) -> None:
    software = _blender("2.69")
    jobtype = _jobtype(requirements=(Requirement(software=software),))
    response = admin_api_client.put(
        f"{ENDPOINT}{jobtype.pk}", _body(software_requirements=[]), format="json"
    )
    assert response.json()["software_requirements"] == []
    assert jobtype.versions.get(version=1).software_requirements.count() == 1


def test_put_creates_the_jobtype_named_in_the_url(
    admin_api_client: APIClient,
) -> None:
    response = admin_api_client.put(f"{ENDPOINT}NewType", {"code": CODE}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == "NewType"
    assert response.json()["version"] == 1


def test_put_refuses_another_name_for_a_new_jobtype(
    admin_api_client: APIClient,
) -> None:
    response = admin_api_client.put(
        f"{ENDPOINT}NewType", _body(name="Other"), format="json"
    )
    _error(response, 400)
    assert not JobType.objects.exists()


def test_put_renames_an_existing_jobtype(admin_api_client: APIClient) -> None:
    jobtype = _jobtype()
    admin_api_client.put(
        f"{ENDPOINT}{jobtype.pk}", _body(name="Renamed"), format="json"
    )
    jobtype.refresh_from_db()
    assert jobtype.name == "Renamed"


def test_put_renaming_to_a_taken_name_conflicts(admin_api_client: APIClient) -> None:
    jobtype = _jobtype()
    _jobtype(name="Taken")
    before = _snapshot()
    response = admin_api_client.put(
        f"{ENDPOINT}{jobtype.pk}", _body(name="Taken"), format="json"
    )
    _error(response, 409)
    assert _snapshot() == before


def test_put_to_an_unknown_id_is_404(admin_api_client: APIClient) -> None:
    _error(admin_api_client.put(f"{ENDPOINT}4711", _body(), format="json"), 404)
    assert not JobType.objects.exists()


def test_put_refuses_unknown_columns(admin_api_client: APIClient) -> None:
    _jobtype()
    before = _snapshot()
    response = admin_api_client.put(
        f"{ENDPOINT}TestJobType", _body(colour="red"), format="json"
    )
    _error(response, 400)
    assert _snapshot() == before


def test_put_numbers_the_version_under_a_row_lock(
    admin_api_client: APIClient,
) -> None:
    _jobtype()
    with mock.patch.object(
        JobType.objects, "select_for_update", wraps=JobType.objects.select_for_update
    ) as lock:
        admin_api_client.put(f"{ENDPOINT}TestJobType", _body(), format="json")
    lock.assert_called_once_with()


def test_ordinary_users_cannot_put_jobtypes(api_client: APIClient) -> None:
    _jobtype()
    before = _snapshot()
    _error(api_client.put(f"{ENDPOINT}TestJobType", _body(), format="json"), 403)
    assert _snapshot() == before


# --- DELETE jobtypes/<name|id> -------------------------------------------------


def test_delete_removes_the_jobtype_with_its_versions(
    admin_api_client: APIClient,
) -> None:
    _new_version(_jobtype())
    response = admin_api_client.delete(f"{ENDPOINT}TestJobType")
    assert response.status_code == 204
    assert not JobType.objects.exists()
    assert not JobTypeVersion.objects.exists()


def test_deleting_an_unknown_jobtype_is_204(admin_api_client: APIClient) -> None:
    assert admin_api_client.delete(f"{ENDPOINT}NoSuchType").status_code == 204


def test_deleting_a_jobtype_used_by_jobs_conflicts(
    admin_api_client: APIClient,
) -> None:
    JobFactory.create(jobtype_version=_jobtype().versions.get())
    before = _snapshot()
    _error(admin_api_client.delete(f"{ENDPOINT}TestJobType"), 409)
    assert _snapshot() == before


def test_ordinary_users_cannot_delete_jobtypes(api_client: APIClient) -> None:
    _jobtype()
    _error(api_client.delete(f"{ENDPOINT}TestJobType"), 403)
    assert JobType.objects.exists()


# --- GET jobtypes/<name|id>/versions/ ------------------------------------------


def test_it_lists_the_version_numbers_in_ascending_order(
    api_client: APIClient,
) -> None:
    jobtype = _jobtype()
    _new_version(jobtype)
    _new_version(jobtype)
    response = api_client.get(f"{ENDPOINT}TestJobType/versions/")
    assert response.status_code == 200
    assert response.json() == [1, 2, 3]


def test_listing_the_versions_of_an_unknown_jobtype_is_404(
    api_client: APIClient,
) -> None:
    _error(api_client.get(f"{ENDPOINT}NoSuchType/versions/"), 404)


@pytest.mark.parametrize("count", [2, 20])
def test_listing_versions_takes_a_constant_number_of_queries(
    api_client: APIClient, django_assert_num_queries: Any, count: int
) -> None:
    jobtype = JobTypeFactory.create(name="Many")
    for number in range(1, count + 1):
        JobTypeVersionFactory.create(jobtype=jobtype, version=number)
    with django_assert_num_queries(2):
        response = api_client.get(f"{ENDPOINT}Many/versions/")
    assert len(response.json()) == count


# --- GET jobtypes/<name|id>/versions/<version> (R4) ----------------------------


def test_the_agent_downloads_a_jobtype_version_as_plain_application_json(
    agent_client: APIClient,
) -> None:
    _jobtype()
    # R4 exactly: no credentials, the agent's headers, Content-Type
    # application/json on a GET without a body.
    response = agent_client.get(
        f"{ENDPOINT}TestJobType/versions/1", content_type="application/json"
    )
    request = response.wsgi_request
    assert request.META["CONTENT_TYPE"] == "application/json"
    assert request.META["HTTP_USER_AGENT"] == "PyFarm/1.0 (agent)"
    assert not request.body
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert {"name", "version", "classname", "code"} <= set(body)
    assert (body["name"], body["version"]) == ("TestJobType", 1)
    assert (body["classname"], body["code"]) == ("TestJobType", CODE)


def test_a_jobtype_version_has_the_documented_keys(api_client: APIClient) -> None:
    software = _blender("2.69")
    _jobtype(requirements=(Requirement(software=software),))
    body = api_client.get(f"{ENDPOINT}TestJobType/versions/1").json()
    assert set(body) == VERSION_KEYS
    assert set(body["software_requirements"][0]) == FLAT_REQUIREMENT_KEYS


def test_an_old_version_keeps_its_code(agent_client: APIClient) -> None:
    _new_version(_jobtype(), code="print('new')\n")
    body = agent_client.get(f"{ENDPOINT}TestJobType/versions/1").json()
    assert body["code"] == CODE


@pytest.mark.parametrize(
    "path", ["TestJobType/versions/9", "NoSuchType/versions/1"], ids=["version", "type"]
)
def test_the_agent_gets_a_json_404_for_an_unknown_jobtype_version(
    agent_client: APIClient, path: str
) -> None:
    _jobtype()
    response = agent_client.get(ENDPOINT + path, content_type="application/json")
    _error(response, 404)
    assert response.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("version", ["one", "-1", "1.5"])
def test_a_version_that_is_not_a_number_is_refused(
    api_client: APIClient, version: str
) -> None:
    _jobtype()
    _error(api_client.get(f"{ENDPOINT}TestJobType/versions/{version}"), 400)


def test_requests_from_outside_the_agent_networks_need_credentials(
    anonymous_client: APIClient,
) -> None:
    _jobtype()
    _error(anonymous_client.get(f"{ENDPOINT}TestJobType/versions/1"), 401)


# --- DELETE jobtypes/<name|id>/versions/<version> ------------------------------


def test_delete_removes_one_version(admin_api_client: APIClient) -> None:
    jobtype = _jobtype()
    _new_version(jobtype)
    response = admin_api_client.delete(f"{ENDPOINT}TestJobType/versions/1")
    assert response.status_code == 204
    assert list(jobtype.versions.values_list("version", flat=True)) == [2]


def test_deleting_an_unknown_version_is_204(admin_api_client: APIClient) -> None:
    _jobtype()
    before = _snapshot()
    assert (
        admin_api_client.delete(f"{ENDPOINT}TestJobType/versions/7").status_code == 204
    )
    assert _snapshot() == before


def test_deleting_a_version_used_by_jobs_conflicts(
    admin_api_client: APIClient,
) -> None:
    JobFactory.create(jobtype_version=_jobtype().versions.get())
    before = _snapshot()
    _error(admin_api_client.delete(f"{ENDPOINT}TestJobType/versions/1"), 409)
    assert _snapshot() == before


def test_agents_cannot_delete_versions(agent_client: APIClient) -> None:
    _jobtype()
    _error(agent_client.delete(f"{ENDPOINT}TestJobType/versions/1"), 401)
    assert JobTypeVersion.objects.exists()


def test_ordinary_users_cannot_delete_versions(api_client: APIClient) -> None:
    _jobtype()
    _error(api_client.delete(f"{ENDPOINT}TestJobType/versions/1"), 403)
    assert JobTypeVersion.objects.exists()


# --- GET jobtypes/<name|id>/versions/<version>/code ----------------------------


@pytest.mark.parametrize("accept", ["text/x-python", "application/json", "*/*"])
def test_it_serves_the_code_as_python_source(
    agent_client: APIClient, accept: str
) -> None:
    _jobtype()
    response = agent_client.get(
        f"{ENDPOINT}TestJobType/versions/1/code", HTTP_ACCEPT=accept
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/x-python"
    assert response.content.decode() == CODE


def test_the_code_of_an_unknown_version_is_a_json_404(
    agent_client: APIClient,
) -> None:
    _jobtype()
    response = agent_client.get(
        f"{ENDPOINT}TestJobType/versions/2/code", HTTP_ACCEPT="text/x-python"
    )
    _error(response, 404)


# --- jobtypes/<name|id>/software_requirements/ ---------------------------------


def test_it_lists_the_latest_versions_requirements(api_client: APIClient) -> None:
    software = _blender("2.69")
    version = software.versions.get()
    _jobtype(requirements=(Requirement(software=software, min_version=version),))
    response = api_client.get(f"{ENDPOINT}TestJobType/software_requirements/")
    assert response.status_code == 200
    (requirement,) = response.json()
    assert set(requirement) == REQUIREMENT_KEYS
    assert requirement["software"] == {"software": "blender", "id": software.pk}
    assert requirement["min_version"] == {"version": "2.69", "id": version.pk}
    assert requirement["max_version"] is None
    assert requirement["jobtype_version"] == {"jobtype": "TestJobType", "version": 1}


def test_it_lists_the_requirements_of_a_given_version(api_client: APIClient) -> None:
    software = _blender("2.69")
    jobtype = _jobtype(requirements=(Requirement(software=software),))
    add_jobtype_version(
        jobtype=jobtype, definition=JobTypeDefinition(code=CODE), requirements=[]
    )
    response = api_client.get(
        f"{ENDPOINT}TestJobType/versions/1/software_requirements/"
    )
    assert [r["software"]["software"] for r in response.json()] == ["blender"]


def test_listing_requirements_of_an_unknown_jobtype_is_404(
    api_client: APIClient,
) -> None:
    _error(api_client.get(f"{ENDPOINT}NoSuchType/software_requirements/"), 404)


@pytest.mark.parametrize("count", [2, 20])
def test_listing_requirements_takes_a_constant_number_of_queries(
    api_client: APIClient, django_assert_num_queries: Any, count: int
) -> None:
    requirements = tuple(
        Requirement(software=SoftwareVersionFactory.create().software)
        for _ in range(count)
    )
    _jobtype(requirements=requirements)
    with django_assert_num_queries(3):
        response = api_client.get(f"{ENDPOINT}TestJobType/software_requirements/")
    assert len(response.json()) == count


def test_posting_a_requirement_makes_a_new_version(
    admin_api_client: APIClient,
) -> None:
    _blender("2.69")
    jobtype = _jobtype()
    response = admin_api_client.post(
        f"{ENDPOINT}TestJobType/software_requirements/",
        {"software": "blender", "min_version": "2.69"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == REQUIREMENT_KEYS
    assert body["jobtype_version"]["version"] == 2
    assert body["min_version"]["version"] == "2.69"
    assert jobtype.versions.get(version=2).software_requirements.count() == 1
    assert jobtype.versions.get(version=1).software_requirements.count() == 0


def test_posting_a_requirement_keeps_the_code(admin_api_client: APIClient) -> None:
    _blender("2.69")
    jobtype = _jobtype()
    admin_api_client.post(
        f"{ENDPOINT}TestJobType/software_requirements/",
        {"software": "blender"},
        format="json",
    )
    assert jobtype.versions.get(version=2).code == CODE


def test_posting_a_requirement_to_a_specific_version_is_405(
    admin_api_client: APIClient,
) -> None:
    _blender("2.69")
    _jobtype()
    before = _snapshot()
    response = admin_api_client.post(
        f"{ENDPOINT}TestJobType/versions/1/software_requirements/",
        {"software": "blender"},
        format="json",
    )
    _error(response, 405)
    assert _snapshot() == before


def test_posting_an_existing_requirement_conflicts(
    admin_api_client: APIClient,
) -> None:
    software = _blender("2.69")
    _jobtype(requirements=(Requirement(software=software),))
    before = _snapshot()
    response = admin_api_client.post(
        f"{ENDPOINT}TestJobType/software_requirements/",
        {"software": "blender"},
        format="json",
    )
    _error(response, 409)
    assert _snapshot() == before


def test_posting_a_requirement_of_unknown_software_is_404(
    admin_api_client: APIClient,
) -> None:
    _jobtype()
    before = _snapshot()
    response = admin_api_client.post(
        f"{ENDPOINT}TestJobType/software_requirements/",
        {"software": "maya"},
        format="json",
    )
    _error(response, 404)
    assert _snapshot() == before


@pytest.mark.parametrize(
    "body",
    [
        {"software": "blender", "colour": "red"},
        {"min_version": "2.69"},
        {"software": 1},
    ],
    ids=["unknown column", "no software", "software as number"],
)
def test_posting_a_bad_requirement_is_refused(
    admin_api_client: APIClient, body: dict[str, Any]
) -> None:
    _blender("2.69")
    _jobtype()
    before = _snapshot()
    response = admin_api_client.post(
        f"{ENDPOINT}TestJobType/software_requirements/", body, format="json"
    )
    _error(response, 400)
    assert _snapshot() == before


def test_ordinary_users_cannot_post_requirements(api_client: APIClient) -> None:
    _blender("2.69")
    _jobtype()
    before = _snapshot()
    response = api_client.post(
        f"{ENDPOINT}TestJobType/software_requirements/",
        {"software": "blender"},
        format="json",
    )
    _error(response, 403)
    assert _snapshot() == before


# --- jobtypes/<name|id>/software_requirements/<software> -----------------------


@pytest.mark.parametrize("by", ["name", "id"])
def test_it_returns_one_requirement(api_client: APIClient, by: str) -> None:
    software = _blender("2.69")
    _jobtype(requirements=(Requirement(software=software),))
    key = "blender" if by == "name" else software.pk
    response = api_client.get(f"{ENDPOINT}TestJobType/software_requirements/{key}")
    assert response.status_code == 200
    assert set(response.json()) == REQUIREMENT_KEYS
    assert response.json()["software"]["software"] == "blender"


@pytest.mark.parametrize("software", ["blender", "maya"])
def test_a_requirement_the_jobtype_does_not_have_is_404(
    api_client: APIClient, software: str
) -> None:
    _blender("2.69")
    _jobtype()
    response = api_client.get(f"{ENDPOINT}TestJobType/software_requirements/{software}")
    _error(response, 404)


def test_deleting_a_requirement_makes_a_version_without_it(
    admin_api_client: APIClient,
) -> None:
    software = _blender("2.69")
    jobtype = _jobtype(requirements=(Requirement(software=software),))
    response = admin_api_client.delete(
        f"{ENDPOINT}TestJobType/software_requirements/blender"
    )
    assert response.status_code == 204
    assert jobtype.versions.get(version=2).software_requirements.count() == 0
    assert jobtype.versions.get(version=1).software_requirements.count() == 1


@pytest.mark.parametrize("software", ["blender", "maya"])
def test_deleting_a_requirement_the_jobtype_does_not_have_is_204(
    admin_api_client: APIClient, software: str
) -> None:
    _blender("2.69")
    _jobtype()
    before = _snapshot()
    response = admin_api_client.delete(
        f"{ENDPOINT}TestJobType/software_requirements/{software}"
    )
    assert response.status_code == 204
    assert _snapshot() == before


def test_ordinary_users_cannot_delete_requirements(api_client: APIClient) -> None:
    software = _blender("2.69")
    _jobtype(requirements=(Requirement(software=software),))
    before = _snapshot()
    response = api_client.delete(f"{ENDPOINT}TestJobType/software_requirements/blender")
    _error(response, 403)
    assert _snapshot() == before
