"""Job queue endpoints: list, create, read, change, delete, schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from drf_spectacular.generators import SchemaGenerator

from farm.api.urls import jobqueues
from farm.models import JobQueue
from farm.tests.factories import JobFactory, JobQueueFactory

pytestmark = pytest.mark.django_db

JOBQUEUES = "/api/v1/jobqueues/"
QUEUE_KEYS = {
    "priority",
    "weight",
    "parent_jobqueue_id",
    "name",
    "fullpath",
    "minimum_agents",
    "id",
    "maximum_agents",
}
DETAIL_KEYS = QUEUE_KEYS | {"parent", "jobs", "children"}
PARENT_KEYS = {"id", "name", "priority", "weight", "maximum_agents", "minimum_agents"}


def _error(response: Any) -> str:
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    return body["error"]


def _snapshot() -> list[tuple]:
    return list(
        JobQueue.objects.order_by("id").values_list(
            "id",
            "name",
            "fullpath",
            "parent_id",
            "priority",
            "weight",
            "minimum_agents",
            "maximum_agents",
        )
    )


@pytest.fixture
def queue() -> JobQueue:
    return JobQueueFactory.create(name="Test Queue")


@pytest.fixture
def child(queue: JobQueue) -> JobQueue:
    return JobQueueFactory.create(name="child", parent=queue)


# --- the list --------------------------------------------------------------------


def test_it_lists_the_queues(api_client, queue, child) -> None:
    response = api_client.get(JOBQUEUES)
    assert response.status_code == 200
    body = response.json()
    assert [set(item) for item in body] == [QUEUE_KEYS, QUEUE_KEYS]
    assert body[0]["name"] == "Test Queue"
    assert body[0]["parent_jobqueue_id"] is None
    assert body[1]["parent_jobqueue_id"] == queue.pk


@pytest.mark.parametrize("count", [2, 20])
def test_listing_queues_runs_a_constant_number_of_queries(
    api_client, count, django_assert_num_queries
) -> None:
    parent = JobQueueFactory.create()
    JobQueueFactory.create_batch(count - 1, parent=parent)
    with django_assert_num_queries(1):
        response = api_client.get(JOBQUEUES)
    assert len(response.json()) == count


def test_the_list_answers_without_a_trailing_slash(api_client, queue) -> None:
    response = api_client.get(JOBQUEUES.rstrip("/"))
    assert response.status_code == 200


def test_anonymous_requests_from_outside_get_401(anonymous_client, queue) -> None:
    for method, url in (
        ("get", JOBQUEUES),
        ("post", JOBQUEUES),
        ("get", f"{JOBQUEUES}{queue.pk}"),
        ("post", f"{JOBQUEUES}{queue.pk}"),
        ("delete", f"{JOBQUEUES}{queue.pk}"),
        ("get", f"{JOBQUEUES}schema"),
    ):
        response = getattr(anonymous_client, method)(url)
        assert response.status_code == 401, (method, url)
        _error(response)
    assert JobQueue.objects.count() == 1


# --- creating --------------------------------------------------------------------


def test_it_creates_a_queue_with_the_defaults(admin_api_client, farm_config) -> None:
    farm_config(queue_default_priority=5, queue_default_weight=10)
    response = admin_api_client.post(JOBQUEUES, {"name": "Test Queue"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == DETAIL_KEYS
    assert body == {
        "weight": 10,
        "jobs": [],
        "children": [],
        "minimum_agents": None,
        "priority": 5,
        "name": "Test Queue",
        "fullpath": "Test Queue",
        "maximum_agents": None,
        "id": JobQueue.objects.get().pk,
        "parent": None,
        "parent_jobqueue_id": None,
    }


def test_it_creates_a_queue_below_another(admin_api_client, queue) -> None:
    response = admin_api_client.post(
        JOBQUEUES,
        {
            "name": "child",
            "parent_jobqueue_id": queue.pk,
            "priority": 3,
            "weight": 2,
            "minimum_agents": 1,
            "maximum_agents": 4,
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body["parent"]) == PARENT_KEYS
    assert body["parent"]["id"] == queue.pk
    created = JobQueue.objects.get(pk=body["id"])
    assert created.fullpath == "Test Queue/child"
    assert (created.priority, created.weight) == (3, 2)


def test_a_duplicate_name_among_siblings_is_409(admin_api_client, queue) -> None:
    before = _snapshot()
    response = admin_api_client.post(JOBQUEUES, {"name": "Test Queue"}, format="json")
    assert response.status_code == 409
    assert "Test Queue" in _error(response)
    assert _snapshot() == before


def test_a_duplicate_name_below_a_parent_is_409(admin_api_client, child) -> None:
    before = _snapshot()
    response = admin_api_client.post(
        JOBQUEUES,
        {"name": "child", "parent_jobqueue_id": child.parent_id},
        format="json",
    )
    assert response.status_code == 409
    _error(response)
    assert _snapshot() == before


def test_the_same_name_below_another_parent_is_fine(admin_api_client, child) -> None:
    response = admin_api_client.post(JOBQUEUES, {"name": "child"}, format="json")
    assert response.status_code == 201


def test_an_unknown_parent_is_404(admin_api_client) -> None:
    response = admin_api_client.post(
        JOBQUEUES, {"name": "orphan", "parent_jobqueue_id": 4242}, format="json"
    )
    assert response.status_code == 404
    assert "4242" in _error(response)
    assert not JobQueue.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"name": "q", "colour": "red"},
        {"priority": 1},
        {"name": 5},
        {"name": "a/b"},
        {"name": "   "},
        {"name": "q", "priority": "high"},
        {"name": "q", "priority": 100000},
        {"name": "q", "weight": -1},
        {"name": "q", "weight": True},
        {"name": "q", "minimum_agents": 5, "maximum_agents": 2},
        {"name": "q", "parent_jobqueue_id": "1"},
        ["q"],
    ],
    ids=[
        "unknown-column",
        "no-name",
        "int-name",
        "separator",
        "blank",
        "string-priority",
        "priority-range",
        "negative-weight",
        "bool-weight",
        "min-over-max",
        "string-parent",
        "not-an-object",
    ],
)
def test_it_refuses_malformed_queues(admin_api_client, body) -> None:
    response = admin_api_client.post(JOBQUEUES, body, format="json")
    assert response.status_code == 400
    _error(response)
    assert not JobQueue.objects.exists()


def test_it_refuses_malformed_json(admin_api_client) -> None:
    response = admin_api_client.post(
        JOBQUEUES, data="{", content_type="application/json"
    )
    assert response.status_code == 400
    _error(response)


def test_ordinary_users_may_not_create_queues(api_client) -> None:
    response = api_client.post(JOBQUEUES, {"name": "mine"}, format="json")
    assert response.status_code == 403
    _error(response)
    assert not JobQueue.objects.exists()


# --- one queue ---------------------------------------------------------------------


def test_it_returns_a_queue_by_id(api_client, queue, child) -> None:
    jobs = JobFactory.create_batch(2, queue=queue)
    response = api_client.get(f"{JOBQUEUES}{queue.pk}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == DETAIL_KEYS
    assert body["jobs"] == sorted(job.pk for job in jobs)
    assert body["parent"] is None


def test_it_returns_a_queue_by_name(api_client, queue) -> None:
    response = api_client.get(f"{JOBQUEUES}Test%20Queue")
    assert response.status_code == 200
    assert response.json()["id"] == queue.pk


def test_it_returns_a_queue_by_full_path(api_client, child) -> None:
    response = api_client.get(f"{JOBQUEUES}Test%20Queue/child")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == child.pk
    assert body["parent"]["name"] == "Test Queue"


def test_it_returns_a_child_by_its_unique_name(api_client, child) -> None:
    response = api_client.get(f"{JOBQUEUES}child/")
    assert response.status_code == 200
    assert response.json()["id"] == child.pk


def test_a_full_path_wins_over_a_nested_name(api_client, child) -> None:
    top = JobQueueFactory.create(name="child")
    response = api_client.get(f"{JOBQUEUES}child")
    assert response.status_code == 200
    assert response.json()["id"] == top.pk


def test_a_name_several_nested_queues_have_is_404(api_client, child) -> None:
    JobQueueFactory.create(name="child", parent=JobQueueFactory.create())
    response = api_client.get(f"{JOBQUEUES}child")
    assert response.status_code == 404
    assert "full path" in _error(response)


def test_a_queue_named_with_other_digits_is_found_by_name(api_client) -> None:
    queue = JobQueueFactory.create(name="²")
    response = api_client.get(f"{JOBQUEUES}%C2%B2")
    assert response.status_code == 200
    assert response.json()["id"] == queue.pk


def test_an_unknown_queue_is_404(api_client) -> None:
    response = api_client.get(f"{JOBQUEUES}nothing")
    assert response.status_code == 404
    assert "nothing" in _error(response)


def test_admins_change_a_queue(admin_api_client, queue) -> None:
    response = admin_api_client.post(
        f"{JOBQUEUES}Test%20Queue", {"priority": 6}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == DETAIL_KEYS
    assert (body["priority"], body["name"]) == (6, "Test Queue")
    queue.refresh_from_db()
    assert queue.priority == 6


def test_renaming_a_queue_moves_the_paths_below_it(
    admin_api_client, queue, child
) -> None:
    response = admin_api_client.post(
        f"{JOBQUEUES}{queue.pk}", {"name": "Renamed"}, format="json"
    )
    assert response.status_code == 200
    child.refresh_from_db()
    assert child.fullpath == "Renamed/child"


def test_a_queue_moves_to_the_top_level(admin_api_client, child) -> None:
    response = admin_api_client.post(
        f"{JOBQUEUES}{child.pk}", {"parent_jobqueue_id": None}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["parent"] is None
    child.refresh_from_db()
    assert child.fullpath == "child"


def test_renaming_onto_a_sibling_is_409(admin_api_client, queue) -> None:
    JobQueueFactory.create(name="Other")
    before = _snapshot()
    response = admin_api_client.post(
        f"{JOBQUEUES}Other", {"name": "Test Queue"}, format="json"
    )
    assert response.status_code == 409
    _error(response)
    assert _snapshot() == before


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"colour": "red"}, 400),
        ({"priority": "high"}, 400),
        ({"name": None}, 400),
        ({"maximum_agents": -1}, 400),
        ({"parent_jobqueue_id": 4242}, 404),
    ],
    ids=["unknown-column", "string-priority", "null-name", "negative", "no-parent"],
)
def test_it_refuses_malformed_changes(admin_api_client, queue, body, status) -> None:
    before = _snapshot()
    response = admin_api_client.post(f"{JOBQUEUES}{queue.pk}", body, format="json")
    assert response.status_code == status
    _error(response)
    assert _snapshot() == before


def test_a_queue_cannot_move_below_itself(admin_api_client, queue, child) -> None:
    before = _snapshot()
    response = admin_api_client.post(
        f"{JOBQUEUES}{queue.pk}", {"parent_jobqueue_id": child.pk}, format="json"
    )
    assert response.status_code == 400
    assert "parent" in _error(response)
    assert _snapshot() == before


def test_changing_an_unknown_queue_is_404(admin_api_client) -> None:
    response = admin_api_client.post(
        f"{JOBQUEUES}nothing", {"priority": 1}, format="json"
    )
    assert response.status_code == 404
    _error(response)


def test_ordinary_users_may_not_change_queues(api_client, queue) -> None:
    before = _snapshot()
    response = api_client.post(f"{JOBQUEUES}{queue.pk}", {"priority": 9}, format="json")
    assert response.status_code == 403
    _error(response)
    assert _snapshot() == before


def test_admins_delete_an_empty_queue(admin_api_client, queue) -> None:
    response = admin_api_client.delete(f"{JOBQUEUES}Test%20Queue")
    assert response.status_code == 204
    assert not JobQueue.objects.exists()


def test_deleting_an_unknown_queue_is_204(admin_api_client) -> None:
    response = admin_api_client.delete(f"{JOBQUEUES}nothing")
    assert response.status_code == 204


def test_a_queue_with_jobs_is_not_deleted(admin_api_client, queue) -> None:
    JobFactory.create(queue=queue)
    response = admin_api_client.delete(f"{JOBQUEUES}{queue.pk}")
    assert response.status_code == 409
    _error(response)
    assert JobQueue.objects.filter(pk=queue.pk).exists()


def test_a_queue_with_child_queues_is_not_deleted(
    admin_api_client, queue, child
) -> None:
    response = admin_api_client.delete(f"{JOBQUEUES}{queue.pk}")
    assert response.status_code == 409
    _error(response)
    assert JobQueue.objects.count() == 2


def test_ordinary_users_may_not_delete_queues(api_client, queue) -> None:
    response = api_client.delete(f"{JOBQUEUES}{queue.pk}")
    assert response.status_code == 403
    _error(response)
    assert JobQueue.objects.exists()


# --- the schema -------------------------------------------------------------------


@pytest.mark.parametrize("url", [f"{JOBQUEUES}schema", f"{JOBQUEUES}schema/"])
def test_it_describes_the_columns(api_client, url) -> None:
    response = api_client.get(url)
    assert response.status_code == 200
    id_type = "INTEGER" if connection.vendor == "sqlite" else "BIGINT"
    assert response.json() == {
        "id": id_type,
        "name": "VARCHAR(255)",
        "minimum_agents": "INTEGER",
        "maximum_agents": "INTEGER",
        "priority": "INTEGER",
        "weight": "INTEGER",
        "parent_jobqueue_id": id_type,
        "fullpath": "VARCHAR(1024)",
    }


def test_the_openapi_schema_builds() -> None:
    schema = SchemaGenerator(patterns=jobqueues.urlpatterns).get_schema(public=True)
    operations = {
        operation["operationId"]
        for path in schema["paths"].values()
        for operation in path.values()
    }
    assert operations == {
        "jobqueues_list",
        "jobqueues_create",
        "jobqueue_retrieve",
        "jobqueue_update",
        "jobqueue_destroy",
        "jobqueues_schema",
    }
