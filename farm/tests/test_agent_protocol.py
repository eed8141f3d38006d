"""The real agent's requests R1-R17 (agent-protocol.md §1.2, §2.4), as it sends them.

Every request carries what pyfarm-agent 0.8.6 sends: no credentials, an
address in an agent network, ``User-Agent: PyFarm/1.0 (agent)`` and
``Content-Type: application/json`` even on GETs, a ``json.dumps`` body. The
log upload (R8) and the update download (R17) carry no User-Agent, and the
upload is ``text/csv``. The order follows the captured run, out-of-order
retries included.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from farm.choices import AgentState, WorkState
from farm.models import (
    Agent,
    Job,
    JobType,
    JobTypeVersion,
    Software,
    SoftwareVersion,
    Task,
)
from farm.services.submission import create_job

pytestmark = pytest.mark.django_db

AGENT_ID = str(uuid.uuid4())
AGENT_ADDRESS = "10.20.30.40"
LOG_ID = "2026-11-29_07-00-57_1_84e148ca5f264a45bd150360c2386176.csv"
LOG_CSV = (
    "2026-11-29T07:00:57.397061,None,internal,1,"
    '"Starting work on job echo job, assignment of 2 tasks."\n'
    "2026-11-29T07:00:57.411303,27387,0,9,hello frames: 1.0 2.0\n"
    "2026-11-29T07:00:57.416138,None,internal,10,"
    '"Process has terminated successfully, code 0"\n'
)
# R1 as built by the agent (agent-protocol.md §1.3).
REGISTRATION = {
    "id": AGENT_ID,
    "hostname": "render-01.farm.local",
    "version": "0.8.6",
    "os_class": "linux",
    "os_fullname": "Linux-6.1.0-x86_64-with-debian-12.11",
    "ram": 24105,
    "cpus": 2,
    "cpu_name": "AMD EPYC",
    "port": 50123,
    "free_ram": 23076,
    "time_offset": 0,
    "state": "online",
    "mac_addresses": ["02:95:a1:86:4b:03"],
    "current_assignments": {},
}


class Agent086:
    """Sends requests the way pyfarm-agent 0.8.6 does."""

    def __init__(self) -> None:
        self.client = APIClient(REMOTE_ADDR=AGENT_ADDRESS)

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body) if body is not None else ""
        return getattr(self.client, method)(
            f"/api/v1{path}",
            data=data,
            content_type="application/json",
            HTTP_USER_AGENT="PyFarm/1.0 (agent)",
        )

    def get(self, path: str) -> Any:
        return self._json("get", path)

    def post(self, path: str, body: Any) -> Any:
        return self._json("post", path, body)

    def delete(self, path: str) -> Any:
        return self._json("delete", path)

    def upload_log(self, path: str, text: str) -> Any:
        """R8: text/csv, no User-Agent, Connection: close."""
        return self.client.put(
            f"/api/v1{path}",
            data=text.encode(),
            content_type="text/csv",
            HTTP_CONNECTION="close",
        )

    def download_update(self, version: str) -> Any:
        """R17: no User-Agent."""
        return self.client.get(f"/api/v1/agents/updates/{version}")


def _json_body(response: Any) -> Any:
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    return json.loads(response.content)


@pytest.fixture
def agent() -> Agent086:
    return Agent086()


@pytest.fixture
def farm(tmp_path: Path, farm_config: Any) -> dict[str, Any]:
    """A job type, a two-frame job of batch 2, and a software with discovery."""
    farm_config(
        tasklogs_dir=str(tmp_path / "logs"), agent_updates_dir=str(tmp_path / "updates")
    )
    jobtype = JobType.objects.create(name="TrivialEcho")
    JobTypeVersion.objects.create(
        jobtype=jobtype,
        version=1,
        classname="TrivialEcho",
        code="class TrivialEcho(object):\n    pass\n",
        max_batch=2,
    )
    job = create_job(
        jobtype_version=jobtype.versions.get(),
        title="echo job",
        start=1,
        end=2,
        batch=2,
        requeue=0,
    )
    echo = Software.objects.create(software="echo")
    SoftwareVersion.objects.create(
        software=echo,
        version="1",
        rank=1,
        discovery_code="def found():\n    return True\n",
        discovery_function_name="found",
    )
    return {"job": job}


def _register(agent: Agent086) -> None:
    response = agent.post("/agents/", REGISTRATION)
    assert response.status_code == 201, response.content
    assert _json_body(response)["id"] == AGENT_ID


def _assign(job: Job) -> list[Task]:
    """What the scheduler does: give the job's tasks to the agent."""
    Task.objects.filter(job=job).update(agent_id=AGENT_ID, sent_to_agent=True)
    return list(Task.objects.filter(job=job).order_by("frame"))


def test_registration_echoes_the_id_and_records_the_peer(
    agent: Agent086, farm: Any
) -> None:
    _register(agent)
    registered = Agent.objects.get(pk=AGENT_ID)
    assert registered.remote_ip == AGENT_ADDRESS
    assert registered.state == AgentState.ONLINE
    again = agent.post("/agents/", REGISTRATION)
    assert again.status_code == 200
    assert _json_body(again)["id"] == AGENT_ID
    assert Agent.objects.count() == 1


def test_a_whole_assignment_as_captured(
    agent: Agent086, farm: Any, admin_api_client: Any
) -> None:
    job = farm["job"]
    _register(agent)
    first, second = _assign(job)
    base = f"/jobs/{job.pk}/tasks"

    # R4: the job type, with the exact content type the agent insists on.
    response = agent.get("/jobtypes/TrivialEcho/versions/1")
    assert response.status_code == 200
    assert {"name", "version", "classname", "code"} <= set(_json_body(response))

    # R5: one log per assignment, registered under every task of the batch.
    for task in (second, first):
        response = agent.post(
            f"{base}/{task.pk}/attempts/1/logs/",
            {"agent_id": AGENT_ID, "identifier": LOG_ID},
        )
        assert response.status_code == 201, response.content
        _json_body(response)

    # R10, R11 from the job type, then R2 "running".
    assert agent.post(f"{base}/{first.pk}", {"progress": 0.5}).status_code == 200
    assert agent.post(f"{base}/{first.pk}", {"time_started": "now"}).status_code == 200
    response = agent.post(
        f"/agents/{AGENT_ID}",
        {"current_assignments": {}, "free_ram": 22000, "state": "running"},
    )
    assert response.status_code == 200
    _json_body(response)

    # R6 running for the second, done for the first (its running was lost).
    assert agent.post(f"{base}/{second.pk}", {"state": "running"}).status_code == 200
    assert agent.post(f"{base}/{first.pk}", {"state": "done"}).status_code == 200
    for task in (first, second):
        response = agent.post(
            f"{base}/{task.pk}/attempts/1/logs/{LOG_ID}", {"state": "running"}
        )
        assert response.status_code == 200

    # R8: the log upload, under the first task.
    response = agent.upload_log(
        f"{base}/{first.pk}/attempts/1/logs/{LOG_ID}/logfile", LOG_CSV
    )
    assert response.status_code == 201
    for task in (first, second):
        response = agent.post(
            f"{base}/{task.pk}/attempts/1/logs/{LOG_ID}", {"state": "done"}
        )
        assert response.status_code == 200
    assert agent.post(f"{base}/{second.pk}", {"state": "done"}).status_code == 200
    response = agent.post(
        f"/agents/{AGENT_ID}",
        {"current_assignments": {}, "free_ram": 23000, "state": "online"},
    )
    assert response.status_code == 200

    # The retried "running" of the first task lands after its "done".
    response = agent.post(f"{base}/{first.pk}", {"state": "running"})
    assert response.status_code == 200

    for task in (first, second):
        task.refresh_from_db()
        assert (task.state, task.progress) == (WorkState.DONE, 1.0)
    job.refresh_from_db()
    assert job.state == WorkState.DONE
    assert Agent.objects.get(pk=AGENT_ID).state == AgentState.ONLINE

    # The uploaded log reads back through the API, for both tasks' attempt.
    response = admin_api_client.get(
        f"/api/v1{base}/{second.pk}/attempts/1/logs/{LOG_ID}/logfile"
    )
    assert response.status_code == 200
    assert (
        b"".join(
            response.streaming_content if response.streaming else [response.content]
        ).decode()
        == LOG_CSV
    )


def test_a_stopped_assignment_requeues_its_task(agent: Agent086, farm: Any) -> None:
    job = farm["job"]
    _register(agent)
    task, _ = _assign(job)
    base = f"/jobs/{job.pk}/tasks"
    assert agent.post(f"{base}/{task.pk}", {"state": "running"}).status_code == 200
    response = agent.post(f"{base}/{task.pk}", {"agent_id": None, "state": "queued"})
    assert response.status_code == 200
    task.refresh_from_db()
    assert (task.state, task.agent_id) == (WorkState.QUEUED, None)


def test_failed_then_running_out_of_order_stays_failed(
    agent: Agent086, farm: Any
) -> None:
    job = farm["job"]
    _register(agent)
    task, _ = _assign(job)
    base = f"/jobs/{job.pk}/tasks"
    assert agent.post(f"{base}/{task.pk}", {"state": "failed"}).status_code == 200
    assert agent.post(f"{base}/{task.pk}", {"state": "running"}).status_code == 200
    task.refresh_from_db()
    assert (task.state, task.failures) == (WorkState.FAILED, 1)


def test_an_unknown_jobtype_fails_the_tasks(agent: Agent086, farm: Any) -> None:
    job = farm["job"]
    _register(agent)
    task, _ = _assign(job)
    response = agent.get("/jobtypes/NoSuchType/versions/1")
    assert response.status_code == 404
    assert "error" in _json_body(response)
    traceback = "Traceback (most recent call last): ... KeyError: 'classname'"
    response = agent.post(
        f"/jobs/{job.pk}/tasks/{task.pk}", {"state": "failed", "last_error": traceback}
    )
    assert response.status_code == 200
    task.refresh_from_db()
    assert (task.state, task.last_error) == (WorkState.FAILED, traceback)


def test_an_unknown_agent_is_told_to_register_again(
    agent: Agent086, farm: Any, admin_api_client: Any
) -> None:
    _register(agent)
    assert admin_api_client.delete(f"/api/v1/agents/{AGENT_ID}").status_code == 204
    response = agent.post(
        f"/agents/{AGENT_ID}",
        {"current_assignments": {}, "free_ram": 1, "state": "running"},
    )
    assert response.status_code == 404
    assert "error" in _json_body(response)
    _register(agent)


def test_shutdown_marks_the_agent_offline(agent: Agent086, farm: Any) -> None:
    _register(agent)
    response = agent.post(
        f"/agents/{AGENT_ID}",
        {"state": "offline", "free_ram": 23000, "current_assignments": {}},
    )
    assert response.status_code == 200
    assert Agent.objects.get(pk=AGENT_ID).state == AgentState.OFFLINE


def test_a_missing_update_answers_json_404(agent: Agent086, farm: Any) -> None:
    _register(agent)
    response = agent.download_update("99.0.0")
    assert response.status_code == 404
    assert "error" in _json_body(response)


def test_failed_on_agents_and_software_discovery(agent: Agent086, farm: Any) -> None:
    job = farm["job"]
    _register(agent)
    task, _ = _assign(job)

    # R12 (HEAD agents): the agent blacklists itself for a task.
    response = agent.post(
        f"/jobs/{job.pk}/tasks/{task.pk}/failed_on_agents/", {"id": AGENT_ID}
    )
    assert response.status_code in (200, 201)
    assert task.failed_in_agents.filter(pk=AGENT_ID).exists()

    # R13-R16 (HEAD agents): software discovery.
    response = agent.get("/software/echo/versions/1")
    assert response.status_code == 200
    assert _json_body(response)["discovery_function_name"] == "found"
    response = agent.get("/software/echo/versions/1/discovery_code")
    assert response.status_code == 200
    assert b"def found" in response.content
    response = agent.post(
        f"/agents/{AGENT_ID}/software/", {"software": "echo", "version": "1"}
    )
    assert response.status_code in (200, 201)
    assert Agent.objects.get(pk=AGENT_ID).software_versions.filter(version="1").exists()
    response = agent.delete(f"/agents/{AGENT_ID}/software/echo/versions/1")
    assert response.status_code in (200, 202, 204)
    assert not Agent.objects.get(pk=AGENT_ID).software_versions.exists()


def test_loopback_agents_are_refused_unless_allowed(
    farm: Any, farm_config: Any
) -> None:
    local = APIClient(REMOTE_ADDR="127.0.0.1")
    body = json.dumps({**REGISTRATION, "hostname": "127.0.0.1"})
    response = local.post(
        "/api/v1/agents/",
        body,
        content_type="application/json",
        HTTP_USER_AGENT="PyFarm/1.0 (agent)",
    )
    assert response.status_code == 400
    assert "allow_agents_from_loopback" in _json_body(response)["error"]
    assert not Agent.objects.exists()
    farm_config(allow_agents_from_loopback=True)
    response = local.post(
        "/api/v1/agents/",
        body,
        content_type="application/json",
        HTTP_USER_AGENT="PyFarm/1.0 (agent)",
    )
    assert response.status_code == 201


def test_frames_are_sent_as_numbers(agent: Agent086, farm: Any) -> None:
    job = farm["job"]
    task = Task.objects.filter(job=job).order_by("frame").first()
    assert task is not None
    response = agent.get(f"/jobs/{job.pk}/tasks/{task.pk}")
    assert response.status_code == 200
    assert _json_body(response)["frame"] == float(Decimal("1"))
