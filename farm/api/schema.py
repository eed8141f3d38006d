"""The API's OpenAPI schema: each operation with every answer it can give.

`FarmAutoSchema` (REST_FRAMEWORK's ``DEFAULT_SCHEMA_CLASS``) describes the
error answers of each operation from what the operation takes, so that views
need not list them one by one. Every error is JSON, ``{"error": "..."}``
(`ErrorSerializer`):

====== ============================================ ===========================
status when                                         operations
====== ============================================ ===========================
400    malformed or invalid input                   with parameters or a body
401    no credentials (outside the agent networks)  all
403    not allowed; CSRF refused (session logins)   POST, PUT, PATCH, DELETE
404    an unknown object, named in the URL or body  with parameters or a body
409    conflicts with the current state             POST, PUT, PATCH, DELETE
413    body over ``max_request_size``/upload limit  with a body
415    a body that is not JSON                      with a JSON body
503    database unavailable (``Retry-After``)       all
====== ============================================ ===========================

A view adds other errors where it answers them, e.g. ``responses={...,
405: ErrorSerializer}`` for a method refused on some URLs only.

It also states what requests may carry: string path parameters never hold a
``/`` (it would route the request elsewhere); strings may not hold NUL
characters (nor, when the field trims them, be only whitespace); bodies hold
no keys but those documented; agent-facing operations need no credentials
from the agent networks.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from farm.api.serializers.base import StrictSerializerMixin
from farm.choices import AgentState, WorkState
from farm.validators import MAX_ID_DIGITS

__all__ = [
    "ErrorSerializer",
    "FarmAutoSchema",
    "TokenScheme",
    "id_parameter",
    "integer_parameter",
]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON = "application/json"

# A string without NUL characters (DRF's CharField refuses them); the same
# with one character that is not whitespace (a field that trims whitespace
# refuses what would be left blank). Lone surrogates, which DRF refuses too,
# are left out: JSON clients do not send them, and tools cannot use ranges
# of them.
PLAIN_TEXT = "^[^\\u0000]*$"
NON_BLANK_TEXT = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
# One URL path segment: a Django ``<str:...>`` converter.
PATH_SEGMENT = "^[^/]+$"

# The names of the enums that share a field name ("state"), for
# SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].
WORK_STATES = list(WorkState.values)
AGENT_STATES = list(AgentState.values)


def integer_parameter(
    name: str, low: int, high: int, description: str = ""
) -> OpenApiParameter:
    """An integer path parameter from ``low`` to ``high``."""
    return OpenApiParameter(
        name,
        {"type": "integer", "minimum": low, "maximum": high},
        OpenApiParameter.PATH,
        description=description,
    )


def id_parameter(name: str, description: str = "") -> OpenApiParameter:
    """A path parameter that is a row's id (URLs take up to 18 digits)."""
    return integer_parameter(name, 1, 10**MAX_ID_DIGITS - 1, description=description)


class ErrorSerializer(serializers.Serializer):
    """Every error answer of the API."""

    error = serializers.CharField(read_only=True, help_text="What is wrong.")


class FarmAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, with the errors each operation can answer."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """The operation, with its error answers added to those it declares."""
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        for parameter in operation.get("parameters", ()):
            schema = parameter["schema"]
            if (
                parameter["in"] == "path"
                and schema.get("type") == "string"
                and not {"pattern", "format", "enum"} & set(schema)
            ):
                schema["pattern"] = PATH_SEGMENT
        responses = operation["responses"]
        for status, description in self._errors(operation):
            code = str(status)
            if code not in responses:
                responses[code] = self._error_response(code, description)
        return operation

    def _errors(self, operation: dict[str, Any]) -> list[tuple[int, str]]:
        """The error statuses `operation` can answer, with their meaning."""
        body = operation.get("requestBody", {}).get("content", {})
        takes_input = bool(body or operation.get("parameters"))
        writes = self.method in WRITE_METHODS
        errors = [
            (400, "Malformed or invalid input.", takes_input),
            (401, "Authentication required (outside the agent networks).", True),
            (403, "Not allowed to do this.", writes),
            (404, "Not found (an object named in the URL or the body).", takes_input),
            (409, "Conflicts with the current state.", writes),
            (413, "The request body is too large.", bool(body)),
            (415, "The request body must be JSON.", JSON in body),
            (503, "The database is unavailable; retry later.", True),
        ]
        return [(status, text) for status, text, applies in errors if applies]

    def _error_response(self, code: str, description: str) -> dict[str, Any]:
        response: dict[str, Any] = self._get_response_for_code(
            OpenApiResponse(ErrorSerializer, description=description), code
        )
        if code == "503":
            response["headers"] = {
                "Retry-After": {
                    "schema": {"type": "integer", "minimum": 0},
                    "description": "Seconds to wait before retrying.",
                }
            }
        return response

    def get_auth(self) -> list[dict[str, Any]]:
        """Agent-facing operations need no credentials from the agent networks."""
        auths: list[dict[str, Any]] = super().get_auth()
        agent_facing = any(
            getattr(permission, "agent_facing", False)
            for permission in self.view.get_permissions()
        )
        if agent_facing and {} not in auths:
            auths.append({})
        return auths

    _direction: str | None = None

    def _map_basic_serializer(
        self, serializer: serializers.Serializer, direction: str
    ) -> dict[str, Any]:
        """A serializer's component, knowing whether it describes a request."""
        outer, self._direction = self._direction, direction
        try:
            schema: dict[str, Any] = super()._map_basic_serializer(
                serializer, direction
            )
        finally:
            self._direction = outer
        if direction == "request" and isinstance(serializer, StrictSerializerMixin):
            # Unknown keys are refused (400), as the original did.
            schema["additionalProperties"] = False
        return schema

    def _insert_field_validators(
        self, field: serializers.Field, schema: dict[str, Any]
    ) -> None:
        """The field's validators, and the characters a request's string refuses."""
        super()._insert_field_validators(field, schema)
        if (
            self._direction == "request"
            and isinstance(field, serializers.CharField)
            and not field.read_only
            and schema.get("type") == "string"
            and not {"pattern", "format", "enum", "anyOf"} & set(schema)
        ):
            blank_refused = not field.allow_blank and field.trim_whitespace
            schema["pattern"] = NON_BLANK_TEXT if blank_refused else PLAIN_TEXT


class TokenScheme(OpenApiAuthenticationExtension):
    """``tokenAuth``: the ``Authorization: Token <key>`` header, either kind of key.

    The header takes a key made on the account page (`ApiTokenAuthentication`)
    or a DRF token (`TokenAuthentication`), so the schema documents one
    scheme: `ApiTokenAuthentication` stays out of the schema's
    ``AUTHENTICATION_WHITELIST``, and this extension (above drf-spectacular's
    own, by ``priority``) describes DRF's class as both.
    """

    target_class = "rest_framework.authentication.TokenAuthentication"
    name = "tokenAuth"
    priority = 1

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        """An API key in the Authorization header, after the word ``Token``."""
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                'Token-based authentication with required prefix "Token": '
                "`Authorization: Token <key>`, with a key created on the account "
                "page (`/account/`, shown once) or a token an admin gave."
            ),
        }
