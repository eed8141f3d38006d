"""``/jobs/<job>/explain``: the explainer over the API (contract and queries)."""

from __future__ import annotations

from typing import Any

import pytest

from farm.choices import WorkState
from farm.models import Job, Task
from farm.services import create_job
from farm.tests.factories import AgentFactory, JobTypeVersionFactory, TagFactory

pytestmark = pytest.mark.django_db

EXPLAIN = "/api/v1/jobs/{job}/explain"

EXPLANATION_KEYS = {
    "job",
    "title",
    "state",
    "runnable_tasks",
    "assigned_agents",
    "idle_agents",
    "eligible_agents",
    "busy_agents",
    "offline_agents",
    "disabled_agents",
    "blocking",
}
BLOCKER_KEYS = {"constraint", "agents_ruled_out", "detail"}
# The job lookup, then explain: job row, unfinished parents, the snapshot
# (eleven) and the agent counts.
EXPLAIN_QUERIES = 15


def make_job(title: str = "shot 010", frames: int = 3, **fields: Any) -> Job:
    """A job with one queued task per frame 1..frames."""
    return create_job(
        jobtype_version=JobTypeVersionFactory.create(),
        title=title,
        start=1,
        end=frames,
        **fields,
    )


def test_it_explains_a_job_by_id_with_the_documented_keys(api_client) -> None:
    AgentFactory.create(cpus=2)
    AgentFactory.create(cpus=16)
    AgentFactory.create(offline=True)
    job = make_job(cpus=8)

    response = api_client.get(EXPLAIN.format(job=job.pk))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == EXPLANATION_KEYS
    assert body["job"] == job.pk
    assert body["state"] == WorkState.QUEUED
    assert (body["runnable_tasks"], body["idle_agents"]) == (3, 2)
    assert (body["eligible_agents"], body["offline_agents"]) == (1, 1)
    (blocker,) = body["blocking"]
    assert set(blocker) == BLOCKER_KEYS
    assert (blocker["constraint"], blocker["agents_ruled_out"]) == ("cpus", 1)


def test_it_explains_a_job_by_title_and_with_a_trailing_slash(api_client) -> None:
    job = make_job("shot 020")

    response = api_client.get(EXPLAIN.format(job="shot%20020") + "/")

    assert response.status_code == 200
    assert response.json()["job"] == job.pk


def test_a_runnable_job_has_an_empty_blocking_list(api_client) -> None:
    AgentFactory.create_batch(2)
    job = make_job()

    body = api_client.get(EXPLAIN.format(job=job.pk)).json()

    assert body["blocking"] == []
    assert body["eligible_agents"] == 2


def test_a_paused_job_is_explained_by_its_state(api_client) -> None:
    AgentFactory.create()
    job = make_job()
    Job.objects.filter(pk=job.pk).update(state=WorkState.PAUSED)

    body = api_client.get(EXPLAIN.format(job=job.pk)).json()

    assert body["blocking"] == [
        {"constraint": "state", "agents_ruled_out": 1, "detail": "the job is paused"}
    ]


def test_an_unknown_job_is_a_json_404(api_client) -> None:
    response = api_client.get(EXPLAIN.format(job=999_999))

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert "999999" in str(response.json())


def test_anonymous_users_cannot_read_an_explanation(anonymous_client) -> None:
    job = make_job()

    assert anonymous_client.get(EXPLAIN.format(job=job.pk)).status_code == 401


@pytest.mark.parametrize("size", [2, 12])
def test_the_query_count_does_not_grow_with_the_farm(
    api_client, django_assert_num_queries, size: int
) -> None:
    gpu = TagFactory.create(tag="gpu")
    for agent in AgentFactory.create_batch(size):
        agent.tags.add(gpu)
    AgentFactory.create_batch(size, offline=True)
    jobs = [make_job(f"job {n}", frames=size) for n in range(size)]
    job = make_job(tag_requirements=[(gpu, False)], frames=size)
    for task in Task.objects.filter(job__in=jobs):
        task.failed_in_agents.add(*AgentFactory.create_batch(1, disabled=True))

    with django_assert_num_queries(EXPLAIN_QUERIES):
        response = api_client.get(EXPLAIN.format(job=job.pk))

    assert response.status_code == 200
    assert response.json()["idle_agents"] == size
