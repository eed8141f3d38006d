"""Inputs that fuzzing turned into 500s or HTML: each is a JSON 4xx now.

NUL characters in JSON strings and in URLs (PostgreSQL stores neither),
deeply nested JSON (on every JSON endpoint, agent registration included),
OPTIONS on name-addressed resources, and the answers under ``/api/`` to
unknown URLs, CSRF failures and newlines in paths (never Django's HTML CSRF
page or its debug page listing every URL).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from farm.api.parsers import (
    MAX_JSON_DEPTH,
    FarmJSONParser,
    RawBodyParser,
    json_value_error,
)
from farm.models import Agent, Job, Tag
from farm.tests.factories import (
    AgentFactory,
    JobTypeVersionFactory,
    SoftwareFactory,
    TagFactory,
    TaskFactory,
    TaskLogFactory,
    TaskTaskLogAssociationFactory,
)

pytestmark = pytest.mark.django_db

API = "/api/v1"
AGENT_ID = "57b72fba-d506-4057-90b4-5e4aa4843915"
# The Django debug 404 page lists the URL patterns under this sentence.
DEBUG_LISTING = b"Using the URLconf defined in"


def _error(response: Any, status: int) -> str:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    return str(body["error"])


def _nested(depth: int) -> Any:
    """``depth`` arrays, one inside the other."""
    return json.loads("[" * depth + "]" * depth)


# --- NUL characters ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/jobs/%00",
        "/jobs/%00/tasks/",
        "/jobs/1/notified_users/",
        "/tags/%00",
        "/tags/%00/agents/",
        "/software/%00",
        "/software/blender/versions/%00",
        "/jobtypes/%00",
        "/jobtypes/%00/versions/1",
        "/jobqueues/%00",
        "/jobgroups/%00",
        "/pathmaps/%00",
        f"/agents/{AGENT_ID}/software/%00/versions/1",
    ],
)
def test_nul_in_url_names_is_a_json_400(admin_api_client, url) -> None:
    url = url if "%00" in url else url + "%00"
    for method in ("get", "delete"):
        response = getattr(admin_api_client, method)(API + url)
        assert "NUL" in _error(response, 400)


def test_nul_in_url_names_changes_nothing(admin_api_client) -> None:
    admin_api_client.put(f"{API}/software/a%00b", {}, format="json")
    admin_api_client.post(f"{API}/jobqueues/", {"name": "q"}, format="json")
    assert not Tag.objects.exists()


@pytest.mark.parametrize(
    "query",
    ["?hostname=%00", "?%00=1", "?state=running&title=a%00"],
)
def test_nul_in_query_parameters_is_a_json_400(api_client, query) -> None:
    for url in ("/agents/", "/jobs/"):
        assert "NUL" in _error(api_client.get(API + url + query), 400)


def test_nul_in_headers_is_a_json_400(anonymous_client) -> None:
    response = anonymous_client.get(f"{API}/jobs/", HTTP_AUTHORIZATION="Token \x00")
    assert "NUL" in _error(response, 400)


@pytest.mark.parametrize(
    "data",
    [
        {"a": "\x00"},
        {"\x00": "a"},
        {"a": ["b", {"c": "d\x00"}]},
    ],
    ids=["value", "key", "nested"],
)
def test_nul_in_json_job_data_is_a_json_400(admin_api_client, data) -> None:
    version = JobTypeVersionFactory.create()
    body = {
        "jobtype": version.jobtype.name,
        "title": "t",
        "start": 1,
        "end": 1,
        "data": data,
    }
    response = admin_api_client.post(f"{API}/jobs/", body, format="json")
    assert "NUL" in _error(response, 400)
    assert not Job.objects.exists()


def test_nul_in_an_agent_registration_is_a_json_400(agent_client) -> None:
    body = {
        "id": AGENT_ID,
        "hostname": "render",
        "port": 50000,
        "cpus": 1,
        "ram": 1024,
        "free_ram": 512,
        "current_assignments": {"x\x00": {}},
    }
    assert "NUL" in _error(agent_client.post(f"{API}/agents/", body), 400)
    assert not Agent.objects.exists()


def test_unpaired_surrogates_in_json_are_a_json_400(admin_api_client) -> None:
    body = '{"tag": "a\\ud800b"}'
    response = admin_api_client.post(
        f"{API}/tags/", body, content_type="application/json"
    )
    assert "surrogate" in _error(response, 400)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", None),
        ("ünïcode ✓ 🎬", None),
        ("a\x00", "NUL"),
        ("\ud83c", "surrogates"),
        ({"k": ["v", {"x\x00": 1}]}, "NUL"),
        (_nested(MAX_JSON_DEPTH), None),
        (_nested(MAX_JSON_DEPTH + 1), "nested"),
        ({"a": _nested(MAX_JSON_DEPTH - 1)}, None),
        ({"a": _nested(MAX_JSON_DEPTH)}, "nested"),
    ],
)
def test_json_values_are_checked_without_recursion(value, expected) -> None:
    error = json_value_error(value)
    assert (error is None) if expected is None else (expected in (error or ""))


# --- deeply nested JSON -------------------------------------------------------------


def _deep_body(depth: int) -> str:
    return '{"id": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_deep_json_on_agent_registration_is_a_json_400(agent_client, depth) -> None:
    response = agent_client.post(
        f"{API}/agents/", _deep_body(depth), content_type="application/json"
    )
    assert "nested" in _error(response, 400)


@pytest.fixture
def targets(admin_user) -> dict[str, str]:
    """A row of each kind a JSON endpoint changes."""
    task = TaskFactory.create(job__user=admin_user)
    agent = AgentFactory.create(id=AGENT_ID)
    TaskTaskLogAssociationFactory.create(
        task=task, log=TaskLogFactory.create(identifier="x.csv", agent=agent)
    )
    TagFactory.create(tag="render")
    SoftwareFactory.create(software="blender")
    JobTypeVersionFactory.create(jobtype__name="Echo")
    return {
        "job": str(task.job_id),
        "task": f"{task.job_id}/tasks/{task.pk}",
        "agent": str(agent.pk),
    }


JSON_ENDPOINTS = [
    ("post", "/agents/"),
    ("post", "/agents/{agent}"),
    ("post", "/agents/{agent}/software/"),
    ("post", "/agents/{agent}/tasks/"),
    ("post", "/jobs/"),
    ("post", "/jobs/{job}"),
    ("put", "/jobs/{job}"),
    ("post", "/jobs/{task}"),
    ("post", "/jobs/{task}/failed_on_agents/"),
    ("post", "/jobs/{task}/attempts/1/logs/"),
    ("post", "/jobs/{task}/attempts/1/logs/x.csv"),
    ("post", "/jobs/{job}/notified_users/"),
    ("post", "/tags/"),
    ("put", "/tags/render"),
    ("post", "/tags/render/agents/"),
    ("post", "/software/"),
    ("put", "/software/blender"),
    ("post", "/software/blender/versions/"),
    ("post", "/jobtypes/"),
    ("put", "/jobtypes/Echo"),
    ("post", "/jobqueues/"),
    ("post", "/jobgroups/"),
    ("post", "/pathmaps/"),
]


@pytest.mark.parametrize(("method", "url"), JSON_ENDPOINTS)
def test_deep_json_is_a_json_400_on_every_json_endpoint(
    admin_api_client, targets, method, url
) -> None:
    response = getattr(admin_api_client, method)(
        API + url.format(**targets),
        _deep_body(50_000),
        content_type="application/json",
    )
    assert "nested" in _error(response, 400)


def _views(patterns: list[Any]) -> list[Any]:
    views = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            views += _views(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            views.append(getattr(pattern.callback, "cls", None))
    return [view for view in views if view is not None]


def test_every_api_view_parses_json_with_the_checked_parser() -> None:
    resolver = get_resolver("farm.api.urls")
    views = _views(resolver.url_patterns)
    assert len(views) > 40
    for view in views:
        for parser in view.parser_classes:
            assert issubclass(parser, FarmJSONParser | RawBodyParser), (view, parser)


# --- OPTIONS ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/tags/render",
        "/tags/unknown",
        "/jobtypes/Echo",
        "/jobtypes/unknown",
        "/software/blender",
        "/software/unknown",
        "/agents/{agent}",
        "/jobs/{job}",
        "/jobs/{task}",
        "/jobqueues/unknown",
        "/pathmaps/1",
    ],
)
def test_options_describes_the_endpoint_without_looking_anything_up(
    admin_api_client, targets, url, django_assert_num_queries
) -> None:
    with django_assert_num_queries(0):
        response = admin_api_client.options(API + url.format(**targets))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"name", "description", "renders", "parses"}
    assert "GET" in response["Allow"]


# --- JSON everywhere under /api/ --------------------------------------------------


@pytest.fixture
def browser(user) -> Client:
    """A logged-in browser session whose CSRF checks are enforced."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_changes_to_unknown_urls_answer_json_404(browser, method) -> None:
    response = getattr(browser, method)(f"{API}/no/such/thing")
    assert "/api/v1/no/such/thing" in _error(response, 404)


@pytest.mark.urls("farm.tests.api_test_urls")
def test_csrf_failures_under_the_api_answer_json(browser) -> None:
    response = browser.post(f"{API}/plain")
    assert "CSRF" in _error(response, 403)


def test_csrf_failures_elsewhere_keep_djangos_page(browser) -> None:
    response = browser.post("/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "path",
    ["/%0A", "/jobs/%0A/tasks/", "/x%0Ay", "/agents/%0D%0A", "/%09"],
)
def test_newlines_in_api_paths_answer_json_404_even_with_debug(
    api_client, settings, path
) -> None:
    settings.DEBUG = True
    response = api_client.get(API + path)
    assert response.status_code in (400, 404)
    assert DEBUG_LISTING not in response.content
    _error(response, response.status_code)


@pytest.mark.parametrize("path", ["/admin/%0Ax", "/x%0A", "/login/%00"])
def test_control_characters_in_site_paths_answer_a_plain_404_even_with_debug(
    client, settings, path
) -> None:
    settings.DEBUG = True
    response = client.get(path)
    assert response.status_code == 404
    assert DEBUG_LISTING not in response.content


def test_too_many_query_parameters_answer_json_400(api_client) -> None:
    query = "&".join(f"p{index}=1" for index in range(1200))
    response = api_client.get(f"{API}/jobs/?{query}")
    assert "parameters" in _error(response, 400)


def test_an_invalid_host_header_answers_json_400(api_client) -> None:
    response = api_client.get(f"{API}/jobs/", HTTP_HOST="bad host!")
    assert "HTTP_HOST" in _error(response, 400)


def test_bad_requests_elsewhere_keep_djangos_page(client) -> None:
    response = client.get("/login/", HTTP_HOST="bad host!")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.urls("farm.tests.api_test_urls")
def test_permission_denied_outside_drf_answers_json_403(client) -> None:
    assert _error(client.get(f"{API}/forbidden"), 403) == "nobody may"
