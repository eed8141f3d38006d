"""Contract: a job type's representations, key for key (issue #9).

A job type at one version is the job type's columns with the version's
(``supports_tiling`` included); ``jobtypes/schema`` names them all with their
SQL types. Each test compares whole objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from django.db import connection

from farm.models import JobType, JobTypeVersion
from farm.services.jobtypes import JobTypeDefinition, Requirement, create_jobtype
from farm.tests.factories import SoftwareFactory, SoftwareVersionFactory
from pyfarm_site.conf import (
    default_jobtype_batch_contiguous,
    default_jobtype_max_batch,
)

if TYPE_CHECKING:
    from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ENDPOINT = "/api/v1/jobtypes/"
CODE = "from pyfarm.jobtypes.core.jobtype import JobType\n"


def _expected(version: JobTypeVersion, **changes: Any) -> dict[str, Any]:
    """The whole answer for ``version``, built from the database row."""
    jobtype = version.jobtype
    return {
        "id": jobtype.pk,
        "name": jobtype.name,
        "description": jobtype.description,
        "version": version.version,
        "classname": version.classname,
        "code": version.code,
        "max_batch": version.max_batch,
        "batch_contiguous": version.batch_contiguous,
        "no_automatic_start_time": version.no_automatic_start_time,
        "supports_tiling": version.supports_tiling,
        "success_subject": jobtype.success_subject,
        "success_body": jobtype.success_body,
        "fail_subject": jobtype.fail_subject,
        "fail_body": jobtype.fail_body,
        "software_requirements": [],
        **changes,
    }


def test_a_new_jobtype_does_not_support_tiling_by_default(
    admin_api_client: APIClient,
) -> None:
    body = {"name": "Render", "code": CODE}
    response = admin_api_client.post(ENDPOINT, body, format="json")
    assert response.status_code == 201
    version = JobTypeVersion.objects.get(jobtype__name="Render")
    assert version.supports_tiling is False
    assert response.json() == {
        "id": version.jobtype_id,
        "name": "Render",
        "description": None,
        "version": 1,
        "classname": None,
        "code": CODE,
        "max_batch": default_jobtype_max_batch(),
        "batch_contiguous": default_jobtype_batch_contiguous(),
        "no_automatic_start_time": False,
        "supports_tiling": False,
        "success_subject": None,
        "success_body": None,
        "fail_subject": None,
        "fail_body": None,
        "software_requirements": [],
    }


def test_a_jobtype_is_created_supporting_tiling(admin_api_client: APIClient) -> None:
    body = {"name": "Render", "code": CODE, "supports_tiling": True}
    response = admin_api_client.post(ENDPOINT, body, format="json")
    assert response.status_code == 201
    version = JobTypeVersion.objects.get(jobtype__name="Render")
    assert version.supports_tiling is True
    assert response.json() == _expected(version, supports_tiling=True)


def test_put_sets_supports_tiling_on_the_new_version(
    admin_api_client: APIClient,
) -> None:
    create_jobtype(name="Render", definition=JobTypeDefinition(code=CODE))
    body = {"code": CODE, "supports_tiling": True}
    response = admin_api_client.put(f"{ENDPOINT}Render", body, format="json")
    assert response.status_code == 201
    version = JobTypeVersion.objects.get(jobtype__name="Render", version=2)
    assert version.supports_tiling is True
    assert response.json() == _expected(version)


def test_put_without_supports_tiling_resets_it_to_false(
    admin_api_client: APIClient,
) -> None:
    definition = JobTypeDefinition(code=CODE, supports_tiling=True)
    create_jobtype(name="Render", definition=definition)
    response = admin_api_client.put(f"{ENDPOINT}Render", {"code": CODE}, format="json")
    assert response.status_code == 201
    assert response.json()["supports_tiling"] is False


@pytest.mark.parametrize("value", [1, "true", None])
def test_supports_tiling_must_be_a_boolean(
    admin_api_client: APIClient, value: Any
) -> None:
    body = {"name": "Render", "code": CODE, "supports_tiling": value}
    response = admin_api_client.post(ENDPOINT, body, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert not JobType.objects.exists()


def test_a_requirement_change_keeps_supports_tiling(
    admin_api_client: APIClient,
) -> None:
    SoftwareFactory.create(software="blender")
    definition = JobTypeDefinition(code=CODE, supports_tiling=True)
    create_jobtype(name="Render", definition=definition)
    response = admin_api_client.post(
        f"{ENDPOINT}Render/software_requirements/",
        {"software": "blender"},
        format="json",
    )
    assert response.status_code == 201
    assert JobTypeVersion.objects.get(version=2).supports_tiling is True


@pytest.mark.parametrize("path", ["Render", "Render/versions/1"])
def test_a_jobtype_version_answer_has_exactly_the_model_columns(
    api_client: APIClient, path: str
) -> None:
    software = SoftwareFactory.create(software="blender")
    low = SoftwareVersionFactory.create(software=software, version="2.69", rank=1)
    definition = JobTypeDefinition(
        code=CODE,
        description="renders frames",
        classname="Render",
        max_batch=4,
        batch_contiguous=False,
        no_automatic_start_time=True,
        supports_tiling=True,
        success_subject="done",
        success_body="{job} is done",
        fail_subject="failed",
        fail_body="{job} failed",
    )
    version = create_jobtype(
        name="Render",
        definition=definition,
        requirements=[Requirement(software=software, min_version=low)],
    )
    response = api_client.get(f"{ENDPOINT}{path}")
    assert response.status_code == 200
    assert response.json() == {
        "id": version.jobtype_id,
        "name": "Render",
        "description": "renders frames",
        "version": 1,
        "classname": "Render",
        "code": CODE,
        "max_batch": 4,
        "batch_contiguous": False,
        "no_automatic_start_time": True,
        "supports_tiling": True,
        "success_subject": "done",
        "success_body": "{job} is done",
        "fail_subject": "failed",
        "fail_body": "{job} failed",
        "software_requirements": [
            {
                "software": "blender",
                "software_id": software.pk,
                "min_version": "2.69",
                "min_version_id": low.pk,
                "max_version": None,
                "max_version_id": None,
            }
        ],
    }


@pytest.mark.parametrize("path", ["schema", "schema/"])
def test_the_jobtype_schema_names_every_column_with_its_type(
    api_client: APIClient, path: str
) -> None:
    response = api_client.get(ENDPOINT + path)
    assert response.status_code == 200
    id_type = "INTEGER" if connection.vendor == "sqlite" else "BIGINT"
    assert response.json() == {
        "batch_contiguous": "BOOLEAN",
        "classname": "VARCHAR(64)",
        "code": "TEXT",
        "description": "TEXT",
        "fail_body": "TEXT",
        "fail_subject": "TEXT",
        "id": id_type,
        "jobtype_id": id_type,
        "max_batch": "INTEGER",
        "name": "VARCHAR(64)",
        "no_automatic_start_time": "BOOLEAN",
        "success_body": "TEXT",
        "success_subject": "TEXT",
        "supports_tiling": "BOOLEAN",
        "version": "INTEGER",
    }


def test_the_jobtype_schema_covers_every_key_of_a_version_answer(
    api_client: APIClient,
) -> None:
    create_jobtype(name="Render", definition=JobTypeDefinition(code=CODE))
    answer = api_client.get(f"{ENDPOINT}Render").json()
    schema = api_client.get(f"{ENDPOINT}schema").json()
    assert set(answer) - {"software_requirements"} <= set(schema)


# --- a job type's software requirement ---------------------------------------


def _required_blender() -> tuple[Any, Any, Any]:
    software = SoftwareFactory.create(software="blender")
    low = SoftwareVersionFactory.create(software=software, version="2.69", rank=1)
    high = SoftwareVersionFactory.create(software=software, version="2.79", rank=2)
    requirement = Requirement(software=software, min_version=low, max_version=high)
    create_jobtype(
        name="Render",
        definition=JobTypeDefinition(code=CODE),
        requirements=[requirement],
    )
    return software, low, high


def _requirement(software: Any, low: Any, high: Any, version: int) -> dict[str, Any]:
    return {
        "software": {"software": "blender", "id": software.pk},
        "min_version": {"version": "2.69", "id": low.pk},
        "max_version": {"version": "2.79", "id": high.pk},
        "jobtype_version": {"jobtype": "Render", "version": version},
    }


@pytest.mark.parametrize(
    "path",
    ["Render/software_requirements/", "Render/versions/1/software_requirements/"],
)
def test_a_listed_requirement_names_its_version_without_an_id(
    api_client: APIClient, path: str
) -> None:
    software, low, high = _required_blender()
    response = api_client.get(f"{ENDPOINT}{path}")
    assert response.status_code == 200
    assert response.json() == [_requirement(software, low, high, 1)]


@pytest.mark.parametrize("by", ["blender", "id"])
def test_one_requirement_names_its_version_without_an_id(
    api_client: APIClient, by: str
) -> None:
    software, low, high = _required_blender()
    key = software.pk if by == "id" else by
    response = api_client.get(f"{ENDPOINT}Render/software_requirements/{key}")
    assert response.status_code == 200
    assert response.json() == _requirement(software, low, high, 1)


def test_a_posted_requirement_names_the_new_version_without_an_id(
    admin_api_client: APIClient,
) -> None:
    create_jobtype(name="Render", definition=JobTypeDefinition(code=CODE))
    software = SoftwareFactory.create(software="blender")
    low = SoftwareVersionFactory.create(software=software, version="2.69", rank=1)
    high = SoftwareVersionFactory.create(software=software, version="2.79", rank=2)
    response = admin_api_client.post(
        f"{ENDPOINT}Render/software_requirements/",
        {"software": "blender", "min_version": "2.69", "max_version": "2.79"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json() == _requirement(software, low, high, 2)


@pytest.mark.parametrize(
    ("vendor", "id_type"), [("sqlite", "INTEGER"), ("postgresql", "BIGINT")]
)
def test_the_jobtype_schema_types_work_ids_as_the_original_did_on_the_database(
    api_client: APIClient, monkeypatch: Any, vendor: str, id_type: str
) -> None:
    monkeypatch.setattr(connection, "vendor", vendor)
    body = api_client.get(ENDPOINT + "schema").json()
    assert (body["id"], body["jobtype_id"], body["version"]) == (
        id_type,
        id_type,
        "INTEGER",
    )
