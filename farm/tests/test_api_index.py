"""``GET /api/v1/`` answers an index of the API, not a 404."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

GROUPS = {
    "agents": "/api/v1/agents/",
    "jobgroups": "/api/v1/jobgroups/",
    "jobqueues": "/api/v1/jobqueues/",
    "jobs": "/api/v1/jobs/",
    "jobtypes": "/api/v1/jobtypes/",
    "pathmaps": "/api/v1/pathmaps/",
    "software": "/api/v1/software/",
    "tags": "/api/v1/tags/",
    "docs": "/api/v1/docs/",
    "openapi": "/api/v1/openapi.json",
}


def test_the_index_links_every_endpoint_group_and_the_docs(anonymous_client) -> None:
    response = anonymous_client.get("/api/v1/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        name: f"http://testserver{path}" for name, path in GROUPS.items()
    }


def test_every_link_of_the_index_answers(admin_api_client) -> None:
    for url in admin_api_client.get("/api/v1/").json().values():
        assert admin_api_client.get(url).status_code == 200, url


def test_the_index_is_in_the_openapi_schema(client) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    answer = schema["paths"]["/api/v1/"]["get"]["responses"]["200"]
    ref = answer["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(component["properties"]) == set(GROUPS)


def test_other_methods_on_the_index_are_a_json_405(admin_api_client) -> None:
    response = admin_api_client.post("/api/v1/", {}, format="json")
    assert response.status_code == 405
    assert set(response.json()) == {"error"}
