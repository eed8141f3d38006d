"""``POST /jobgroups/<id>`` naming an unknown user is a 404, as for creation."""

from __future__ import annotations

import json

import pytest

from farm.models import JobGroup
from farm.tests.factories import JobGroupFactory, JobTypeFactory

pytestmark = pytest.mark.django_db

JOBGROUPS = "/api/v1/jobgroups/"


@pytest.fixture
def group(user) -> JobGroup:
    jobtype = JobTypeFactory.create(name="Test JobType")
    return JobGroupFactory.create(title="Test Group", user=user, main_jobtype=jobtype)


def test_giving_a_group_to_an_unknown_user_is_a_json_404(
    admin_api_client, group, farm_config
) -> None:
    farm_config(autocreate_users=False)
    response = admin_api_client.post(
        f"{JOBGROUPS}{group.pk}", {"user": "nobody"}, format="json"
    )
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"} and "nobody" in body["error"]
    group.refresh_from_db()
    assert group.user.username == "artist"


def test_with_logins_disabled_an_unknown_owner_is_a_json_404(
    anonymous_client, group, farm_config
) -> None:
    farm_config(autocreate_users=False, login_disabled=True)
    response = anonymous_client.post(
        f"{JOBGROUPS}{group.pk}", {"user": "nobody"}, format="json"
    )
    assert response.status_code == 404
    assert set(response.json()) == {"error"}
