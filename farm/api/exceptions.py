"""Every error of the API as ``{"error": "..."}``, never an HTML page."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from farm.services.errors import ConflictError
from pyfarm_site.outages import database_unavailable_api, is_database_outage

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    """409: the request conflicts with the current state (duplicates, in use)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "conflict"
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    """413: the request body is over the configured limit."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "request body too large"
    default_code = "too_large"


def error_message(detail: Any) -> str:
    """Flatten DRF's error details into one readable sentence."""
    if isinstance(detail, dict):
        parts = []
        for field, value in detail.items():
            message = error_message(value)
            parts.append(
                message
                if field in ("non_field_errors", "__all__")
                else f"{field}: {message}"
            )
        return "; ".join(parts)
    if isinstance(detail, list | tuple):
        return "; ".join(error_message(item) for item in detail)
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's handler with the original's body shape, Django errors, and no 500 pages.

    A service's `ConflictError` is a 409, so views need not catch it. A
    database outage is a 503 with ``Retry-After`` (`pyfarm_site.outages`).
    """
    if is_database_outage(exc):
        return database_unavailable_api(exc)
    if isinstance(exc, ConflictError):
        exc = Conflict(str(exc))
    elif isinstance(exc, DjangoValidationError):
        messages = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        exc = exceptions.ValidationError(messages)
    elif isinstance(exc, ObjectDoesNotExist):
        exc = exceptions.NotFound(str(exc) or "not found")
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled error in the API", exc_info=exc)
        return Response(
            {"error": "internal server error"},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    detail = getattr(exc, "detail", None)
    if isinstance(exc, Http404):
        message = str(exc) or "not found"
    elif isinstance(exc, PermissionDenied):
        message = str(exc) or "permission denied"
    else:
        message = error_message(detail if detail is not None else response.data)
    response.data = {"error": message}
    return response


def json_not_found(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    """404 for an unknown URL under the API."""
    return JsonResponse({"error": f"no such URL: {request.path}"}, status=404)


def json_bad_request(request: HttpRequest, exception: Exception) -> JsonResponse:
    """400 under the API for what Django refuses before any view (a bad Host
    header, too many query parameters): JSON, not Django's HTML page."""
    return JsonResponse({"error": str(exception) or "bad request"}, status=400)


def json_permission_denied(request: HttpRequest, exception: Exception) -> JsonResponse:
    """403 under the API for a PermissionDenied raised outside DRF's views."""
    return JsonResponse({"error": str(exception) or "permission denied"}, status=403)


def json_server_error(request: HttpRequest) -> JsonResponse:
    """500 under the API: a JSON body, the details stay in the log."""
    return JsonResponse({"error": "internal server error"}, status=500)


def json_csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    """403 for a refused CSRF check under the API (Django answers HTML)."""
    return JsonResponse(
        {"error": f"CSRF verification failed: {reason or 'refused'}"}, status=403
    )
