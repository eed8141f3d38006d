"""Shared view behaviour: lookups, agent reads, column maps and raw answers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.db import connection
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from farm.api.permissions import AgentPermission
from farm.validators import parse_id

if TYPE_CHECKING:
    from rest_framework.permissions import _SupportsHasPermission

PYTHON_SOURCE = "text/x-python"


def get_by_name_or_id(
    queryset: QuerySet[Any], value: str, *, name_field: str, label: str
) -> Model:
    """The object whose id is ``value`` (when it is a number) or whose name is.

    The original's URLs take either (``/jobs/12`` or ``/jobs/shot%20010``); a
    number is tried as an id first, then as a name.
    """
    obj = None
    pk = parse_id(value)
    if pk is not None:
        obj = queryset.filter(pk=pk).first()
    if obj is None:
        obj = queryset.filter(**{name_field: value}).first()
    if obj is None:
        raise NotFound(f"{label} {value!r} not found")
    return obj


def refuse_number_as_new_name(value: str, *, label: str, create: str) -> None:
    """404 for a number in a PUT URL that is no existing row's id.

    PUT creates a row under the name in its URL, but a name made of digits
    would be taken for an id, and ids cannot be reserved. ``create`` says
    what to do instead ("create new software"). Any run of ASCII digits is
    refused, even one too long for `parse_id`, as the API always did.
    """
    if value.isascii() and value.isdigit():
        raise NotFound(
            f"{label} {value} not found; ids cannot be reserved, "
            f"{create} under its name"
        )


def parse_int(value: str, label: str) -> int:
    """A path segment that must be a non-negative integer (`parse_id`), else 400."""
    number = parse_id(value)
    if number is None:
        raise ValidationError(f"{label} must be an integer, not {value!r}")
    return number


def carries_credentials(request: HttpRequest | Request) -> bool:
    """Whether the request presents credentials: a token header, a session cookie."""
    return (
        "HTTP_AUTHORIZATION" in request.META
        or settings.SESSION_COOKIE_NAME in request.COOKIES
    )


class DeferredAuthenticationMixin(APIView):
    """Agent-facing requests without credentials are authenticated on demand.

    DRF authenticates every request before checking its permissions. Without
    credentials nothing can fail, and the agent-facing permissions
    (``agent_facing``) let the agent networks (and everything with
    ``login_disabled``) through without a user; so such requests look their
    user up only when something reads ``request.user``. The agents' requests
    then cost no user query (with ``login_disabled``: no superuser lookup).
    """

    def perform_authentication(self, request: Request) -> None:
        """Authenticate now, unless agent-facing and without credentials."""
        if not carries_credentials(request) and all(
            getattr(permission, "agent_facing", False)
            for permission in self.get_permissions()
        ):
            return
        super().perform_authentication(request)


class AgentReadMixin(DeferredAuthenticationMixin):
    """Reading is open to agents (`AgentPermission`); changes keep the default."""

    agent_methods = ("GET", "HEAD", "OPTIONS")

    def get_permissions(self) -> Sequence[_SupportsHasPermission]:
        """AgentPermission for reads, the view's permission classes otherwise."""
        if self.request.method in self.agent_methods:
            return [AgentPermission()]
        return super().get_permissions()


class AnyAcceptNegotiation(DefaultContentNegotiation):
    """Always the first renderer (JSON), whatever ``Accept`` says.

    Some endpoints answer a file themselves (Python source, log files) and
    their clients ask for its type (``text/x-python``, ``text/csv``); their
    errors, and any other answer, must still be JSON, never a 406.
    """

    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        """The JSON renderer."""
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


def work_id_type() -> str:
    """The SQL type of a work id column as the original named it on this database.

    The original's ``IDTypeWork`` (the ids of jobs, job groups and the like)
    was ``INTEGER`` on SQLite and ``BIGINT`` on every other database.
    """
    return "INTEGER" if connection.vendor == "sqlite" else "BIGINT"


class ColumnTypesView(APIView):
    """``GET <area>/schema``: the documented column name -> SQL type map.

    Subclasses set `columns` to the map their area's documentation gives.
    """

    columns: ClassVar[dict[str, str]] = {}
    #: Columns of the original's work id type (`work_id_type`): their SQL type
    #: depends on the database in use.
    work_id_columns: ClassVar[tuple[str, ...]] = ()

    @extend_schema(responses={200: dict[str, str]})
    def get(self, request: Request) -> Response:
        """The column -> SQL type map."""
        id_type = work_id_type()
        return Response(
            {
                name: id_type if name in self.work_id_columns else sql_type
                for name, sql_type in self.columns.items()
            }
        )


def python_source(code: str) -> HttpResponse:
    """Python source with ``Content-Type: text/x-python``, as the original sent."""
    return HttpResponse(code, content_type=PYTHON_SOURCE)
