"""Removing a requirement of a job type that has no version yet is a 404."""

from __future__ import annotations

import json

import pytest

from farm.models import JobTypeVersion
from farm.tests.factories import JobTypeFactory, SoftwareVersionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("software", ["known", "unknown"])
def test_removing_a_requirement_of_a_job_type_without_versions_is_a_json_404(
    admin_api_client, software
) -> None:
    jobtype = JobTypeFactory.create(name="Empty")
    name = "nothing"
    if software == "known":
        name = SoftwareVersionFactory.create().software.software
    response = admin_api_client.delete(
        f"/api/v1/jobtypes/{jobtype.name}/software_requirements/{name}"
    )
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"} and "Empty" in body["error"]
    assert not JobTypeVersion.objects.exists()
