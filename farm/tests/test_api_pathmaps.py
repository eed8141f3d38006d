"""API: path maps, per agent through their tags."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from farm.models import PathMap, Tag
from farm.tests.factories import AgentFactory, PathMapFactory, TagFactory

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse
    from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ENDPOINT = "/api/v1/pathmaps/"

UNTAGGED_KEYS = {"id", "path_linux", "path_windows", "path_osx"}
TAGGED_KEYS = {*UNTAGGED_KEYS, "tag"}
BODY = {
    "path_linux": "/mnt/nfs",
    "path_windows": "\\\\domain\\cifs_server",
    "path_osx": "/mnt/nfs",
    "tag": "production",
}


def _error(response: _MonkeyPatchedResponse, status: int) -> str:
    """Assert an error response: the status and a ``{"error": "..."}`` body."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]
    return body["error"]


def _snapshot() -> tuple[list, list]:
    """Everything the pathmaps API may change, to check that nothing did."""
    return (
        list(PathMap.objects.order_by("pk").values()),
        list(Tag.objects.order_by("pk").values()),
    )


def _map(linux: str, tag: str | None = None) -> PathMap:
    return PathMapFactory.create(
        path_linux=linux,
        path_windows=f"P:{linux}",
        path_osx=f"/Volumes{linux}",
        tag=TagFactory.create(tag=tag) if tag else None,
    )


# --- GET pathmaps/ -------------------------------------------------------------


def test_it_lists_path_maps_with_the_tag_only_when_there_is_one(
    api_client: APIClient,
) -> None:
    untagged = _map("/mnt/nfs")
    tagged = _map("/renderout", tag="usual")
    response = api_client.get(ENDPOINT)
    assert response.status_code == 200
    first, second = response.json()
    assert set(first) == UNTAGGED_KEYS
    assert first["id"] == untagged.pk
    assert set(second) == TAGGED_KEYS
    assert (second["id"], second["tag"]) == (tagged.pk, "usual")


@pytest.mark.parametrize("count", [2, 20])
def test_listing_path_maps_takes_one_query_whatever_their_number(
    api_client: APIClient, django_assert_num_queries: Any, count: int
) -> None:
    for index in range(count):
        _map(f"/mnt/{index}", tag=f"tag{index}" if index % 2 else None)
    with django_assert_num_queries(1):
        response = api_client.get(ENDPOINT)
    assert len(response.json()) == count


def test_agents_can_list_path_maps(agent_client: APIClient) -> None:
    _map("/mnt/nfs")
    response = agent_client.get(ENDPOINT, content_type="application/json")
    assert response.status_code == 200
    assert len(response.json()) == 1


def test_anonymous_requests_cannot_list_path_maps(anonymous_client: APIClient) -> None:
    _error(anonymous_client.get(ENDPOINT), 401)


# --- GET pathmaps/?for_agent=<uuid> --------------------------------------------


def test_for_agent_returns_the_untagged_maps_and_those_of_its_tags(
    agent_client: APIClient,
) -> None:
    agent = AgentFactory.create()
    agent.tags.add(TagFactory.create(tag="mine"))
    untagged = _map("/mnt/all")
    mine = _map("/mnt/mine", tag="mine")
    _map("/mnt/other", tag="other")
    response = agent_client.get(ENDPOINT, {"for_agent": str(agent.pk)})
    assert response.status_code == 200
    assert [item["id"] for item in response.json()] == [untagged.pk, mine.pk]


def test_for_agent_lets_a_tagged_map_override_an_untagged_one(
    agent_client: APIClient,
) -> None:
    agent = AgentFactory.create()
    agent.tags.add(TagFactory.create(tag="mine"))
    _map("/mnt/projects")
    PathMapFactory.create(
        path_linux="/mnt/projects",
        path_windows="Q:\\",
        path_osx="/Volumes/q",
        tag=TagFactory.create(tag="mine"),
    )
    response = agent_client.get(ENDPOINT, {"for_agent": str(agent.pk)})
    assert [(m["path_windows"], m.get("tag")) for m in response.json()] == [
        ("Q:\\", "mine")
    ]


def test_for_agent_keeps_untagged_maps_other_agents_override(
    agent_client: APIClient,
) -> None:
    agent = AgentFactory.create()
    untagged = _map("/mnt/projects")
    _map("/mnt/projects", tag="other")
    response = agent_client.get(ENDPOINT, {"for_agent": str(agent.pk)})
    assert [item["id"] for item in response.json()] == [untagged.pk]


def test_for_agent_refuses_an_id_that_is_no_uuid(agent_client: APIClient) -> None:
    _error(agent_client.get(ENDPOINT, {"for_agent": "not-a-uuid"}), 400)


def test_for_agent_answers_404_for_an_unknown_agent(agent_client: APIClient) -> None:
    _error(agent_client.get(ENDPOINT, {"for_agent": str(uuid.uuid4())}), 404)


@pytest.mark.parametrize("count", [2, 20])
def test_listing_an_agents_maps_takes_a_constant_number_of_queries(
    agent_client: APIClient, django_assert_num_queries: Any, count: int
) -> None:
    agent = AgentFactory.create()
    agent.tags.add(TagFactory.create(tag="tag1"))
    for index in range(count):
        _map(f"/mnt/{index}", tag="tag1" if index % 2 else None)
    with django_assert_num_queries(2):
        response = agent_client.get(ENDPOINT, {"for_agent": str(agent.pk)})
    assert len(response.json()) == count


# --- POST pathmaps/ ------------------------------------------------------------


def test_it_creates_a_path_map_and_its_new_tag(admin_api_client: APIClient) -> None:
    response = admin_api_client.post(ENDPOINT, BODY, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == TAGGED_KEYS
    pathmap = PathMap.objects.get()
    assert body == {"id": pathmap.pk, **BODY}
    assert pathmap.tag == Tag.objects.get(tag="production")


def test_it_uses_an_existing_tag(admin_api_client: APIClient) -> None:
    tag = TagFactory.create(tag="production")
    admin_api_client.post(ENDPOINT, BODY, format="json")
    assert PathMap.objects.get().tag == tag
    assert Tag.objects.count() == 1


def test_it_creates_an_untagged_path_map(admin_api_client: APIClient) -> None:
    body = {key: value for key, value in BODY.items() if key != "tag"}
    response = admin_api_client.post(ENDPOINT, body, format="json")
    assert response.status_code == 201
    assert set(response.json()) == UNTAGGED_KEYS
    assert PathMap.objects.get().tag is None


@pytest.mark.parametrize(
    "body",
    [
        {**BODY, "colour": "red"},
        {**BODY, "id": 5},
        {"path_linux": "/mnt", "path_windows": "P:\\"},
        {**BODY, "path_linux": 5},
        {**BODY, "path_osx": ""},
        {**BODY, "path_linux": "/" + "x" * 512},
        {**BODY, "tag": ""},
        {**BODY, "tag": 3},
        {**BODY, "tag": "t" * 65},
        [BODY],
    ],
    ids=[
        "unknown column",
        "id",
        "missing path",
        "path as number",
        "blank path",
        "path too long",
        "blank tag",
        "tag as number",
        "tag too long",
        "not an object",
    ],
)
def test_it_refuses_bad_bodies(admin_api_client: APIClient, body: Any) -> None:
    _error(admin_api_client.post(ENDPOINT, body, format="json"), 400)
    assert _snapshot() == ([], [])


def test_it_refuses_malformed_json(admin_api_client: APIClient) -> None:
    response = admin_api_client.post(ENDPOINT, "{", content_type="application/json")
    _error(response, 400)
    assert not PathMap.objects.exists()


def test_ordinary_users_cannot_create_path_maps(api_client: APIClient) -> None:
    _error(api_client.post(ENDPOINT, BODY, format="json"), 403)
    assert not PathMap.objects.exists()


def test_agents_cannot_create_path_maps(agent_client: APIClient) -> None:
    _error(agent_client.post(ENDPOINT, BODY), 401)
    assert not PathMap.objects.exists()


# --- GET pathmaps/schema -------------------------------------------------------


@pytest.mark.parametrize("path", ["schema", "schema/"])
def test_schema_returns_the_documented_column_types(
    api_client: APIClient, path: str
) -> None:
    response = api_client.get(ENDPOINT + path)
    assert response.status_code == 200
    assert response.json() == {
        "id": "INTEGER",
        "path_linux": "VARCHAR(512)",
        "path_windows": "VARCHAR(512)",
        "path_osx": "VARCHAR(512)",
        "tag": "VARCHAR(64)",
    }


# --- pathmaps/<id> -------------------------------------------------------------


def test_it_returns_one_path_map(api_client: APIClient) -> None:
    pathmap = _map("/mnt/nfs")
    response = api_client.get(f"{ENDPOINT}{pathmap.pk}")
    assert response.status_code == 200
    assert response.json() == {
        "id": pathmap.pk,
        "path_linux": "/mnt/nfs",
        "path_windows": "P:/mnt/nfs",
        "path_osx": "/Volumes/mnt/nfs",
    }


def test_getting_an_unknown_path_map_is_404(api_client: APIClient) -> None:
    _error(api_client.get(f"{ENDPOINT}4711"), 404)


def test_an_id_that_is_not_a_number_is_refused(api_client: APIClient) -> None:
    _error(api_client.get(f"{ENDPOINT}one"), 400)


def test_post_changes_only_the_given_columns(admin_api_client: APIClient) -> None:
    pathmap = _map("/mnt/nfs", tag="production")
    response = admin_api_client.post(
        f"{ENDPOINT}{pathmap.pk}", {"path_linux": "/mnt/smb"}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {
        "id": pathmap.pk,
        "path_linux": "/mnt/smb",
        "path_windows": "P:/mnt/nfs",
        "path_osx": "/Volumes/mnt/nfs",
        "tag": "production",
    }


def test_post_moves_a_path_map_to_a_new_tag(admin_api_client: APIClient) -> None:
    pathmap = _map("/mnt/nfs")
    admin_api_client.post(f"{ENDPOINT}{pathmap.pk}", {"tag": "lighting"}, format="json")
    pathmap.refresh_from_db()
    assert pathmap.tag == Tag.objects.get(tag="lighting")


def test_post_with_a_null_tag_makes_the_map_apply_to_all(
    admin_api_client: APIClient,
) -> None:
    pathmap = _map("/mnt/nfs", tag="production")
    response = admin_api_client.post(
        f"{ENDPOINT}{pathmap.pk}", {"tag": None}, format="json"
    )
    assert set(response.json()) == UNTAGGED_KEYS
    pathmap.refresh_from_db()
    assert pathmap.tag is None


@pytest.mark.parametrize(
    "body",
    [{"id": 9}, {"colour": "red"}, {"path_linux": None}, {"path_osx": ["/a"]}],
    ids=["id", "unknown column", "null path", "path as list"],
)
def test_post_refuses_bad_changes(admin_api_client: APIClient, body: Any) -> None:
    pathmap = _map("/mnt/nfs")
    before = _snapshot()
    _error(admin_api_client.post(f"{ENDPOINT}{pathmap.pk}", body, format="json"), 400)
    assert _snapshot() == before


def test_post_to_an_unknown_path_map_is_404(admin_api_client: APIClient) -> None:
    response = admin_api_client.post(
        f"{ENDPOINT}4711", {"path_linux": "/mnt"}, format="json"
    )
    _error(response, 404)
    assert not PathMap.objects.exists()


def test_ordinary_users_cannot_change_path_maps(api_client: APIClient) -> None:
    pathmap = _map("/mnt/nfs")
    before = _snapshot()
    response = api_client.post(
        f"{ENDPOINT}{pathmap.pk}", {"path_linux": "/mnt/smb"}, format="json"
    )
    _error(response, 403)
    assert _snapshot() == before


def test_delete_removes_a_path_map(admin_api_client: APIClient) -> None:
    pathmap = _map("/mnt/nfs", tag="production")
    assert admin_api_client.delete(f"{ENDPOINT}{pathmap.pk}").status_code == 204
    assert not PathMap.objects.exists()
    assert Tag.objects.filter(tag="production").exists()


def test_deleting_an_unknown_path_map_is_204(admin_api_client: APIClient) -> None:
    assert admin_api_client.delete(f"{ENDPOINT}4711").status_code == 204


def test_ordinary_users_cannot_delete_path_maps(api_client: APIClient) -> None:
    pathmap = _map("/mnt/nfs")
    _error(api_client.delete(f"{ENDPOINT}{pathmap.pk}"), 403)
    assert PathMap.objects.exists()
