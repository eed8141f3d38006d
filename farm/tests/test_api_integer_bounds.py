"""Integers beyond their column's range are a 400 on every database.

SQLite stores integers of any size and PostgreSQL refuses those beyond its
column types: validation must not depend on which one serves the API. Every
integer of a request body, list, query string or URL has explicit bounds
(`farm.api.fields.StrictIntegerField`); the suite runs on both databases.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from farm.models import Agent, Job, JobQueue, Tag, Task
from farm.tests.factories import (
    AgentFactory,
    JobFactory,
    JobTypeVersionFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db

INT32_OVERFLOW = 2**31
INT64_OVERFLOW = 2**63
AGENT_ID = "5bd1e4a1-7f0e-4a8e-9f0c-63f1c0a3d2e1"


@pytest.fixture
def jobtype(db: None) -> str:
    """A job type to submit jobs with."""
    return JobTypeVersionFactory.create(jobtype__name="Bounded", version=1).jobtype.name


def _job(jobtype: str, **extra: Any) -> dict[str, Any]:
    return {"jobtype": jobtype, "title": "bounded", "start": 1, "end": 2, **extra}


def _error(response: Any) -> str:
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    return str(body["error"])


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"batch": 1099511627776}, "batch"),
        ({"weight": INT32_OVERFLOW}, "weight"),
        ({"requeue": INT32_OVERFLOW}, "requeue"),
        ({"ram_max": INT32_OVERFLOW}, "ram_max"),
        ({"autodelete_time": INT32_OVERFLOW}, "autodelete_time"),
        ({"jobtype_version": INT32_OVERFLOW}, "jobtype_version"),
        ({"job_group_id": INT64_OVERFLOW}, "job_group_id"),
        ({"parents": [INT64_OVERFLOW]}, "parents"),
        ({"parents": [-1]}, "parents"),
    ],
)
def test_a_submission_with_an_integer_beyond_its_column_is_refused(
    api_client, jobtype, extra, field
) -> None:
    response = api_client.post("/api/v1/jobs/", _job(jobtype, **extra), format="json")
    assert response.status_code == 400
    assert field in _error(response)
    assert not Job.objects.exists()


def test_a_job_change_with_an_integer_beyond_its_column_is_refused(
    admin_api_client,
) -> None:
    job = JobFactory.create()
    response = admin_api_client.post(
        f"/api/v1/jobs/{job.pk}", {"weight": INT32_OVERFLOW}, format="json"
    )
    assert response.status_code == 400
    assert "weight" in _error(response)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "q", "parent_jobqueue_id": INT64_OVERFLOW}, "parent_jobqueue_id"),
        ({"name": "q", "weight": INT32_OVERFLOW}, "weight"),
        ({"name": "q", "maximum_agents": INT32_OVERFLOW}, "maximum_agents"),
    ],
)
def test_a_queue_with_an_integer_beyond_its_column_is_refused(
    admin_api_client, body, field
) -> None:
    response = admin_api_client.post("/api/v1/jobqueues/", body, format="json")
    assert response.status_code == 400
    assert field in _error(response)
    assert not JobQueue.objects.exists()


def test_a_tag_listing_a_job_id_beyond_its_column_is_refused(admin_api_client) -> None:
    response = admin_api_client.put(
        "/api/v1/tags/render", {"jobs": [INT64_OVERFLOW]}, format="json"
    )
    assert response.status_code == 400
    assert "jobs" in _error(response)
    assert not Tag.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"free_ram": INT32_OVERFLOW}, "free_ram"),
        ({"time_offset": INT32_OVERFLOW}, "time_offset"),
        ({"disks": [{"mountpoint": "/", "size": INT64_OVERFLOW, "free": 1}]}, "size"),
    ],
)
def test_an_agent_reporting_an_integer_beyond_its_column_is_refused(
    agent_client, changes, field
) -> None:
    body = {
        "id": AGENT_ID,
        "hostname": "render01",
        "remote_ip": "10.0.0.5",
        "port": 50000,
        "cpus": 4,
        "ram": 4096,
        "free_ram": 2048,
        **changes,
    }
    response = agent_client.post("/api/v1/agents/", body)
    assert response.status_code == 400
    assert field in _error(response)
    assert not Agent.objects.exists()


def test_giving_an_agent_a_task_id_beyond_its_column_is_refused(
    admin_api_client,
) -> None:
    agent = AgentFactory.create()
    response = admin_api_client.post(
        f"/api/v1/agents/{agent.pk}/tasks/", {"id": INT64_OVERFLOW}, format="json"
    )
    assert response.status_code == 400
    assert "id" in _error(response)


def test_an_agent_filter_beyond_its_column_is_refused(api_client) -> None:
    response = api_client.get("/api/v1/agents/", {"min_ram": INT32_OVERFLOW})
    assert response.status_code == 400
    assert "min_ram" in _error(response)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/jobs/{job}/tasks/{huge}",
        "/api/v1/jobs/{huge}/tasks/{task}/failed_on_agents/",
        "/api/v1/jobs/{job}/tasks/{task}/attempts/{huge}/logs/",
        "/api/v1/jobtypes/{jobtype}/versions/{huge}",
        "/api/v1/pathmaps/{huge}",
        "/api/v1/jobgroups/{huge}/",
    ],
)
def test_an_id_beyond_every_column_in_a_url_is_a_json_client_error(
    admin_api_client, path
) -> None:
    task = TaskFactory.create()
    url = path.format(
        job=task.job_id,
        task=task.pk,
        jobtype=task.job.jobtype_version.jobtype.name,
        huge=INT64_OVERFLOW,
    )
    response = admin_api_client.get(url)
    assert response.status_code in (400, 404)
    assert _error(response)
    assert Task.objects.filter(pk=task.pk).exists()
