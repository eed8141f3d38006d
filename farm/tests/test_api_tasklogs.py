"""Task log endpoints: registration (R5), state (R7), upload (R8), download."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from farm.api.urls import tasklogs
from farm.choices import UseAddress, WorkState
from farm.models import Agent, Job, Task, TaskLog, TaskTaskLogAssociation
from farm.services.logs import UploadTooLarge, store_logfile
from farm.tests.factories import (
    AgentFactory,
    JobFactory,
    TaskFactory,
    TaskLogFactory,
    TaskTaskLogAssociationFactory,
)

pytestmark = pytest.mark.django_db

LOGS = "/api/v1/jobs/{job}/tasks/{task}/attempts/{attempt}/logs/"
LOG_ID = "2026-11-29_07-00-57_1_84e148ca5f264a45bd150360c2386176.csv"
# A log as the agent writes it (agent-protocol.md §1.8).
LOG_CSV = (
    b"2026-11-29T07:00:57.397061,None,internal,1,"
    b'"Starting work on job echo job, assignment of 2 tasks."\n'
    b"2026-11-29T07:00:57.411303,27387,0,9,hello frames: 1.0 2.0\n"
    b"2026-11-29T07:00:57.416138,None,internal,10,"
    b'"Process has terminated successfully, code 0"\n'
)
PATH_TRICKS = [
    "..",
    "../escape.csv",
    "a/b.csv",
    "a\\b.csv",
    "x\x00.csv",
    ".hidden.csv",
    "x..csv",
]
# The same tricks as they reach the URL (slashes encoded, so they are routed).
URL_TRICKS = ["..", "..%2Fescape.csv", "a%2Fb.csv", "a%5Cb.csv", "x%00.csv", ".hidden"]


def _error(response: Any) -> str:
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    return body["error"]


def _content(response: Any) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.fixture
def logs_dir(tmp_path: Path, farm_config: Any) -> Path:
    """``tasklogs_dir`` below pytest's tmp_path; not created yet."""
    directory = tmp_path / "task_logs"
    farm_config(tasklogs_dir=str(directory))
    return directory


@pytest.fixture
def agent() -> Agent:
    return AgentFactory.create(remote_ip="10.20.30.40", port=50123)


@pytest.fixture
def batch() -> list[Task]:
    """Two tasks of one job, assigned together."""
    job = JobFactory.create()
    return [TaskFactory.create(job=job), TaskFactory.create(job=job)]


@pytest.fixture
def registered(batch: list[Task], agent: Agent) -> TaskLog:
    """LOG_ID registered for attempt 1 of both tasks of the batch."""
    log = TaskLogFactory.create(identifier=LOG_ID, agent=agent)
    for task in batch:
        TaskTaskLogAssociationFactory.create(task=task, log=log, attempt=1)
    return log


def _logs(task: Task, attempt: object = 1) -> str:
    return LOGS.format(job=task.job_id, task=task.pk, attempt=attempt)


def _log(task: Task, identifier: str = LOG_ID, attempt: object = 1) -> str:
    return _logs(task, attempt) + identifier


def _logfile(task: Task, identifier: str = LOG_ID, attempt: object = 1) -> str:
    return _log(task, identifier, attempt) + "/logfile"


def _upload(client: Any, url: str, body: bytes = LOG_CSV) -> Any:
    """R8 as the agent sends it: text/csv, no User-Agent, Connection: close."""
    client.defaults.pop("HTTP_USER_AGENT", None)
    return client.put(url, data=body, content_type="text/csv", HTTP_CONNECTION="close")


# --- R5: registration ----------------------------------------------------------


def test_it_registers_a_log_for_a_task_attempt(
    agent_client, batch, agent, logs_dir
) -> None:
    response = agent_client.post(
        _logs(batch[0]), {"identifier": LOG_ID, "agent_id": str(agent.pk)}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"identifier", "agent_id", "created_on", "id"}
    assert (body["identifier"], body["agent_id"]) == (LOG_ID, str(agent.pk))
    association = TaskTaskLogAssociation.objects.get()
    assert (association.task, association.attempt) == (batch[0], 1)
    assert association.log.pk == body["id"]


def test_it_associates_the_same_log_with_every_task_of_the_batch(
    agent_client, batch, agent, logs_dir
) -> None:
    ids = []
    for task in batch:
        response = agent_client.post(
            _logs(task), {"identifier": LOG_ID, "agent_id": str(agent.pk)}
        )
        assert response.status_code == 201
        ids.append(response.json()["id"])
    assert ids[0] == ids[1]
    assert TaskLog.objects.count() == 1
    assert TaskTaskLogAssociation.objects.filter(log_id=ids[0]).count() == 2


def test_it_answers_409_when_the_log_is_already_registered_for_the_attempt(
    agent_client, batch, agent, registered, logs_dir
) -> None:
    response = agent_client.post(
        _logs(batch[0]), {"identifier": LOG_ID, "agent_id": str(agent.pk)}
    )
    assert response.status_code == 409
    assert "already registered" in _error(response)
    assert TaskTaskLogAssociation.objects.count() == 2


def test_it_registers_the_same_log_for_another_attempt(
    agent_client, batch, agent, registered, logs_dir
) -> None:
    response = agent_client.post(
        _logs(batch[0], attempt=2), {"identifier": LOG_ID, "agent_id": str(agent.pk)}
    )
    assert response.status_code == 201
    assert TaskTaskLogAssociation.objects.filter(attempt=2).count() == 1


def test_it_registers_a_log_without_an_agent(agent_client, batch, logs_dir) -> None:
    response = agent_client.post(_logs(batch[0]), {"identifier": LOG_ID})
    assert response.status_code == 201
    assert response.json()["agent_id"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"identifier": LOG_ID, "agent_id": None, "state": "running"},
        {"agent_id": None},
        {"identifier": 12},
        {"identifier": LOG_ID, "agent_id": 12},
        {"identifier": LOG_ID, "agent_id": "not-a-uuid"},
        [LOG_ID],
    ],
    ids=[
        "unknown-column",
        "no-identifier",
        "int-identifier",
        "int-agent",
        "bad-uuid",
        "list",
    ],
)
def test_it_refuses_malformed_registrations(
    agent_client, batch, body, logs_dir
) -> None:
    response = agent_client.post(_logs(batch[0]), body)
    assert response.status_code == 400
    _error(response)
    assert not TaskLog.objects.exists()


def test_it_refuses_malformed_json(agent_client, batch, logs_dir) -> None:
    response = agent_client.post(
        _logs(batch[0]), data="{", content_type="application/json"
    )
    assert response.status_code == 400
    _error(response)
    assert not TaskLog.objects.exists()


@pytest.mark.parametrize("identifier", PATH_TRICKS)
def test_it_refuses_identifiers_with_path_tricks(
    agent_client, batch, identifier, logs_dir
) -> None:
    response = agent_client.post(_logs(batch[0]), {"identifier": identifier})
    assert response.status_code == 400
    assert "identifier" in _error(response)
    assert not TaskLog.objects.exists()
    assert not logs_dir.exists()


def test_it_answers_404_for_an_unknown_agent(agent_client, batch, logs_dir) -> None:
    response = agent_client.post(
        _logs(batch[0]),
        {"identifier": LOG_ID, "agent_id": "2dc2cb5a-35da-41d6-8864-329c0d7d5391"},
    )
    assert response.status_code == 404
    assert "agent" in _error(response)
    assert not TaskLog.objects.exists()


def test_it_refuses_to_register_for_a_task_of_another_job(
    agent_client, batch, logs_dir
) -> None:
    other = JobFactory.create()
    url = LOGS.format(job=other.pk, task=batch[0].pk, attempt=1)
    response = agent_client.post(url, {"identifier": LOG_ID})
    assert response.status_code == 404
    _error(response)
    assert not TaskLog.objects.exists()


# --- the list of an attempt's logs -------------------------------------------


def test_it_lists_the_logs_of_an_attempt(
    agent_client, batch, agent, registered
) -> None:
    TaskTaskLogAssociationFactory.create(task=batch[0], attempt=2)
    response = agent_client.get(_logs(batch[0]))
    assert response.status_code == 200
    body = response.json()
    assert [set(item) for item in body] == [{"agent_id", "created_on", "identifier"}]
    assert body[0]["identifier"] == LOG_ID
    assert body[0]["agent_id"] == str(agent.pk)


def test_it_lists_nothing_for_an_attempt_without_logs(agent_client, batch) -> None:
    response = agent_client.get(_logs(batch[0], attempt=7))
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize("count", [2, 20])
def test_listing_logs_runs_a_constant_number_of_queries(
    agent_client, batch, count, django_assert_num_queries
) -> None:
    for _ in range(count):
        TaskTaskLogAssociationFactory.create(task=batch[0], attempt=1)
    with django_assert_num_queries(2):
        response = agent_client.get(_logs(batch[0]))
    assert len(response.json()) == count


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/jobs/{job}/tasks/{task}/attempts/x/logs/",
        "/api/v1/jobs/abc/tasks/{task}/attempts/1/logs/",
        "/api/v1/jobs/{job}/tasks/abc/attempts/1/logs/",
        "/api/v1/jobs/{job}/tasks/999999/attempts/1/logs/",
        "/api/v1/jobs/{other}/tasks/{task}/attempts/1/logs/",
        "/api/v1/jobs/{job}/tasks/{task}/attempts/99999999999/logs/",
        "/api/v1/jobs/{job}/tasks/{task}/attempts/%C2%B2/logs/",
    ],
    ids=[
        "attempt",
        "job",
        "task",
        "unknown-task",
        "other-job",
        "huge-attempt",
        "superscript-attempt",
    ],
)
def test_it_answers_404_for_urls_that_do_not_match(agent_client, batch, url) -> None:
    other = JobFactory.create()
    task = batch[0]
    response = agent_client.get(
        url.format(job=task.job_id, task=task.pk, other=other.pk)
    )
    assert response.status_code == 404
    _error(response)


def test_an_identifier_longer_than_the_column_is_refused(
    agent_client, batch, logs_dir
) -> None:
    response = agent_client.post(_logs(batch[0]), {"identifier": "x" * 256})
    assert response.status_code == 400
    assert "longer than 255" in _error(response)
    assert not TaskLog.objects.exists()


def test_it_accepts_the_list_url_without_a_trailing_slash(
    agent_client, batch, registered
) -> None:
    response = agent_client.get(_logs(batch[0]).rstrip("/"))
    assert response.status_code == 200
    assert len(response.json()) == 1


# --- a log's metadata and R7 ---------------------------------------------------


def test_it_returns_a_logs_metadata(agent_client, batch, agent, registered) -> None:
    response = agent_client.get(_log(batch[1]))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "identifier", "created_on", "agent_id"}
    assert (body["id"], body["agent_id"]) == (registered.pk, str(agent.pk))


def test_it_answers_404_for_a_log_of_another_attempt(
    agent_client, batch, registered
) -> None:
    response = agent_client.get(_log(batch[0], attempt=2))
    assert response.status_code == 404
    _error(response)


def test_it_answers_404_for_an_unknown_log(agent_client, batch, registered) -> None:
    response = agent_client.get(_log(batch[0], identifier="unknown.csv"))
    assert response.status_code == 404
    _error(response)


def test_it_records_the_state_the_attempt_reached(
    agent_client, batch, registered
) -> None:
    response = agent_client.post(_log(batch[0]), {"state": "done"})
    assert response.status_code == 200
    assert set(response.json()) == {"id", "identifier", "created_on", "agent_id"}
    states = dict(TaskTaskLogAssociation.objects.values_list("task_id", "state"))
    assert states == {batch[0].pk: WorkState.DONE, batch[1].pk: None}


def test_it_accepts_the_original_state_codes(agent_client, batch, registered) -> None:
    response = agent_client.post(_log(batch[0]), {"state": 107})
    assert response.status_code == 200
    association = TaskTaskLogAssociation.objects.get(task=batch[0])
    assert association.state == WorkState.FAILED


def test_a_late_running_does_not_reopen_a_finished_attempt(
    agent_client, batch, registered
) -> None:
    agent_client.post(_log(batch[0]), {"state": "done"})
    response = agent_client.post(_log(batch[0]), {"state": "running"})
    assert response.status_code == 200
    association = TaskTaskLogAssociation.objects.get(task=batch[0])
    assert association.state == WorkState.DONE


@pytest.mark.parametrize(
    "body",
    [{"state": "exploded"}, {"state": "done", "identifier": "x.csv"}, {}, {"state": 5}],
    ids=["unknown-state", "unknown-column", "no-state", "unknown-code"],
)
def test_it_refuses_malformed_states(agent_client, batch, registered, body) -> None:
    response = agent_client.post(_log(batch[0]), body)
    assert response.status_code == 400
    _error(response)
    assert not TaskTaskLogAssociation.objects.exclude(state=None).exists()


def test_the_state_of_an_unregistered_log_is_404(agent_client, batch) -> None:
    response = agent_client.post(_log(batch[0]), {"state": "done"})
    assert response.status_code == 404
    _error(response)


@pytest.mark.parametrize("identifier", URL_TRICKS)
def test_metadata_refuses_identifiers_with_path_tricks(
    agent_client, batch, registered, identifier
) -> None:
    response = agent_client.get(_log(batch[0], identifier=identifier))
    assert response.status_code == 400
    _error(response)


# --- R8: the upload ------------------------------------------------------------


def test_it_stores_the_uploaded_log(agent_client, batch, registered, logs_dir) -> None:
    response = _upload(agent_client, _logfile(batch[0]))
    assert response.wsgi_request.META.get("HTTP_USER_AGENT") is None
    assert response.status_code == 201
    assert set(response.json()) == {"id", "identifier", "created_on", "agent_id"}
    assert (logs_dir / LOG_ID).read_bytes() == LOG_CSV
    assert [path.name for path in logs_dir.iterdir()] == [LOG_ID]


def test_the_upload_is_readable_under_every_task_of_the_batch(
    agent_client, api_client, batch, registered, logs_dir
) -> None:
    _upload(agent_client, _logfile(batch[0]))
    response = api_client.get(_logfile(batch[1]), HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert _content(response) == LOG_CSV


def test_a_second_upload_replaces_the_first(
    agent_client, batch, registered, logs_dir
) -> None:
    _upload(agent_client, _logfile(batch[0]), b"old\n")
    response = _upload(agent_client, _logfile(batch[0]))
    assert response.status_code == 201
    assert (logs_dir / LOG_ID).read_bytes() == LOG_CSV


def test_the_upload_takes_a_body_without_a_content_type(
    agent_client, batch, registered, logs_dir
) -> None:
    response = agent_client.generic("PUT", _logfile(batch[0]), LOG_CSV, content_type="")
    assert response.status_code == 201
    assert (logs_dir / LOG_ID).read_bytes() == LOG_CSV


def test_an_empty_upload_stores_an_empty_log(
    agent_client, batch, registered, logs_dir
) -> None:
    response = _upload(agent_client, _logfile(batch[0]), b"")
    assert response.status_code == 201
    assert (logs_dir / LOG_ID).read_bytes() == b""


def test_it_refuses_uploads_over_max_upload_size(
    agent_client, batch, registered, logs_dir, farm_config
) -> None:
    farm_config(max_upload_size=10)
    response = _upload(agent_client, _logfile(batch[0]))
    assert response.status_code == 413
    _error(response)
    assert not (logs_dir / LOG_ID).exists()


def test_the_size_limit_holds_without_a_content_length(
    registered, logs_dir, farm_config
) -> None:
    farm_config(max_upload_size=100)
    with pytest.raises(UploadTooLarge):
        store_logfile(log=registered, stream=io.BytesIO(b"x" * 1000), size_hint=None)
    assert list(logs_dir.iterdir()) == []


def test_the_upload_of_an_unregistered_log_is_404(
    agent_client, batch, logs_dir
) -> None:
    response = _upload(agent_client, _logfile(batch[0]))
    assert response.status_code == 404
    _error(response)
    assert not logs_dir.exists()


@pytest.mark.parametrize("identifier", URL_TRICKS)
def test_the_upload_refuses_identifiers_with_path_tricks(
    agent_client, batch, registered, identifier, tmp_path, logs_dir
) -> None:
    before = sorted(tmp_path.rglob("*"))
    response = _upload(agent_client, _logfile(batch[0], identifier=identifier))
    assert response.status_code == 400
    _error(response)
    assert sorted(tmp_path.rglob("*")) == before


def test_the_upload_never_follows_a_link_out_of_tasklogs_dir(
    agent_client, batch, registered, tmp_path, logs_dir
) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_bytes(b"precious\n")
    logs_dir.mkdir()
    (logs_dir / LOG_ID).symlink_to(outside)
    response = _upload(agent_client, _logfile(batch[0]))
    assert response.status_code == 400
    _error(response)
    assert outside.read_bytes() == b"precious\n"


# --- the download ----------------------------------------------------------------


def test_it_serves_a_gzipped_log_decompressed(
    api_client, batch, registered, logs_dir
) -> None:
    logs_dir.mkdir()
    (logs_dir / f"{LOG_ID}.gz").write_bytes(gzip.compress(LOG_CSV))
    response = api_client.get(_logfile(batch[0]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert _content(response) == LOG_CSV


def test_it_redirects_to_the_agent_while_the_log_is_not_uploaded(
    api_client, batch, registered, logs_dir
) -> None:
    response = api_client.get(_logfile(batch[0]))
    assert response.status_code == 307
    assert response["Location"] == f"http://10.20.30.40:50123/api/v1/task_logs/{LOG_ID}"
    assert response.json() == {"location": response["Location"]}


def test_the_redirect_quotes_the_identifier(api_client, batch, agent, logs_dir) -> None:
    log = TaskLogFactory.create(identifier="shot 10#1.csv", agent=agent)
    TaskTaskLogAssociationFactory.create(task=batch[0], log=log, attempt=1)
    response = api_client.get(_logfile(batch[0], identifier="shot%2010%231.csv"))
    assert response.status_code == 307
    assert response["Location"].endswith("/api/v1/task_logs/shot%2010%231.csv")


def test_it_answers_404_when_neither_the_file_nor_the_agent_is_there(
    api_client, batch, registered, logs_dir
) -> None:
    TaskLog.objects.update(agent=None)
    response = api_client.get(_logfile(batch[0]))
    assert response.status_code == 404
    _error(response)


def test_it_answers_404_for_a_passive_agents_missing_log(
    api_client, batch, registered, logs_dir
) -> None:
    Agent.objects.update(use_address=UseAddress.PASSIVE)
    response = api_client.get(_logfile(batch[0]))
    assert response.status_code == 404
    _error(response)


def test_download_errors_are_json_when_csv_is_accepted(
    api_client, batch, logs_dir
) -> None:
    response = api_client.get(_logfile(batch[0]), HTTP_ACCEPT="text/csv")
    assert response.status_code == 404
    _error(response)


@pytest.mark.parametrize("identifier", URL_TRICKS)
def test_the_download_refuses_identifiers_with_path_tricks(
    api_client, batch, registered, identifier, logs_dir
) -> None:
    response = api_client.get(_logfile(batch[0], identifier=identifier))
    assert response.status_code == 400
    _error(response)


def test_the_download_never_follows_a_link_out_of_tasklogs_dir(
    api_client, batch, registered, tmp_path, logs_dir
) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"secret\n")
    logs_dir.mkdir()
    (logs_dir / LOG_ID).symlink_to(outside)
    response = api_client.get(_logfile(batch[0]))
    assert response.status_code == 400
    _error(response)


# --- access --------------------------------------------------------------------


def test_requests_from_outside_without_credentials_get_401(
    anonymous_client, batch, registered, logs_dir
) -> None:
    for method, url in (
        ("get", _logs(batch[0])),
        ("post", _logs(batch[0])),
        ("get", _log(batch[0])),
        ("post", _log(batch[0])),
        ("get", _logfile(batch[0])),
        ("put", _logfile(batch[0])),
    ):
        response = getattr(anonymous_client, method)(url)
        assert response.status_code == 401, (method, url)
        _error(response)
    assert not logs_dir.exists()


def test_users_may_read_logs(api_client, batch, registered) -> None:
    assert api_client.get(_logs(batch[0])).status_code == 200


def test_owners_may_upload_the_logs_of_their_jobs(
    api_client, user, batch, registered, logs_dir
) -> None:
    Job.objects.filter(pk=batch[0].job_id).update(user=user)
    response = api_client.put(_logfile(batch[0]), LOG_CSV, content_type="text/csv")
    assert response.status_code == 201


def test_other_methods_are_refused_with_json(agent_client, batch, registered) -> None:
    response = agent_client.delete(_log(batch[0]))
    assert response.status_code == 405
    _error(response)
    assert TaskTaskLogAssociation.objects.count() == 2


def test_the_openapi_schema_builds() -> None:
    schema = SchemaGenerator(patterns=tasklogs.urlpatterns).get_schema(public=True)
    operations = {
        operation["operationId"]
        for path in schema["paths"].values()
        for operation in path.values()
    }
    assert operations == {
        "tasklogs_list",
        "tasklogs_register",
        "tasklog_retrieve",
        "tasklog_set_state",
        "tasklog_file_download",
        "tasklog_file_upload",
    }
