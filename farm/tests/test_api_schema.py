"""The OpenAPI schema (``/api/v1/openapi.json``) tells the truth.

It is generated without warnings and validates; every operation documents
its success shape and the errors it can answer; answers with empty optional
columns match it; request constraints (ranges, lengths, enums) are in it.
Schemathesis checks all of it against a running master (`make fuzz`).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from farm.tests.factories import (
    JobFactory,
    JobTypeVersionFactory,
    PathMapFactory,
    SoftwareVersionFactory,
    TaskFactory,
)

OPENAPI = "/api/v1/openapi.json"
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def schema(client: Any, db: None) -> dict[str, Any]:
    """The schema as the API serves it."""
    response = client.get(OPENAPI)
    assert response.status_code == 200
    return response.json()


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _operation(schema: dict[str, Any], operation_id: str) -> dict[str, Any]:
    for _, _, operation in _operations(schema):
        if operation["operationId"] == operation_id:
            return operation
    raise AssertionError(f"no operation {operation_id}")


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable`` as JSON Schema (``null`` one more choice)."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _nullable_to_json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def _check_answer(
    schema: dict[str, Any], operation_id: str, status: int, body: Any
) -> None:
    """Validate ``body`` against the documented answer ``status`` of an operation."""
    operation = _operation(schema, operation_id)
    media = operation["responses"][str(status)]["content"]["application/json"]
    root = _nullable_to_json_schema(copy.deepcopy(schema))
    validator = jsonschema.Draft7Validator(
        {**_nullable_to_json_schema(media["schema"]), "components": root["components"]}
    )
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, "\n".join(
        f"{list(error.absolute_path)}: {error.message}" for error in errors[:5]
    )


# --- generation ---------------------------------------------------------------


def test_generating_the_schema_emits_no_warnings(tmp_path) -> None:
    # --fail-on-warn turns every drf-spectacular warning into an error.
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--file",
        str(tmp_path / "openapi.yaml"),
    )


def test_the_generated_schema_is_valid_openapi() -> None:
    validate_schema(SchemaGenerator().get_schema(request=None, public=True))


# --- success shapes -------------------------------------------------------------


@pytest.mark.parametrize(
    "operation_id",
    [
        "jobtypes_list",
        "software_list",
        "pathmaps_list",
        "software_versions_list",
        "jobtypes_software_requirements_list",
        "jobtypes_versions_software_requirements_list",
    ],
)
def test_lists_are_documented_as_arrays(schema, operation_id) -> None:
    answer = _operation(schema, operation_id)["responses"]["200"]
    assert answer["content"]["application/json"]["schema"]["type"] == "array"


def test_a_job_with_empty_optional_columns_matches_its_schema(
    schema, admin_client
) -> None:
    job = JobFactory.create(group=None, queue=None, user=None, data=None)
    response = admin_client.get(f"/api/v1/jobs/{job.pk}")
    assert response.status_code == 200
    _check_answer(schema, "jobs_retrieve", 200, response.json())


def test_an_unassigned_task_matches_its_schema(schema, admin_client) -> None:
    task = TaskFactory.create(agent=None, tile=None, last_error=None)
    response = admin_client.get(f"/api/v1/jobs/{task.job_id}/tasks/{task.pk}")
    assert response.status_code == 200
    _check_answer(schema, "jobs_tasks_retrieve", 200, response.json())
    listed = admin_client.get(f"/api/v1/jobs/{task.job_id}/tasks/")
    _check_answer(schema, "jobs_tasks_list", 200, listed.json())


def test_a_job_type_without_texts_matches_its_schema(schema, admin_client) -> None:
    version = JobTypeVersionFactory.create(
        jobtype__description=None, jobtype__success_subject=""
    )
    response = admin_client.get(f"/api/v1/jobtypes/{version.jobtype.name}")
    assert response.status_code == 200
    _check_answer(schema, "jobtypes_retrieve", 200, response.json())


def test_lists_of_software_and_path_maps_match_their_schema(
    schema, admin_client
) -> None:
    version = SoftwareVersionFactory.create()
    PathMapFactory.create(tag=None)
    for path, operation_id in (
        ("/api/v1/software/", "software_list"),
        (f"/api/v1/software/{version.software_id}/versions/", "software_versions_list"),
        ("/api/v1/pathmaps/", "pathmaps_list"),
        ("/api/v1/jobtypes/", "jobtypes_list"),
    ):
        response = admin_client.get(path)
        assert response.status_code == 200
        _check_answer(schema, operation_id, 200, response.json())


def test_adding_software_to_an_agent_is_documented_as_200(schema) -> None:
    responses = _operation(schema, "agents_software_create")["responses"]
    assert "200" in responses
    assert "201" not in responses


# --- errors ---------------------------------------------------------------------


def test_every_operation_documents_authentication_and_outages(schema) -> None:
    for method, path, operation in _operations(schema):
        assert {"401", "503"} <= set(operation["responses"]), (method, path)


def test_every_error_answer_is_the_error_object(schema) -> None:
    for method, path, operation in _operations(schema):
        for status, answer in operation["responses"].items():
            if status >= "400":
                body = answer["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}, (
                    method,
                    path,
                    status,
                )
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]


def test_operations_with_a_json_body_document_its_refusals(schema) -> None:
    for method, path, operation in _operations(schema):
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            assert {"400", "413", "415"} <= set(operation["responses"]), (method, path)


def test_changes_document_refusals_and_conflicts(schema) -> None:
    for method, path, operation in _operations(schema):
        if method in ("POST", "PUT", "DELETE"):
            assert {"403", "409"} <= set(operation["responses"]), (method, path)


def test_operations_with_parameters_document_400_and_404(schema) -> None:
    for method, path, operation in _operations(schema):
        if operation.get("parameters"):
            assert {"400", "404"} <= set(operation["responses"]), (method, path)


def test_outages_document_retry_after(schema) -> None:
    answer = _operation(schema, "jobs_list")["responses"]["503"]
    assert "Retry-After" in answer["headers"]


def test_agent_facing_operations_need_no_credentials(schema) -> None:
    assert {} in _operation(schema, "agents_register")["security"]
    assert {} not in _operation(schema, "jobs_create")["security"]


def _path_operation(schema: dict[str, Any], method: str, suffix: str) -> dict[str, Any]:
    for found_method, path, operation in _operations(schema):
        if found_method == method and path.endswith(suffix):
            return operation
    raise AssertionError(f"no operation {method} ...{suffix}")


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("POST", "/jobs/{job}/tasks/{task_id}"),
        ("POST", "/jobs/{job}/tasks/{task_id}/failed_on_agents/"),
    ],
)
def test_task_reports_need_no_credentials(schema, method: str, suffix: str) -> None:
    assert {} in _path_operation(schema, method, suffix)["security"]


@pytest.mark.parametrize(
    "operation_id",
    ["tasklogs_register", "tasklog_set_state", "tasklog_file_upload"],
)
def test_task_log_reports_need_no_credentials(schema, operation_id: str) -> None:
    assert {} in _operation(schema, operation_id)["security"]


# --- request constraints ------------------------------------------------------


def _integer_schemas(node: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """Every integer schema under ``node`` (request bodies and parameters)."""
    found = []
    if isinstance(node, dict):
        if node.get("type") == "integer":
            found.append((where, node))
        for key, value in node.items():
            found += _integer_schemas(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _integer_schemas(value, f"{where}[{index}]")
    return found


def test_every_integer_a_request_may_carry_has_bounds(schema) -> None:
    requests = {
        name: component
        for name, component in schema["components"]["schemas"].items()
        if name.endswith("Request")
    }
    parameters = {
        f"{method} {path}": operation.get("parameters", [])
        for method, path, operation in _operations(schema)
    }
    integers = _integer_schemas(requests, "components") + _integer_schemas(
        parameters, "parameters"
    )
    assert integers
    unbounded = [
        where
        for where, node in integers
        if "minimum" not in node or "maximum" not in node
    ]
    assert not unbounded


def test_string_lengths_follow_the_configuration(client, db, farm_config) -> None:
    farm_config(max_tag_length=12)
    schema = client.get(OPENAPI).json()
    assert (
        schema["components"]["schemas"]["TagRequest"]["properties"]["tag"]["maxLength"]
        == 12
    )


def test_integer_ranges_follow_the_configuration(client, db, farm_config) -> None:
    farm_config(agent_min_port=2000, agent_max_port=3000)
    schema = client.get(OPENAPI).json()
    port = schema["components"]["schemas"]["AgentRegistrationReportRequest"][
        "properties"
    ]["port"]
    assert (port["minimum"], port["maximum"]) == (2000, 3000)


def test_request_bodies_refuse_unknown_keys(schema) -> None:
    component = schema["components"]["schemas"]["JobSubmissionRequest"]
    assert component["additionalProperties"] is False


def test_a_task_state_lists_only_the_states_a_task_may_be_given(schema) -> None:
    component = schema["components"]["schemas"]["TaskReportStateEnum"]
    assert component["enum"] == ["queued", "running", "done", "failed"]


def test_string_path_parameters_are_one_path_segment(schema) -> None:
    operation = _operation(schema, "jobs_retrieve")
    (job,) = [p for p in operation["parameters"] if p["name"] == "job"]
    assert job["schema"]["pattern"] == "^[^/]+$"
