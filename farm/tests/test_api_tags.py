"""Tags API: tags by name or id, and the agents carrying them."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from farm.models import Agent, PathMap, Tag
from farm.tests.factories import AgentFactory, JobFactory, PathMapFactory, TagFactory

pytestmark = pytest.mark.django_db

ENDPOINT = "/api/v1/tags/"


def _error(response: Any) -> str:
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    return body["error"]


def _agent_link(agent: Agent) -> dict[str, Any]:
    return {
        "id": str(agent.pk),
        "hostname": agent.hostname,
        "href": f"/api/v1/agents/{agent.pk}",
    }


# --- GET /tags/ -----------------------------------------------------------------


def test_list_shows_every_tag_with_its_agents_and_jobs(api_client) -> None:
    tag = TagFactory.create(tag="interesting")
    TagFactory.create(tag="boring")
    agent = AgentFactory.create()
    job = JobFactory.create()
    agent.tags.add(tag)
    job.tags.add(tag)
    response = api_client.get(ENDPOINT)
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": Tag.objects.get(tag="boring").pk,
            "tag": "boring",
            "agents": [],
            "jobs": [],
        },
        {
            "id": tag.pk,
            "tag": "interesting",
            "agents": [_agent_link(agent)],
            "jobs": [
                {"id": job.pk, "title": job.title, "href": f"/api/v1/jobs/{job.pk}"}
            ],
        },
    ]


@pytest.mark.parametrize("count", [2, 20])
def test_list_runs_a_constant_number_of_queries(
    api_client, django_assert_num_queries, count
) -> None:
    for tag in TagFactory.create_batch(count):
        AgentFactory.create().tags.add(tag)
        JobFactory.create().tags.add(tag)
    with django_assert_num_queries(3):
        response = api_client.get(ENDPOINT)
    assert len(response.json()) == count


def test_list_accepts_the_path_without_a_slash(api_client) -> None:
    TagFactory.create()
    assert len(api_client.get(ENDPOINT.rstrip("/")).json()) == 1


def test_list_needs_a_user(anonymous_client) -> None:
    response = anonymous_client.get(ENDPOINT)
    assert response.status_code == 401
    assert _error(response)


# --- POST /tags/ ----------------------------------------------------------------


def test_create_answers_201_with_the_new_tag(admin_api_client) -> None:
    response = admin_api_client.post(ENDPOINT, {"tag": "interesting"}, format="json")
    assert response.status_code == 201
    tag = Tag.objects.get()
    assert response.json() == {"id": tag.pk, "tag": "interesting"}


def test_create_of_an_existing_tag_answers_200_with_it(admin_api_client) -> None:
    tag = TagFactory.create(tag="interesting")
    response = admin_api_client.post(ENDPOINT, {"tag": "interesting"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"id": tag.pk, "tag": "interesting"}
    assert Tag.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"tag": ""}, "tag"),
        ({"tag": "   "}, "blank"),
        ({"tag": "x" * 65}, "64"),
        ({"tag": 12}, "tag"),
        ({}, "tag"),
        ({"tag": "a", "colour": "blue"}, "colour"),
        ({"tag": "a", "id": 3}, "id"),
    ],
)
def test_create_refuses_bad_bodies(admin_api_client, body, fragment) -> None:
    response = admin_api_client.post(ENDPOINT, body, format="json")
    assert response.status_code == 400
    assert fragment in _error(response)
    assert not Tag.objects.exists()


def test_create_refuses_malformed_json(admin_api_client) -> None:
    response = admin_api_client.post(
        ENDPOINT, b'{"tag": ', content_type="application/json"
    )
    assert response.status_code == 400
    assert _error(response)


def test_create_is_for_admins_only(api_client) -> None:
    response = api_client.post(ENDPOINT, {"tag": "interesting"}, format="json")
    assert response.status_code == 403
    assert _error(response)
    assert not Tag.objects.exists()


# --- GET /tags/schema ------------------------------------------------------------


@pytest.mark.parametrize("url", [f"{ENDPOINT}schema/", f"{ENDPOINT}schema"])
def test_schema_lists_the_documented_columns(api_client, url) -> None:
    response = api_client.get(url)
    assert response.status_code == 200
    assert response.json() == {"id": "INTEGER", "tag": "VARCHAR(64)"}


# --- GET /tags/<tag> -------------------------------------------------------------


def test_detail_by_name_shows_the_tag_with_its_agents_and_jobs(api_client) -> None:
    tag = TagFactory.create(tag="interesting")
    agent = AgentFactory.create()
    agent.tags.add(tag)
    response = api_client.get(f"{ENDPOINT}interesting")
    assert response.status_code == 200
    assert response.json() == {
        "id": tag.pk,
        "tag": "interesting",
        "agents": [_agent_link(agent)],
        "jobs": [],
    }


def test_detail_by_id_shows_the_tag(api_client) -> None:
    tag = TagFactory.create(tag="interesting")
    response = api_client.get(f"{ENDPOINT}{tag.pk}")
    assert response.json()["tag"] == "interesting"


def test_detail_accepts_a_trailing_slash(api_client) -> None:
    TagFactory.create(tag="interesting")
    assert api_client.get(f"{ENDPOINT}interesting/").status_code == 200


def test_detail_of_an_unknown_tag_is_a_json_404(api_client) -> None:
    response = api_client.get(f"{ENDPOINT}nothing")
    assert response.status_code == 404
    assert "nothing" in _error(response)


# --- PUT /tags/<tag> -------------------------------------------------------------


def test_put_creates_a_tag_named_by_the_url(admin_api_client) -> None:
    response = admin_api_client.put(
        f"{ENDPOINT}interesting", {"tag": "interesting"}, format="json"
    )
    assert response.status_code == 201
    tag = Tag.objects.get()
    assert response.json() == {"id": tag.pk, "tag": "interesting"}


def test_put_without_a_name_in_the_body_uses_the_url(admin_api_client) -> None:
    response = admin_api_client.put(f"{ENDPOINT}interesting", {}, format="json")
    assert response.status_code == 201
    assert Tag.objects.get().tag == "interesting"


def test_put_sets_exactly_the_given_agents_and_jobs(admin_api_client) -> None:
    tag = TagFactory.create(tag="interesting")
    old_agent, new_agent = AgentFactory.create_batch(2)
    old_agent.tags.add(tag)
    job = JobFactory.create()
    response = admin_api_client.put(
        f"{ENDPOINT}interesting",
        {"tag": "interesting", "agents": [str(new_agent.pk)], "jobs": [job.pk]},
        format="json",
    )
    assert response.status_code == 201
    assert response.json() == {"id": tag.pk, "tag": "interesting"}
    assert list(tag.agents.all()) == [new_agent]
    assert list(tag.jobs.all()) == [job]


def test_put_without_relations_removes_them(admin_api_client) -> None:
    tag = TagFactory.create(tag="interesting")
    AgentFactory.create().tags.add(tag)
    JobFactory.create().tags.add(tag)
    admin_api_client.put(
        f"{ENDPOINT}interesting", {"tag": "interesting"}, format="json"
    )
    assert not tag.agents.exists()
    assert not tag.jobs.exists()


def test_put_keeps_the_tags_id_and_path_maps(admin_api_client) -> None:
    tag = TagFactory.create(tag="interesting")
    PathMapFactory.create(tag=tag)
    admin_api_client.put(f"{ENDPOINT}{tag.pk}", {}, format="json")
    assert Tag.objects.get().pk == tag.pk
    assert PathMap.objects.get().tag_id == tag.pk


def test_put_refuses_a_name_other_than_the_urls(admin_api_client) -> None:
    tag = TagFactory.create(tag="interesting")
    response = admin_api_client.put(
        f"{ENDPOINT}{tag.pk}", {"tag": "boring"}, format="json"
    )
    assert response.status_code == 400
    assert "boring" in _error(response)
    assert Tag.objects.get().tag == "interesting"


def test_put_with_an_unknown_agent_is_a_json_404_changing_nothing(
    admin_api_client,
) -> None:
    tag = TagFactory.create(tag="interesting")
    agent = AgentFactory.create()
    agent.tags.add(tag)
    missing = uuid.uuid4()
    response = admin_api_client.put(
        f"{ENDPOINT}interesting", {"agents": [str(missing)]}, format="json"
    )
    assert response.status_code == 404
    assert str(missing) in _error(response)
    assert list(tag.agents.all()) == [agent]


def test_put_with_an_unknown_job_is_a_json_404_creating_nothing(
    admin_api_client,
) -> None:
    response = admin_api_client.put(
        f"{ENDPOINT}interesting", {"jobs": [999]}, format="json"
    )
    assert response.status_code == 404
    assert "999" in _error(response)
    assert not Tag.objects.exists()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"agents": ["agent-1"]}, "agents"),
        ({"agents": "all"}, "agents"),
        ({"jobs": ["1"]}, "jobs"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_put_refuses_bad_bodies(admin_api_client, body, fragment) -> None:
    response = admin_api_client.put(f"{ENDPOINT}interesting", body, format="json")
    assert response.status_code == 400
    assert fragment in _error(response)
    assert not Tag.objects.exists()


def test_put_refuses_names_the_model_refuses(admin_api_client) -> None:
    response = admin_api_client.put(f"{ENDPOINT}{'x' * 65}", {}, format="json")
    assert response.status_code == 400
    assert "64" in _error(response)
    assert not Tag.objects.exists()


def test_put_is_for_admins_only(api_client) -> None:
    response = api_client.put(f"{ENDPOINT}interesting", {}, format="json")
    assert response.status_code == 403
    assert not Tag.objects.exists()


# --- DELETE /tags/<tag> ----------------------------------------------------------


def test_delete_removes_the_tag_and_its_relations(admin_api_client) -> None:
    tag = TagFactory.create(tag="interesting")
    agent = AgentFactory.create()
    agent.tags.add(tag)
    response = admin_api_client.delete(f"{ENDPOINT}interesting")
    assert response.status_code == 204
    assert not Tag.objects.exists()
    assert not agent.tags.exists()


def test_delete_by_id_removes_the_tag(admin_api_client) -> None:
    tag = TagFactory.create()
    assert admin_api_client.delete(f"{ENDPOINT}{tag.pk}").status_code == 204
    assert not Tag.objects.exists()


def test_delete_of_an_unknown_tag_answers_204(admin_api_client) -> None:
    assert admin_api_client.delete(f"{ENDPOINT}nothing").status_code == 204


def test_delete_is_for_admins_only(api_client) -> None:
    TagFactory.create(tag="interesting")
    response = api_client.delete(f"{ENDPOINT}interesting")
    assert response.status_code == 403
    assert Tag.objects.exists()


# --- /tags/<tag>/agents/ ---------------------------------------------------------


def test_agent_list_shows_the_tagged_agents(api_client) -> None:
    tag = TagFactory.create(tag="interesting")
    agent = AgentFactory.create()
    AgentFactory.create()
    agent.tags.add(tag)
    response = api_client.get(f"{ENDPOINT}interesting/agents/")
    assert response.status_code == 200
    assert response.json() == [_agent_link(agent)]


@pytest.mark.parametrize("count", [2, 20])
def test_agent_list_runs_a_constant_number_of_queries(
    api_client, django_assert_num_queries, count
) -> None:
    tag = TagFactory.create(tag="interesting")
    for agent in AgentFactory.create_batch(count):
        agent.tags.add(tag)
    with django_assert_num_queries(2):
        response = api_client.get(f"{ENDPOINT}interesting/agents/")
    assert len(response.json()) == count


def test_agent_list_of_an_unknown_tag_is_a_json_404(api_client) -> None:
    response = api_client.get(f"{ENDPOINT}nothing/agents/")
    assert response.status_code == 404
    assert "nothing" in _error(response)


def test_tagging_an_agent_answers_201_with_its_link(admin_api_client) -> None:
    tag = TagFactory.create(tag="interesting")
    agent = AgentFactory.create()
    response = admin_api_client.post(
        f"{ENDPOINT}interesting/agents/", {"agent_id": str(agent.pk)}, format="json"
    )
    assert response.status_code == 201
    assert response.json() == {
        "id": str(agent.pk),
        "href": f"/api/v1/agents/{agent.pk}",
    }
    assert list(agent.tags.all()) == [tag]


def test_tagging_an_agent_by_the_tags_id_works(admin_api_client) -> None:
    tag = TagFactory.create(tag="interesting")
    agent = AgentFactory.create()
    response = admin_api_client.post(
        f"{ENDPOINT}{tag.pk}/agents/", {"agent_id": str(agent.pk)}, format="json"
    )
    assert response.status_code == 201


def test_tagging_an_agent_twice_answers_200(admin_api_client) -> None:
    tag = TagFactory.create(tag="interesting")
    agent = AgentFactory.create()
    agent.tags.add(tag)
    response = admin_api_client.post(
        f"{ENDPOINT}interesting/agents/", {"agent_id": str(agent.pk)}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {
        "id": str(agent.pk),
        "href": f"/api/v1/agents/{agent.pk}",
    }
    assert agent.tags.count() == 1


def test_tagging_an_unknown_agent_is_a_json_404(admin_api_client) -> None:
    TagFactory.create(tag="interesting")
    missing = uuid.uuid4()
    response = admin_api_client.post(
        f"{ENDPOINT}interesting/agents/", {"agent_id": str(missing)}, format="json"
    )
    assert response.status_code == 404
    assert str(missing) in _error(response)


def test_tagging_with_an_unknown_tag_is_a_json_404(admin_api_client) -> None:
    agent = AgentFactory.create()
    response = admin_api_client.post(
        f"{ENDPOINT}nothing/agents/", {"agent_id": str(agent.pk)}, format="json"
    )
    assert response.status_code == 404
    assert "nothing" in _error(response)
    assert not agent.tags.exists()


@pytest.mark.parametrize(
    "body", [{}, {"agent_id": 12}, {"agent_id": "agent-1"}, {"agent_id": "x", "y": 1}]
)
def test_tagging_refuses_bad_bodies(admin_api_client, body) -> None:
    TagFactory.create(tag="interesting")
    response = admin_api_client.post(
        f"{ENDPOINT}interesting/agents/", body, format="json"
    )
    assert response.status_code == 400
    assert _error(response)


def test_tagging_is_for_admins_only(api_client) -> None:
    TagFactory.create(tag="interesting")
    agent = AgentFactory.create()
    response = api_client.post(
        f"{ENDPOINT}interesting/agents/", {"agent_id": str(agent.pk)}, format="json"
    )
    assert response.status_code == 403
    assert not agent.tags.exists()
