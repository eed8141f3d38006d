"""The lean path of the streamed lists (issue #12): the same bytes, less work.

Rows are written from ``values_list`` tuples without a dict per row when not
indented (`RowFormat.json_objects`); the row format is built once per
serializer; the filter sets of the agent and task lists are built only when a
filter is asked; the cursor of a short list is closed before the answer.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers

from farm.api.renderers import FarmJSONRenderer
from farm.api.serializers.agents import AgentListSerializer
from farm.api.serializers.jobs import TaskListSerializer
from farm.api.streaming import RowFormat, _dump_options
from farm.models import Task
from farm.services.submission import create_job
from farm.tests.factories import AgentFactory, JobTypeVersionFactory

AGENTS = "/api/v1/agents/"
TASKS = "/api/v1/jobs/{job}/tasks/"


class _Scalars(serializers.Serializer):
    """Fields whose values are written as read (no conversion)."""

    number = serializers.IntegerField(read_only=True)
    text = serializers.CharField(read_only=True, allow_null=True)
    real = serializers.FloatField(read_only=True, allow_null=True)
    flag = serializers.BooleanField(read_only=True)


class _WithUUID(serializers.Serializer):
    """A field converted in Python on SQLite (`str` of the UUID)."""

    id = serializers.UUIDField(read_only=True)
    text = serializers.CharField(read_only=True)


# Strings holding what the writer splits on or could be fooled by.
AWKWARD = [
    "\x00",
    "a\x00b",
    '}, {"number": 1',
    "\u2028\u2029",
    'quote " backslash \\ é 日本',
    "",
]


def _options(**renderer_attributes: Any) -> dict[str, Any]:
    renderer = FarmJSONRenderer()
    for name, value in renderer_attributes.items():
        setattr(renderer, name, value)
    return _dump_options(renderer, None)


def _dicts_dumped(
    row_format: RowFormat, rows: list[tuple[Any, ...]], options: dict[str, Any]
) -> str:
    tail = 1 if options["indent"] is None else 2
    return json.dumps(row_format.chunk(rows), **options)[1:-tail]


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("ensure_ascii", [False, True])
def test_rows_from_tuples_are_their_dicts_dumped(
    compact: bool, ensure_ascii: bool
) -> None:
    row_format = RowFormat(_Scalars, vendor="postgresql")
    rows = [
        (n, text, real, n % 2 == 0)
        for n, (text, real) in enumerate(
            zip(
                [*AWKWARD, None, "x"],
                [0.1, 1e16, -0.0, math.inf, None, 2.5, 1e-7, math.nan],
                strict=True,
            )
        )
    ]
    options = _options(compact=compact, ensure_ascii=ensure_ascii, strict=False)

    assert row_format.json_objects(rows, options) == _dicts_dumped(
        row_format, rows, options
    )


def test_unindented_rows_are_written_without_a_dict_per_row() -> None:
    row_format = RowFormat(_Scalars, vendor="postgresql")
    rows = [(1, "a", 0.5, True), (2, None, None, False)]
    with mock.patch.object(RowFormat, "chunk", side_effect=AssertionError):
        text = row_format.json_objects(rows, _options(compact=False))
    assert json.loads(f"[{text}]")[1] == {
        "number": 2,
        "text": None,
        "real": None,
        "flag": False,
    }


def test_one_row_of_one_value_is_its_dict_dumped() -> None:
    class One(serializers.Serializer):
        text = serializers.CharField(read_only=True)

    row_format = RowFormat(One, vendor="postgresql")
    options = _options(compact=False)
    assert row_format.json_objects([("\x00",)], options) == '{"text": "\\u0000"}'


@pytest.mark.parametrize("value", [[1, 2], {"a": 1, "b": 2}, [1], {"a": None}, [], {}])
def test_a_value_that_is_a_list_or_an_object_is_written_as_in_the_dict(
    value: Any,
) -> None:
    """More than one item: the dicts are dumped instead; the bytes are the same."""
    row_format = RowFormat(_Scalars, vendor="postgresql")
    rows = [(1, value, 0.5, True), (2, "plain", None, False)]
    options = _options()

    assert row_format.json_objects(rows, options) == _dicts_dumped(
        row_format, rows, options
    )


def test_indented_rows_are_their_dicts_dumped() -> None:
    row_format = RowFormat(_Scalars, vendor="postgresql")
    rows = [(1, "a", 0.5, True), (2, None, None, False)]
    options = _dump_options(FarmJSONRenderer(), 4)

    text = row_format.json_objects(rows, options)

    assert text == _dicts_dumped(row_format, rows, options)
    assert "\n        " in text


def test_converted_columns_are_converted_in_the_tuples_path() -> None:
    """On SQLite a UUID is converted by `str`: the same bytes as the dicts."""
    row_format = RowFormat(_WithUUID, vendor="sqlite")
    rows = [(uuid.uuid4(), "a"), (uuid.uuid4(), "\x00")]
    options = _options()

    text = row_format.json_objects(rows, options)

    assert text == _dicts_dumped(row_format, rows, options)
    assert str(rows[0][0]) in text


def test_the_row_format_of_a_serializer_is_built_once() -> None:
    first = RowFormat.of(TaskListSerializer, vendor=connection.vendor)
    assert RowFormat.of(TaskListSerializer, vendor=connection.vendor) is first
    assert RowFormat.of(AgentListSerializer, vendor=connection.vendor) is not first


@pytest.mark.django_db
def test_the_agent_list_builds_no_filter_set_without_a_filter(api_client) -> None:
    agent = AgentFactory.create()
    with mock.patch(
        "farm.filtersets.AgentFilterSet.__init__", side_effect=AssertionError
    ):
        response = api_client.get(AGENTS, {"limit": 5})
    assert [row["id"] for row in response.json()] == [str(agent.pk)]


@pytest.mark.django_db
def test_the_agent_list_filters_with_a_filter_among_other_parameters(
    api_client,
) -> None:
    AgentFactory.create(ram=1024)
    big = AgentFactory.create(ram=8192)
    response = api_client.get(AGENTS, {"limit": 5, "min_ram": 4096})
    assert [row["id"] for row in response.json()] == [str(big.pk)]


@pytest.mark.django_db
def test_the_task_list_builds_no_filter_set_without_a_filter(api_client) -> None:
    job = create_job(
        jobtype_version=JobTypeVersionFactory.create(), title="t", start=1, end=2
    )
    with mock.patch(
        "farm.filtersets.TaskFilterSet.__init__", side_effect=AssertionError
    ):
        response = api_client.get(TASKS.format(job=job.pk))
    assert len(response.json()) == 2


@pytest.mark.django_db
def test_the_task_list_still_filters_by_state(api_client) -> None:
    job = create_job(
        jobtype_version=JobTypeVersionFactory.create(), title="t", start=1, end=3
    )
    Task.objects.filter(job=job, frame=2).update(state="running")
    response = api_client.get(TASKS.format(job=job.pk), {"state": "running"})
    assert [row["frame"] for row in response.json()] == [2.0]


@pytest.mark.django_db
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="server-side cursors: PostgreSQL"
)
def test_the_cursor_of_a_short_list_is_closed_before_the_answer_is_read(
    api_client,
) -> None:
    job = create_job(
        jobtype_version=JobTypeVersionFactory.create(), title="t", start=1, end=2
    )
    response = api_client.get(TASKS.format(job=job.pk))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_cursors")
        assert cursor.fetchone() == (0,)
    assert len(response.json()) == 2


@pytest.mark.django_db
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="server-side cursors: PostgreSQL"
)
def test_the_task_list_is_read_through_a_server_side_cursor(api_client) -> None:
    job = create_job(
        jobtype_version=JobTypeVersionFactory.create(), title="t", start=1, end=2
    )
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get(TASKS.format(job=job.pk))
        assert len(response.json()) == 2
    assert any(q["sql"].startswith("DECLARE") for q in queries.captured_queries)


@pytest.mark.django_db
def test_the_agent_list_is_read_in_one_query_without_a_cursor(api_client) -> None:
    AgentFactory.create_batch(3)
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get(AGENTS)
        assert len(response.json()) == 3
    agent_reads = [q["sql"] for q in queries.captured_queries if '"agents"' in q["sql"]]
    assert len(agent_reads) == 1
    assert agent_reads[0].startswith("SELECT")
