"""The API framework: JSON everywhere, content types, access, legacy fields."""

from __future__ import annotations

import json

import pytest
from rest_framework import serializers
from rest_framework.exceptions import NotFound

from farm.api.fields import (
    INTEGER_RANGE,
    LegacyChoiceField,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    StrictUUIDField,
)
from farm.api.permissions import is_agent_address
from farm.api.views.base import parse_int, refuse_number_as_new_name
from farm.choices import AgentState, WorkState

pytestmark = [pytest.mark.django_db, pytest.mark.urls("farm.tests.api_test_urls")]

ECHO = "/api/v1/echo"
AGENT_ECHO = "/api/v1/agent-echo"


def _error(response) -> str:
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    return body["error"]


def test_json_has_no_charset(api_client) -> None:
    response = api_client.get(ECHO, HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"answer": 42, "text": "ünïcode"}


def test_json_is_the_default_without_an_accept_header(api_client) -> None:
    response = api_client.get(ECHO)
    assert response["Content-Type"] == "application/json"


def test_pretty_json_indents(api_client, farm_config) -> None:
    farm_config(pretty_json=True)
    response = api_client.get(ECHO, HTTP_ACCEPT="application/json")
    assert response.content.startswith(b'{\n    "answer": 42')


def test_get_with_a_json_content_type_and_no_body_is_accepted(agent_client) -> None:
    response = agent_client.get(AGENT_ECHO, CONTENT_TYPE="application/json")
    assert response.status_code == 200


def test_unknown_urls_answer_json_404(api_client, agent_client) -> None:
    for client in (api_client, agent_client):
        response = client.get("/api/v1/no/such/thing")
        assert response.status_code == 404
        assert "/api/v1/no/such/thing" in _error(response)


def test_unknown_methods_answer_json_405(admin_api_client) -> None:
    response = admin_api_client.delete(ECHO)
    assert response.status_code == 405
    assert "DELETE" in _error(response)


def test_unsupported_media_types_answer_json_415(admin_api_client) -> None:
    response = admin_api_client.post(ECHO, "count=1", content_type="text/plain")
    assert response.status_code == 415
    assert "text/plain" in _error(response)


def test_malformed_json_answers_400(admin_api_client) -> None:
    response = admin_api_client.post(ECHO, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in _error(response)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"count": -1}, "count"),
        ({"count": "x"}, "count"),
        ({}, "count"),
        ({"count": 1, "extra": 2}, "extra"),
        ([1, 2], "object"),
    ],
)
def test_invalid_bodies_answer_400_naming_the_problem(
    admin_api_client, body, message
) -> None:
    response = admin_api_client.post(ECHO, body, format="json")
    assert response.status_code == 400
    assert message in _error(response)


def test_oversized_bodies_answer_413(admin_api_client, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = admin_api_client.post(
        ECHO, {"count": 1, "pad": "x" * 200}, format="json"
    )
    assert response.status_code == 413
    assert "100 bytes" in _error(response)


def test_unexpected_errors_answer_json_500(api_client) -> None:
    response = api_client.get("/api/v1/broken")
    assert response.status_code == 500
    assert _error(response) == "internal server error"


def test_service_conflicts_answer_json_409(api_client) -> None:
    response = api_client.get("/api/v1/conflicting")
    assert response.status_code == 409
    assert _error(response) == "tag 'x' already exists"


def test_anonymous_requests_from_outside_answer_401(anonymous_client) -> None:
    response = anonymous_client.get(ECHO)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert _error(response)


def test_agent_networks_reach_agent_endpoints_only(agent_client) -> None:
    assert agent_client.get(AGENT_ECHO).status_code == 200
    assert agent_client.get(ECHO).status_code == 401


def test_agents_outside_the_networks_are_refused(anonymous_client) -> None:
    response = anonymous_client.get(AGENT_ECHO)
    assert response.status_code == 401


def test_ordinary_users_cannot_change_admin_resources(
    api_client, admin_api_client
) -> None:
    response = api_client.post(ECHO, {"count": 1}, format="json")
    assert response.status_code == 403
    assert "admin" in _error(response)
    assert admin_api_client.post(ECHO, {"count": 1}, format="json").status_code == 201


def test_token_authentication(anonymous_client, user) -> None:
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=user)
    response = anonymous_client.get(ECHO, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200


def test_login_disabled_opens_everything(anonymous_client, farm_config) -> None:
    farm_config(login_disabled=True)
    assert anonymous_client.get(ECHO).status_code == 200
    assert anonymous_client.post(ECHO, {"count": 1}, format="json").status_code == 201


def test_login_disabled_acts_as_the_first_admin(
    anonymous_client, admin_user, farm_config
) -> None:
    farm_config(login_disabled=True)
    response = anonymous_client.post(ECHO, {"count": 3}, format="json")
    assert response.status_code == 201
    assert response.wsgi_request.user == admin_user


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.1.2.3", True),
        ("192.168.0.9", True),
        ("172.20.0.1", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("8.8.8.8", False),
        ("172.32.0.1", False),
        ("not an address", False),
        (None, False),
    ],
)
def test_agent_addresses(address, expected) -> None:
    assert is_agent_address(address) is expected


def test_agent_networks_follow_the_configuration(farm_config) -> None:
    farm_config(agent_networks=["203.0.113.0/24"])
    assert is_agent_address("203.0.113.9")
    assert not is_agent_address("10.1.2.3")


def test_openapi_schema_and_docs(anonymous_client) -> None:
    response = anonymous_client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["info"]["title"] == "PyFarm master API"
    assert anonymous_client.get("/api/v1/openapi.yaml").status_code == 200
    docs = anonymous_client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_the_openapi_schema_describes_each_path_once(anonymous_client) -> None:
    schema = json.loads(anonymous_client.get("/api/v1/openapi.json").content)
    spellings = [path.rstrip("/") for path in schema["paths"]]
    assert len(spellings) == len(set(spellings))
    operation_ids = [
        operation["operationId"]
        for item in schema["paths"].values()
        for operation in item.values()
    ]
    assert len(operation_ids) == len(set(operation_ids))


@pytest.mark.parametrize("url", ["/api/v1/jobs/", "/api/v1/jobs"])
def test_both_trailing_slash_spellings_answer(api_client, url) -> None:
    assert api_client.get(url).status_code == 200


def test_the_browsable_api_works_for_logged_in_users(client, admin_user) -> None:
    client.force_login(admin_user)
    response = client.get(ECHO, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"<html" in response.content


# --- fields -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("running", "running"),
        ("RUNNING", "running"),
        (105, "running"),
        (None, "queued"),
    ],
)
def test_legacy_choice_field_accepts_names_and_codes(value, expected) -> None:
    assert LegacyChoiceField(WorkState).to_internal_value(value) == expected


def test_legacy_choice_field_refuses_unknown_values() -> None:
    with pytest.raises(serializers.ValidationError, match="online"):
        LegacyChoiceField(AgentState).to_internal_value("asleep")


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        (StrictIntegerField(bounds=INTEGER_RANGE), [3, 2.0], ["3", True, 2.5, None]),
        (StrictCharField(), ["x"], [3, True, None]),
        (StrictBooleanField(), [True, False], ["true", 1, None]),
    ],
)
def test_strict_fields_check_json_types(field, good, bad) -> None:
    for value in good:
        field.to_internal_value(value)
    for value in bad:
        with pytest.raises(serializers.ValidationError):
            field.to_internal_value(value)


UUID = "0b4c6f5e-8f0e-4d6c-9a57-1d2f3e4a5b6c"


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        (StrictFloatField(), [0.5, 3], ["0.5", True, None]),
        (StrictUUIDField(), [UUID, UUID.upper()], [1, True, None, "not-a-uuid"]),
    ],
)
def test_strict_float_and_uuid_fields_check_json_types(field, good, bad) -> None:
    for value in good:
        field.to_internal_value(value)
    for value in bad:
        with pytest.raises(serializers.ValidationError):
            field.to_internal_value(value)


def test_parse_int_reads_a_path_segment() -> None:
    assert parse_int("12", "version") == 12


@pytest.mark.parametrize("value", ["x", "²", "-1", "1" * 19])
def test_parse_int_answers_400_naming_the_segment(value: str) -> None:
    with pytest.raises(serializers.ValidationError, match="version must be an integer"):
        parse_int(value, "version")


@pytest.mark.parametrize("value", ["42", "1" * 19])
def test_a_number_cannot_become_a_new_name(value: str) -> None:
    with pytest.raises(NotFound, match="ids cannot be reserved, create it under"):
        refuse_number_as_new_name(value, label="thing", create="create it")


@pytest.mark.parametrize("value", ["render", "v2", "²"])
def test_names_that_are_no_numbers_may_be_created(value: str) -> None:
    refuse_number_as_new_name(value, label="thing", create="create it")
