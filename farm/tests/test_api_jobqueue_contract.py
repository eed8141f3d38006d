"""Contract: a job queue's representations, key for key (issue #9).

A queue is its columns, ``fullpath`` included; one queue also carries its
parent and the ids of its jobs and of its child queues. ``jobqueues/schema``
names every column with its SQL type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from django.db import connection

from farm.models import JobQueue
from farm.tests.factories import JobFactory, JobQueueFactory

if TYPE_CHECKING:
    from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

JOBQUEUES = "/api/v1/jobqueues/"


def _columns(queue: JobQueue) -> dict[str, Any]:
    return {
        "id": queue.pk,
        "name": queue.name,
        "fullpath": queue.fullpath,
        "priority": queue.priority,
        "weight": queue.weight,
        "minimum_agents": queue.minimum_agents,
        "maximum_agents": queue.maximum_agents,
        "parent_jobqueue_id": queue.parent_id,
    }


@pytest.fixture
def tree() -> tuple[JobQueue, JobQueue, JobQueue]:
    """``render`` with ``render/shots`` (limits set) and ``render/shots/fx``."""
    root = JobQueueFactory.create(name="render", priority=3, weight=7)
    shots = JobQueueFactory.create(
        name="shots", parent=root, minimum_agents=1, maximum_agents=4
    )
    fx = JobQueueFactory.create(name="fx", parent=shots)
    return root, shots, fx


def test_the_list_has_each_queues_columns_with_its_full_path(
    api_client: APIClient, tree: tuple[JobQueue, ...]
) -> None:
    root, shots, fx = tree
    response = api_client.get(JOBQUEUES)
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": root.pk,
            "name": "render",
            "fullpath": "render",
            "priority": 3,
            "weight": 7,
            "minimum_agents": None,
            "maximum_agents": None,
            "parent_jobqueue_id": None,
        },
        {**_columns(shots), "fullpath": "render/shots", "minimum_agents": 1},
        {**_columns(fx), "fullpath": "render/shots/fx"},
    ]


def test_one_queue_has_its_columns_parent_jobs_and_children(
    api_client: APIClient, tree: tuple[JobQueue, ...]
) -> None:
    root, shots, fx = tree
    sibling = JobQueueFactory.create(name="assets", parent=root)
    jobs = JobFactory.create_batch(2, queue=shots)
    response = api_client.get(f"{JOBQUEUES}render/shots")
    assert response.status_code == 200
    assert response.json() == {
        "id": shots.pk,
        "name": "shots",
        "fullpath": "render/shots",
        "priority": shots.priority,
        "weight": shots.weight,
        "minimum_agents": 1,
        "maximum_agents": 4,
        "parent_jobqueue_id": root.pk,
        "parent": {
            "id": root.pk,
            "name": "render",
            "priority": 3,
            "weight": 7,
            "minimum_agents": None,
            "maximum_agents": None,
        },
        "jobs": sorted(job.pk for job in jobs),
        "children": [fx.pk],
    }
    root_body = api_client.get(f"{JOBQUEUES}{root.pk}").json()
    assert root_body["children"] == sorted([shots.pk, sibling.pk])
    assert root_body["parent"] is None


def test_a_created_queue_answers_its_full_path_and_no_children(
    admin_api_client: APIClient, tree: tuple[JobQueue, ...]
) -> None:
    _, shots, _ = tree
    response = admin_api_client.post(
        JOBQUEUES, {"name": "lighting", "parent_jobqueue_id": shots.pk}, format="json"
    )
    assert response.status_code == 201
    created = JobQueue.objects.get(name="lighting")
    body = response.json()
    assert body == {
        **_columns(created),
        "fullpath": "render/shots/lighting",
        "parent": body["parent"],
        "jobs": [],
        "children": [],
    }
    assert body["parent"]["id"] == shots.pk


def test_a_renamed_queue_answers_its_new_full_path(
    admin_api_client: APIClient, tree: tuple[JobQueue, ...]
) -> None:
    _, shots, fx = tree
    response = admin_api_client.post(
        f"{JOBQUEUES}{shots.pk}", {"name": "shots2"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["fullpath"] == "render/shots2"
    assert body["children"] == [fx.pk]
    listed = {
        row["id"]: row["fullpath"] for row in admin_api_client.get(JOBQUEUES).json()
    }
    assert listed[fx.pk] == "render/shots2/fx"


def test_one_queue_takes_a_constant_number_of_queries(
    api_client: APIClient,
    tree: tuple[JobQueue, ...],
    django_assert_num_queries: Any,
) -> None:
    root, _, _ = tree
    JobQueueFactory.create_batch(10, parent=root)
    JobFactory.create_batch(5, queue=root)
    # The queue with its parent, its jobs' ids, its children's ids.
    with django_assert_num_queries(3):
        response = api_client.get(f"{JOBQUEUES}{root.pk}")
    assert len(response.json()["children"]) == 11


@pytest.mark.parametrize("length", [1024, 300])
def test_the_schema_names_every_column_with_its_type(
    api_client: APIClient, farm_config: Any, length: int
) -> None:
    farm_config(max_queue_path_length=length)
    response = api_client.get(f"{JOBQUEUES}schema")
    assert response.status_code == 200
    id_type = "INTEGER" if connection.vendor == "sqlite" else "BIGINT"
    assert response.json() == {
        "id": id_type,
        "name": "VARCHAR(255)",
        "fullpath": f"VARCHAR({length})",
        "minimum_agents": "INTEGER",
        "maximum_agents": "INTEGER",
        "priority": "INTEGER",
        "weight": "INTEGER",
        "parent_jobqueue_id": id_type,
    }


def test_the_schema_covers_every_column_of_a_listed_queue(
    api_client: APIClient, tree: tuple[JobQueue, ...]
) -> None:
    listed = api_client.get(JOBQUEUES).json()[0]
    assert set(api_client.get(f"{JOBQUEUES}schema").json()) == set(listed)


@pytest.mark.parametrize(
    ("vendor", "id_type"), [("sqlite", "INTEGER"), ("postgresql", "BIGINT")]
)
def test_the_queue_schema_types_work_ids_as_the_original_did_on_the_database(
    api_client: APIClient, monkeypatch: Any, vendor: str, id_type: str
) -> None:
    monkeypatch.setattr(connection, "vendor", vendor)
    body = api_client.get(f"{JOBQUEUES}schema").json()
    assert (body["id"], body["parent_jobqueue_id"]) == (id_type, id_type)
    assert body["priority"] == "INTEGER"
