"""API: software, their ranked versions and discovery code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from farm.models import Software, SoftwareVersion
from farm.services.jobtypes import JobTypeDefinition, Requirement, create_jobtype
from farm.tests.factories import SoftwareFactory, SoftwareVersionFactory

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse
    from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ENDPOINT = "/api/v1/software/"

SOFTWARE_KEYS = {"software", "id", "versions"}
VERSION_KEYS = {"version", "id", "rank"}
VERSION_DETAIL_KEYS = {"version", "id", "rank", "discovery_function_name"}
DISCOVERY = "def blender_2_72_installed():\n    return True\n"


def _error(response: _MonkeyPatchedResponse, status: int) -> str:
    """Assert an error response: the status and a ``{"error": "..."}`` body."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]
    return body["error"]


def _software(name: str = "blender", *versions: str) -> Software:
    software = SoftwareFactory.create(software=name)
    for index, version in enumerate(versions, start=1):
        SoftwareVersionFactory.create(
            software=software, version=version, rank=100 * index
        )
    return software


def _require(version: SoftwareVersion) -> None:
    """Make a job type require ``version`` (which protects it from deletion)."""
    create_jobtype(
        name="Render",
        definition=JobTypeDefinition(code="pass\n"),
        requirements=[Requirement(software=version.software, min_version=version)],
    )


def _snapshot() -> tuple[list, list]:
    """Everything the software API may change, to check that nothing did."""
    return (
        list(Software.objects.order_by("pk").values()),
        list(SoftwareVersion.objects.order_by("pk").values()),
    )


def _ranks(software: str = "blender") -> dict[str, int]:
    return dict(
        SoftwareVersion.objects.filter(software__software=software).values_list(
            "version", "rank"
        )
    )


# --- GET software/ -------------------------------------------------------------


def test_it_lists_software_with_their_versions(api_client: APIClient) -> None:
    software = _software("blender", "2.69", "2.79")
    response = api_client.get(ENDPOINT)
    assert response.status_code == 200
    (item,) = response.json()
    assert set(item) == SOFTWARE_KEYS
    assert (item["id"], item["software"]) == (software.pk, "blender")
    assert [set(version) for version in item["versions"]] == [VERSION_KEYS] * 2
    assert [v["version"] for v in item["versions"]] == ["2.69", "2.79"]


@pytest.mark.parametrize("count", [2, 20])
def test_listing_software_takes_a_constant_number_of_queries(
    api_client: APIClient, django_assert_num_queries: Any, count: int
) -> None:
    for index in range(count):
        _software(f"software{index}", "1.0", "2.0")
    with django_assert_num_queries(2):
        response = api_client.get(ENDPOINT)
    assert len(response.json()) == count


def test_anonymous_requests_cannot_list_software(anonymous_client: APIClient) -> None:
    _error(anonymous_client.get(ENDPOINT), 401)


# --- POST software/ ------------------------------------------------------------


def test_it_creates_software_without_versions(admin_api_client: APIClient) -> None:
    response = admin_api_client.post(ENDPOINT, {"software": "blender"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == SOFTWARE_KEYS
    assert body["id"] == Software.objects.get(software="blender").pk
    assert body["versions"] == []


def test_it_ranks_unranked_versions_in_steps_of_100(
    admin_api_client: APIClient,
) -> None:
    body = {
        "software": "blender",
        "versions": [{"version": "2.69"}, {"version": "2.7"}],
    }
    response = admin_api_client.post(ENDPOINT, body, format="json")
    assert [v["rank"] for v in response.json()["versions"]] == [100, 200]


def test_an_unranked_version_ranks_above_an_explicit_rank(
    admin_api_client: APIClient,
) -> None:
    versions = [{"version": "2.69", "rank": 500}, {"version": "2.7"}]
    admin_api_client.post(
        ENDPOINT, {"software": "blender", "versions": versions}, format="json"
    )
    assert _ranks() == {"2.69": 500, "2.7": 600}


def test_it_stores_the_discovery_code_of_a_version(
    admin_api_client: APIClient,
) -> None:
    version = {
        "version": "2.72",
        "discovery_code": DISCOVERY,
        "discovery_function_name": "blender_2_72_installed",
    }
    admin_api_client.post(
        ENDPOINT, {"software": "blender", "versions": [version]}, format="json"
    )
    stored = SoftwareVersion.objects.get()
    assert stored.discovery_code == DISCOVERY
    assert stored.discovery_function_name == "blender_2_72_installed"


def test_posting_a_taken_name_conflicts(admin_api_client: APIClient) -> None:
    _software("blender", "2.69")
    before = _snapshot()
    body = {"software": "blender", "versions": [{"version": "3.0"}]}
    _error(admin_api_client.post(ENDPOINT, body, format="json"), 409)
    assert _snapshot() == before


@pytest.mark.parametrize(
    "body",
    [
        {"software": "blender", "colour": "red"},
        {"software": "blender", "id": 4},
        {"versions": []},
        {"software": 12},
        {"software": ""},
        {"software": "b" * 65},
        {"software": "a/b"},
        {"software": ".."},
        {"software": "blender", "versions": {"version": "1"}},
        {"software": "blender", "versions": ["2.69"]},
        {"software": "blender", "versions": [{"version": 2.69}]},
        {"software": "blender", "versions": [{"version": "2.69", "colour": 1}]},
        {"software": "blender", "versions": [{"version": "2.69", "rank": "1"}]},
        {"software": "blender", "versions": [{"version": "2.69", "rank": -1}]},
        {"software": "blender", "versions": [{"version": "2.69", "rank": 2**31}]},
        {"software": "blender", "versions": [{"version": "a/b"}]},
        {"software": "blender", "versions": [{"version": "1"}, {"version": "1"}]},
        {
            "software": "blender",
            "versions": [{"version": "1", "rank": 5}, {"version": "2", "rank": 5}],
        },
        {"software": "blender", "versions": [{"version": "1", "discovery_code": "x"}]},
        {"software": "blender", "versions": [], "version": []},
        ["blender"],
    ],
    ids=[
        "unknown column",
        "id",
        "no name",
        "name as number",
        "blank name",
        "name too long",
        "name with a separator",
        "dot-dot name",
        "versions not a list",
        "version not an object",
        "version as number",
        "unknown version column",
        "rank as string",
        "negative rank",
        "rank too large",
        "version with a separator",
        "duplicate versions",
        "duplicate ranks",
        "discovery code without function",
        "both spellings",
        "not an object",
    ],
)
def test_it_refuses_bad_bodies(admin_api_client: APIClient, body: Any) -> None:
    _error(admin_api_client.post(ENDPOINT, body, format="json"), 400)
    assert not Software.objects.exists()


def test_it_refuses_malformed_json(admin_api_client: APIClient) -> None:
    response = admin_api_client.post(
        ENDPOINT, '{"software": ', content_type="application/json"
    )
    _error(response, 400)
    assert not Software.objects.exists()


def test_ordinary_users_cannot_create_software(api_client: APIClient) -> None:
    _error(api_client.post(ENDPOINT, {"software": "blender"}, format="json"), 403)
    assert not Software.objects.exists()


# --- GET software/schema -------------------------------------------------------


@pytest.mark.parametrize("path", ["schema", "schema/"])
def test_schema_returns_the_documented_column_types(
    api_client: APIClient, path: str
) -> None:
    response = api_client.get(ENDPOINT + path)
    assert response.status_code == 200
    assert response.json() == {"id": "INTEGER", "software": "VARCHAR(64)"}


# --- software/<name|id> --------------------------------------------------------


@pytest.mark.parametrize("by", ["name", "id"])
def test_it_returns_one_software(api_client: APIClient, by: str) -> None:
    software = _software("Autodesk Maya", "2013", "2014")
    key = "Autodesk%20Maya" if by == "name" else software.pk
    response = api_client.get(f"{ENDPOINT}{key}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == SOFTWARE_KEYS
    assert body["versions"] == [
        {
            "version": "2013",
            "id": software.versions.get(version="2013").pk,
            "rank": 100,
        },
        {
            "version": "2014",
            "id": software.versions.get(version="2014").pk,
            "rank": 200,
        },
    ]


def test_getting_unknown_software_is_404(api_client: APIClient) -> None:
    _error(api_client.get(f"{ENDPOINT}maya"), 404)


def test_put_creates_software_named_in_the_url(admin_api_client: APIClient) -> None:
    response = admin_api_client.put(
        f"{ENDPOINT}blender", {"software": "blender"}, format="json"
    )
    assert response.status_code == 201
    assert set(response.json()) == SOFTWARE_KEYS
    assert Software.objects.filter(software="blender").exists()


def test_put_accepts_the_version_spelling_of_the_documented_example(
    admin_api_client: APIClient,
) -> None:
    body = {"software": "blender", "version": [{"version": "1.69"}]}
    response = admin_api_client.put(f"{ENDPOINT}blender", body, format="json")
    assert response.status_code == 201
    (version,) = response.json()["versions"]
    assert (version["version"], version["rank"]) == ("1.69", 100)


def test_put_refuses_another_name_for_new_software(
    admin_api_client: APIClient,
) -> None:
    response = admin_api_client.put(
        f"{ENDPOINT}blender", {"software": "maya"}, format="json"
    )
    _error(response, 400)
    assert not Software.objects.exists()


def test_put_updates_existing_software_with_200(admin_api_client: APIClient) -> None:
    software = _software("blender", "2.69")
    response = admin_api_client.put(
        f"{ENDPOINT}{software.pk}", {"software": "Blender"}, format="json"
    )
    assert response.status_code == 200
    software.refresh_from_db()
    assert software.software == "Blender"
    assert _ranks("Blender") == {"2.69": 100}


def test_put_replaces_the_versions_keeping_the_rows_of_those_listed(
    admin_api_client: APIClient,
) -> None:
    software = _software("blender", "2.69", "2.79")
    kept = software.versions.get(version="2.79").pk
    body = {
        "software": "blender",
        "versions": [{"version": "2.79"}, {"version": "3.0"}],
    }
    response = admin_api_client.put(f"{ENDPOINT}blender", body, format="json")
    assert response.status_code == 200
    assert _ranks() == {"2.79": 100, "3.0": 200}
    assert software.versions.get(version="2.79").pk == kept


def test_put_renaming_to_a_taken_name_conflicts(admin_api_client: APIClient) -> None:
    _software("blender")
    _software("maya")
    before = _snapshot()
    response = admin_api_client.put(
        f"{ENDPOINT}blender", {"software": "maya"}, format="json"
    )
    _error(response, 409)
    assert _snapshot() == before


def test_put_dropping_a_required_version_conflicts(
    admin_api_client: APIClient,
) -> None:
    software = _software("blender", "2.69", "2.79")
    _require(software.versions.get(version="2.69"))
    before = _snapshot()
    body = {"software": "blender", "versions": [{"version": "2.79"}]}
    _error(admin_api_client.put(f"{ENDPOINT}blender", body, format="json"), 409)
    assert _snapshot() == before


def test_put_to_an_unknown_id_is_404(admin_api_client: APIClient) -> None:
    response = admin_api_client.put(
        f"{ENDPOINT}4711", {"software": "blender"}, format="json"
    )
    _error(response, 404)
    assert not Software.objects.exists()


def test_put_refuses_unknown_columns(admin_api_client: APIClient) -> None:
    _software("blender", "2.69")
    before = _snapshot()
    response = admin_api_client.put(
        f"{ENDPOINT}blender", {"software": "blender", "colour": "red"}, format="json"
    )
    _error(response, 400)
    assert _snapshot() == before


def test_ordinary_users_cannot_put_software(api_client: APIClient) -> None:
    _error(api_client.put(f"{ENDPOINT}blender", {}, format="json"), 403)
    assert not Software.objects.exists()


def test_delete_removes_software_and_its_versions(admin_api_client: APIClient) -> None:
    _software("blender", "2.69")
    assert admin_api_client.delete(f"{ENDPOINT}blender").status_code == 204
    assert not Software.objects.exists()
    assert not SoftwareVersion.objects.exists()


def test_deleting_unknown_software_is_204(admin_api_client: APIClient) -> None:
    assert admin_api_client.delete(f"{ENDPOINT}maya").status_code == 204


def test_deleting_required_software_conflicts(admin_api_client: APIClient) -> None:
    _require(_software("blender", "2.69").versions.get())
    before = _snapshot()
    _error(admin_api_client.delete(f"{ENDPOINT}blender"), 409)
    assert _snapshot() == before


def test_ordinary_users_cannot_delete_software(api_client: APIClient) -> None:
    _software("blender")
    _error(api_client.delete(f"{ENDPOINT}blender"), 403)
    assert Software.objects.exists()


# --- software/<name|id>/versions/ ----------------------------------------------


def test_it_lists_the_versions_lowest_rank_first(api_client: APIClient) -> None:
    software = _software("blender")
    SoftwareVersionFactory.create(software=software, version="new", rank=300)
    SoftwareVersionFactory.create(software=software, version="old", rank=100)
    response = api_client.get(f"{ENDPOINT}blender/versions/")
    assert response.status_code == 200
    assert [set(v) for v in response.json()] == [VERSION_KEYS] * 2
    assert [v["version"] for v in response.json()] == ["old", "new"]


def test_listing_versions_of_unknown_software_is_404(api_client: APIClient) -> None:
    _error(api_client.get(f"{ENDPOINT}maya/versions/"), 404)


@pytest.mark.parametrize("count", [2, 20])
def test_listing_versions_takes_a_constant_number_of_queries(
    api_client: APIClient, django_assert_num_queries: Any, count: int
) -> None:
    _software("blender", *(f"1.{n}" for n in range(count)))
    with django_assert_num_queries(2):
        response = api_client.get(f"{ENDPOINT}blender/versions/")
    assert len(response.json()) == count


def test_posting_a_version_ranks_it_above_the_others(
    admin_api_client: APIClient,
) -> None:
    _software("blender", "2.69", "2.79")
    response = admin_api_client.post(
        f"{ENDPOINT}blender/versions/", {"version": "3.0"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == VERSION_KEYS
    assert (body["version"], body["rank"]) == ("3.0", 300)


def test_posting_a_version_keeps_an_explicit_rank(admin_api_client: APIClient) -> None:
    _software("blender", "2.69", "2.79")
    admin_api_client.post(
        f"{ENDPOINT}blender/versions/", {"version": "2.70", "rank": 150}, format="json"
    )
    assert _ranks()["2.70"] == 150


def test_posting_a_default_version_takes_the_role_from_the_others(
    admin_api_client: APIClient,
) -> None:
    software = _software("blender")
    SoftwareVersionFactory.create(software=software, version="1", rank=1, default=True)
    admin_api_client.post(
        f"{ENDPOINT}blender/versions/", {"version": "2", "default": True}, format="json"
    )
    assert list(software.versions.filter(default=True).values_list("version")) == [
        ("2",)
    ]


@pytest.mark.parametrize(
    "body",
    [{"version": "2.69"}, {"version": "9.0", "rank": 100}],
    ids=["version", "rank"],
)
def test_posting_a_taken_version_or_rank_conflicts(
    admin_api_client: APIClient, body: dict[str, Any]
) -> None:
    _software("blender", "2.69")
    before = _snapshot()
    _error(
        admin_api_client.post(f"{ENDPOINT}blender/versions/", body, format="json"), 409
    )
    assert _snapshot() == before


@pytest.mark.parametrize(
    "body",
    [
        {"version": "3.0", "colour": "red"},
        {"version": "3.0", "id": 9},
        {"rank": 5},
        {"version": 3},
        {"version": "3/0"},
        {"version": "3.0", "rank": 1.5},
        {"version": "3.0", "discovery_function_name": "f"},
    ],
    ids=[
        "unknown column",
        "id",
        "no version",
        "version as number",
        "version with a separator",
        "fractional rank",
        "function without code",
    ],
)
def test_posting_a_bad_version_is_refused(
    admin_api_client: APIClient, body: dict[str, Any]
) -> None:
    _software("blender", "2.69")
    before = _snapshot()
    _error(
        admin_api_client.post(f"{ENDPOINT}blender/versions/", body, format="json"), 400
    )
    assert _snapshot() == before


def test_posting_a_version_of_unknown_software_is_404(
    admin_api_client: APIClient,
) -> None:
    response = admin_api_client.post(
        f"{ENDPOINT}maya/versions/", {"version": "2014"}, format="json"
    )
    _error(response, 404)
    assert not SoftwareVersion.objects.exists()


def test_ordinary_users_cannot_post_versions(api_client: APIClient) -> None:
    _software("blender")
    response = api_client.post(
        f"{ENDPOINT}blender/versions/", {"version": "3.0"}, format="json"
    )
    _error(response, 403)
    assert not SoftwareVersion.objects.exists()


# --- software/<name|id>/versions/<version> (R13) -------------------------------


def test_the_agent_reads_one_version(agent_client: APIClient) -> None:
    software = _software("blender")
    version = SoftwareVersionFactory.create(
        software=software,
        version="2.72",
        rank=100,
        discovery_code=DISCOVERY,
        discovery_function_name="blender_2_72_installed",
    )
    response = agent_client.get(
        f"{ENDPOINT}blender/versions/2.72", content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json() == {
        "version": "2.72",
        "id": version.pk,
        "rank": 100,
        "discovery_function_name": "blender_2_72_installed",
    }
    assert set(response.json()) == VERSION_DETAIL_KEYS


@pytest.mark.parametrize("path", ["blender/versions/9.9", "maya/versions/2.72"])
def test_the_agent_gets_a_json_404_for_an_unknown_version(
    agent_client: APIClient, path: str
) -> None:
    _software("blender", "2.72")
    _error(agent_client.get(ENDPOINT + path), 404)


def test_requests_from_outside_the_agent_networks_need_credentials(
    anonymous_client: APIClient,
) -> None:
    _software("blender", "2.72")
    _error(anonymous_client.get(f"{ENDPOINT}blender/versions/2.72"), 401)


def test_deleting_a_version_removes_it(admin_api_client: APIClient) -> None:
    _software("blender", "2.69", "2.79")
    assert (
        admin_api_client.delete(f"{ENDPOINT}blender/versions/2.69").status_code == 204
    )
    assert list(_ranks()) == ["2.79"]


def test_deleting_an_unknown_version_is_204(admin_api_client: APIClient) -> None:
    _software("blender", "2.69")
    before = _snapshot()
    assert admin_api_client.delete(f"{ENDPOINT}blender/versions/1.0").status_code == 204
    assert _snapshot() == before


def test_deleting_a_version_of_unknown_software_is_404(
    admin_api_client: APIClient,
) -> None:
    _error(admin_api_client.delete(f"{ENDPOINT}maya/versions/1.0"), 404)


def test_deleting_a_required_version_conflicts(admin_api_client: APIClient) -> None:
    _require(_software("blender", "2.69").versions.get())
    before = _snapshot()
    _error(admin_api_client.delete(f"{ENDPOINT}blender/versions/2.69"), 409)
    assert _snapshot() == before


def test_agents_cannot_delete_versions(agent_client: APIClient) -> None:
    _software("blender", "2.69")
    _error(agent_client.delete(f"{ENDPOINT}blender/versions/2.69"), 401)
    assert SoftwareVersion.objects.exists()


# --- software/<name|id>/versions/<version>/discovery_code (R14) ----------------


@pytest.mark.parametrize("suffix", ["discovery_code", "code"])
def test_the_agent_downloads_the_discovery_code_as_python_source(
    agent_client: APIClient, suffix: str
) -> None:
    SoftwareVersionFactory.create(
        software=_software("blender"),
        version="2.72",
        discovery_code=DISCOVERY,
        discovery_function_name="blender_2_72_installed",
    )
    response = agent_client.get(
        f"{ENDPOINT}blender/versions/2.72/{suffix}", content_type="application/json"
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/x-python"
    assert response.content.decode() == DISCOVERY


def test_a_version_without_discovery_code_is_a_json_404(
    agent_client: APIClient,
) -> None:
    _software("blender", "2.72")
    response = agent_client.get(
        f"{ENDPOINT}blender/versions/2.72/discovery_code", HTTP_ACCEPT="text/x-python"
    )
    _error(response, 404)
    assert response.headers["Content-Type"] == "application/json"


def test_discovery_code_needs_an_agent_network_or_credentials(
    anonymous_client: APIClient,
) -> None:
    _software("blender", "2.72")
    _error(anonymous_client.get(f"{ENDPOINT}blender/versions/2.72/discovery_code"), 401)
