"""Big lists streamed as JSON: the same bytes as the serializers, pagination."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from farm.api import streaming
from farm.api.renderers import FarmJSONRenderer
from farm.api.serializers.agents import AgentListSerializer
from farm.api.serializers.jobs import JobListSerializer, TaskListSerializer
from farm.api.serializers.tasklogs import TaskLogListItemSerializer
from farm.api.streaming import RowFormat, json_array_chunks
from farm.choices import WorkState
from farm.models import Agent, Job, Task, TaskLog
from farm.services.submission import create_job
from farm.tests.factories import (
    AgentFactory,
    JobTypeVersionFactory,
    TaskLogFactory,
    TaskTaskLogAssociationFactory,
)

pytestmark = pytest.mark.django_db

TASKS = "/api/v1/jobs/{job}/tasks/"
JOBS = "/api/v1/jobs/"
AGENTS = "/api/v1/agents/"
LOGS = "/api/v1/jobs/{job}/tasks/{task}/attempts/{attempt}/logs/"

# Values that JSON writes in more than one way, or that the renderer escapes.
AWKWARD_TEXT = 'quote " backslash \\ é 日本 \u2028 \u2029 tab\t newline\n'


def _job(frames: int = 3, title: str = "Test Job", **fields: Any) -> Job:
    return create_job(
        jobtype_version=JobTypeVersionFactory.create(),
        title=title,
        start=1,
        end=frames,
        **fields,
    )


def _varied_job() -> Job:
    """A job whose tasks hold every kind of value a task list shows."""
    job = _job(frames=2, by=Decimal("0.25"), num_tiles=2)
    first, second, third, *_ = Task.objects.for_job(job.pk).order_by("pk")
    Task.objects.filter(pk=first.pk).update(
        agent=AgentFactory.create(),
        state=WorkState.RUNNING,
        progress=0.125,
        attempts=2,
        time_started=datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC),
    )
    Task.objects.filter(pk=second.pk).update(
        state=WorkState.FAILED,
        failures=3,
        last_error=AWKWARD_TEXT,
        hidden=True,
        priority=-5,
        time_started=datetime(2024, 1, 1, tzinfo=UTC),
        time_finished=datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC),
    )
    Task.objects.filter(pk=third.pk).update(
        state=WorkState.DONE,
        progress=1.0,
        time_finished=datetime(1999, 12, 31, 12, 0, 0, 120000, tzinfo=UTC),
    )
    return job


def _rendered(data: Any, **context: Any) -> bytes:
    """What the API renders for ``data`` (the answer before streaming)."""
    renderer = FarmJSONRenderer()
    media_type = context.pop("media_type", "application/json")
    return renderer.render(data, media_type, context)


# --- the same bytes -------------------------------------------------------------


@pytest.mark.parametrize("pretty", [False, True])
def test_the_streamed_task_list_is_the_serializers_answer_byte_for_byte(
    api_client, farm_config, pretty: bool
) -> None:
    farm_config(pretty_json=pretty)
    job = _varied_job()
    tasks = Task.objects.for_job(job.pk).order_by("frame", "tile", "pk")

    response = api_client.get(TASKS.format(job=job.pk))

    assert response.streaming
    assert response["Content-Type"] == "application/json"
    expected = _rendered(TaskListSerializer(tasks, many=True).data)
    assert response.content == expected
    assert (b"\n    {" in expected) == pretty


def test_the_streamed_list_is_indented_as_the_client_asks(api_client) -> None:
    job = _varied_job()
    tasks = Task.objects.for_job(job.pk).order_by("frame", "tile", "pk")

    response = api_client.get(
        TASKS.format(job=job.pk), HTTP_ACCEPT="application/json; indent=2"
    )

    expected = _rendered(
        TaskListSerializer(tasks, many=True).data,
        media_type="application/json; indent=2",
    )
    assert response.content == expected


def test_the_streamed_job_list_is_the_serializers_answer_byte_for_byte(
    api_client,
) -> None:
    _job(title=AWKWARD_TEXT)
    _job(title="second")
    Job.objects.filter(title="second").update(state=WorkState.PAUSED)

    response = api_client.get(JOBS)

    expected = _rendered(JobListSerializer(Job.objects.order_by("pk"), many=True).data)
    assert response.streaming
    assert response.content == expected


def test_the_streamed_agent_list_is_the_serializers_answer_byte_for_byte(
    api_client,
) -> None:
    AgentFactory.create(hostname="b", remote_ip="10.0.0.2")
    AgentFactory.create(hostname="a", port=1, remote_ip="2001:db8::1")
    AgentFactory.create(hostname="a", port=2, remote_ip="10.0.0.3")

    response = api_client.get(AGENTS)

    agents = Agent.objects.order_by("hostname", "port", "pk")
    expected = _rendered(AgentListSerializer(agents, many=True).data)
    assert response.streaming
    assert response.content == expected


def test_the_streamed_log_list_is_the_serializers_answer_byte_for_byte(
    agent_client,
) -> None:
    job = _job(frames=1)
    task = Task.objects.get(job=job)
    for agent in (AgentFactory.create(), None):
        TaskTaskLogAssociationFactory.create(
            task=task, attempt=1, log=TaskLogFactory.create(agent=agent)
        )
    TaskTaskLogAssociationFactory.create(task=task, attempt=2)

    response = agent_client.get(LOGS.format(job=job.pk, task=task.pk, attempt=1))

    logs = TaskLog.objects.filter(task_associations__attempt=1).order_by(
        "created_on", "pk"
    )
    expected = _rendered(TaskLogListItemSerializer(logs, many=True).data)
    assert response.streaming
    assert response.content == expected
    assert len(response.json()) == 2


def test_an_empty_list_is_an_empty_array(api_client) -> None:
    job = _job()
    Task.objects.for_job(job.pk).delete()
    response = api_client.get(TASKS.format(job=job.pk))
    assert response.content == b"[]"


@pytest.mark.parametrize("indent", [None, 4])
@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 50])
def test_chunks_splice_into_the_renderers_array(
    indent: int | None, chunk_rows: int
) -> None:
    rows = [
        {"id": n, "text": AWKWARD_TEXT * (n % 2), "none": None, "list": [n, 1.5]}
        for n in range(7)
    ]
    renderer = FarmJSONRenderer()
    chunks = list(
        json_array_chunks(rows, renderer=renderer, indent=indent, chunk_rows=chunk_rows)
    )
    media_type = "application/json" + ("" if indent is None else f"; indent={indent}")
    assert b"".join(chunks) == renderer.render(rows, media_type, {})
    assert len(chunks) == 2 + -(-len(rows) // chunk_rows)


@pytest.mark.parametrize("indent", [None, 4])
def test_chunks_of_no_rows_are_an_empty_array(indent: int | None) -> None:
    chunks = json_array_chunks([], renderer=FarmJSONRenderer(), indent=indent)
    assert b"".join(chunks) == b"[]"


def test_rows_come_from_plain_tuples_not_model_instances() -> None:
    """No model instance and no serializer per row: tuples in, dicts out."""
    job = _varied_job()
    row_format = RowFormat(TaskListSerializer, vendor=connection.vendor)
    assert row_format.keys[:3] == ("id", "job_id", "agent_id")
    with mock.patch.object(Task, "__init__", side_effect=AssertionError):
        rows = list(
            row_format.queryset_rows(
                Task.objects.for_job(job.pk).order_by("frame", "tile", "pk")
            )
        )
    tasks = Task.objects.for_job(job.pk).order_by("frame", "tile", "pk")
    assert rows == TaskListSerializer(tasks, many=True).data


def test_a_nested_serializer_cannot_be_streamed() -> None:
    from farm.api.serializers.agents import AgentTaskSerializer

    with pytest.raises(TypeError, match="is not plain"):
        RowFormat(AgentTaskSerializer, vendor=connection.vendor)


# --- streaming in chunks ----------------------------------------------------------


def test_a_long_list_is_sent_in_chunks(api_client) -> None:
    job = _job(frames=7)
    with mock.patch.object(streaming, "CHUNK_ROWS", 2):
        response = api_client.get(TASKS.format(job=job.pk))
        chunks = list(response.streaming_content)
    # "[", four chunks of at most two rows, "]".
    assert len(chunks) == 6
    assert [task["frame"] for task in json.loads(b"".join(chunks))] == [
        float(n) for n in range(1, 8)
    ]


@pytest.mark.parametrize("frames", [2, 20])
def test_the_task_list_reads_the_rows_in_one_query_before_answering(
    api_client, django_assert_num_queries, frames: int
) -> None:
    """The job, then the tasks; the first rows are read before the answer."""
    job = _job(frames=frames)
    with django_assert_num_queries(2):
        response = api_client.get(TASKS.format(job=job.pk))
    with CaptureQueriesContext(connection) as later:
        body = response.json()
    assert len(body) == frames
    assert len(later) == 0


def test_the_browsable_api_still_shows_the_list(api_client) -> None:
    job = _job()
    response = api_client.get(TASKS.format(job=job.pk), HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"&quot;frame&quot;: 3.0" in response.content


# --- pagination -------------------------------------------------------------------


def test_a_page_of_tasks_is_an_array_with_the_total_and_the_next_page(
    api_client,
) -> None:
    job = _job(frames=5)
    url = TASKS.format(job=job.pk)

    response = api_client.get(url, {"limit": 2, "offset": 1})

    assert response.status_code == 200
    assert [task["frame"] for task in response.json()] == [2.0, 3.0]
    assert response["X-Total-Count"] == "5"
    assert response["Link"] == (
        f'<http://testserver{url}?limit=2&offset=3>; rel="next"'
    )


def test_the_last_page_has_no_next_link(api_client) -> None:
    job = _job(frames=5)
    response = api_client.get(TASKS.format(job=job.pk), {"limit": 2, "offset": 3})
    assert [task["frame"] for task in response.json()] == [4.0, 5.0]
    assert response["X-Total-Count"] == "5"
    assert "Link" not in response


def test_an_offset_alone_gives_the_rest_of_the_list(api_client) -> None:
    job = _job(frames=5)
    response = api_client.get(TASKS.format(job=job.pk), {"offset": 3})
    assert [task["frame"] for task in response.json()] == [4.0, 5.0]
    assert response["X-Total-Count"] == "5"
    assert "Link" not in response


def test_an_offset_past_the_end_gives_an_empty_array(api_client) -> None:
    job = _job(frames=2)
    response = api_client.get(TASKS.format(job=job.pk), {"limit": 5, "offset": 10})
    assert response.status_code == 200
    assert response.json() == []
    assert response["X-Total-Count"] == "2"


def test_the_whole_list_has_no_pagination_headers(api_client) -> None:
    job = _job(frames=2)
    response = api_client.get(TASKS.format(job=job.pk))
    assert "X-Total-Count" not in response
    assert "Link" not in response


def test_pages_of_jobs_follow_on(api_client) -> None:
    jobs = [_job(title=f"job {n}") for n in range(5)]
    seen: list[int] = []
    url: str | None = f"http://testserver{JOBS}?limit=2"
    while url is not None:
        response = api_client.get(url)
        seen += [job["id"] for job in response.json()]
        link = response.get("Link")
        url = link[1 : link.index(">")] if link else None
    assert seen == [job.pk for job in jobs]


def test_pages_of_agents_keep_the_filters(api_client) -> None:
    small = AgentFactory.create(hostname="small", ram=1024)
    big = [AgentFactory.create(hostname=f"big{n}", ram=8192) for n in range(3)]

    response = api_client.get(AGENTS, {"min_ram": 4096, "limit": 2})

    assert [agent["id"] for agent in response.json()] == [str(a.pk) for a in big[:2]]
    assert response["X-Total-Count"] == "3"
    assert "min_ram=4096" in response["Link"]
    assert str(small.pk) not in response.content.decode()


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"limit": "9" * 40}, "limit"),
        ({"limit": ""}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "x"}, "offset"),
        ({"limit": 2, "offset": "²"}, "offset"),
    ],
)
@pytest.mark.parametrize("url", [TASKS, JOBS, AGENTS])
def test_bad_pagination_is_a_json_400_naming_the_parameter(
    api_client, query: dict[str, Any], name: str, url: str
) -> None:
    job = _job()
    response = api_client.get(url.format(job=job.pk), query)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"].startswith(f"{name}:")


def test_a_page_costs_one_count_more(api_client, django_assert_num_queries) -> None:
    job = _job(frames=20)
    with django_assert_num_queries(3):
        response = api_client.get(TASKS.format(job=job.pk), {"limit": 5})
    assert len(response.json()) == 5


# --- the schema -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/jobs/",
        "/api/v1/jobs/{job}/tasks/",
        "/api/v1/agents/",
        "/api/v1/jobs/{job_id}/tasks/{task_id}/attempts/{attempt}/logs/",
    ],
)
def test_the_schema_documents_pagination(anonymous_client, path: str) -> None:
    schema = json.loads(anonymous_client.get("/api/v1/openapi.json").content)
    operation = schema["paths"][path]["get"]
    parameters = {
        parameter["name"]: parameter
        for parameter in operation["parameters"]
        if parameter["in"] == "query"
    }
    assert parameters["limit"]["schema"]["type"] == "integer"
    assert parameters["offset"]["schema"]["type"] == "integer"
    assert set(operation["responses"]["200"]["headers"]) == {"X-Total-Count", "Link"}
    assert "400" in operation["responses"]
    assert (
        operation["responses"]["200"]["content"]["application/json"]["schema"]["type"]
        == "array"
    )


def test_uuids_are_written_as_the_serializer_writes_them() -> None:
    """The agent ids of the lists are UUIDs written in full (hex_verbose)."""
    value = uuid.uuid4()
    field = AgentListSerializer().fields["id"]
    _, convert = streaming._column(field, "id", connection.vendor)
    assert convert is not None
    assert convert(value) == field.to_representation(value)
