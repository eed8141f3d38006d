"""Views of the agents API: registration, reports, software, tasks and updates.

The endpoints the real agent calls (agent-protocol.md §1.2: R1-R3, R15-R17)
use `AgentPermission`, since the agent sends no credentials: the agent
networks, and from elsewhere users read and farm admins change. The others
keep the default: users read, farm admins change.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Sequence
from typing import IO, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse, HttpResponsePermanentRedirect
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import status, viewsets
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from farm.api.client_address import client_address
from farm.api.exceptions import Conflict, PayloadTooLarge
from farm.api.fields import StrictUUIDField
from farm.api.parsers import RawBodyParser
from farm.api.permissions import AgentPermission
from farm.api.serializers.agents import (
    AgentListSerializer,
    AgentRegistrationReportSerializer,
    AgentReportSerializer,
    AgentSerializer,
    AgentSoftwareSerializer,
    AgentSoftwareVersionSerializer,
    AgentTaskSerializer,
    AssignedTaskSerializer,
    TaskAssignmentSerializer,
)
from farm.api.streaming import (
    PAGINATION_PARAMETERS,
    PAGINATION_RESPONSE_HEADERS,
    bad_pagination_response,
    list_response,
)
from farm.api.views.base import DeferredAuthenticationMixin
from farm.filtersets import AgentFilterSet
from farm.models import Agent, Task
from farm.services.agents import (
    UPDATE_VERSION_PATTERN,
    add_agent_software,
    agent_update_filename,
    agent_update_path,
    assign_task_to_agent,
    delete_agent,
    register_agent,
    remove_agent_software,
    report_agent,
    store_agent_update,
)
from pyfarm_site.conf import farm_config

# The column -> SQL type map of ``GET /agents/schema``: every column of the
# original's Agent model, its enumerated columns typed by their enum type's
# name, as the original's ``to_schema`` wrote them.
AGENT_SCHEMA = {
    "ram": "INTEGER",
    "free_ram": "INTEGER",
    "time_offset": "INTEGER",
    "use_address": "UseAgentAddressEnum",
    "hostname": "VARCHAR(255)",
    "cpus": "INTEGER",
    "port": "INTEGER",
    "state": "AgentStateEnum",
    "ram_allocation": "FLOAT",
    "cpu_allocation": "FLOAT",
    "id": "UUIDType",
    "remote_ip": "IPv4Address",
    "os_class": "OperatingSystemEnum",
    "os_fullname": "VARCHAR(128)",
    "cpu_name": "VARCHAR(128)",
    "version": "VARCHAR(16)",
    "upgrade_to": "VARCHAR(16)",
    "restart_requested": "BOOLEAN",
    "last_heard_from": "DATETIME",
    "last_polled": "DATETIME",
    "last_success_on": "DATETIME",
    "notes": "TEXT",
}

UPDATE_VERSION_PARAMETER = OpenApiParameter(
    "version",
    str,
    OpenApiParameter.PATH,
    description="The agent version the package installs.",
    pattern=UPDATE_VERSION_PATTERN,
)
AGENT_PARAMETER = OpenApiParameter(
    "agent_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The agent's id."
)

# Uploads are read in pieces of this size and kept in memory up to the second.
_CHUNK_SIZE = 1024 * 1024
_SPOOL_IN_MEMORY = 8 * 1024 * 1024


@extend_schema_serializer(component_name="AgentReport")
class AgentReportWithIdSerializer(AgentReportSerializer):
    """A report on ``POST /agents/<id>``, which may repeat the agent's ``id``.

    The agent sends its registration data, id included; an id other than the
    URL's is refused (400) by the view.
    """

    id = StrictUUIDField(
        required=False, help_text="The agent's id; must be the one of the URL."
    )


def parse_agent_id(value: str) -> uuid.UUID:
    """The agent id of a URL; 400 when it is not a UUID."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationError(f"agent id {value!r} is not a UUID") from None


def get_agent(value: str) -> Agent:
    """The agent of a URL; 400 for a malformed id, 404 (JSON) when unknown.

    The 404 makes a real agent register again (R2 of agent-protocol.md).
    """
    agent = Agent.objects.filter(pk=parse_agent_id(value)).first()
    if agent is None:
        raise agent_not_found(value)
    return agent


def agent_not_found(value: str) -> NotFound:
    """The 404 of an unknown agent, ``value`` being the id in the URL."""
    return NotFound(f"Agent `{value}` not found")


class AgentFacingViewSet(DeferredAuthenticationMixin, viewsets.GenericViewSet):
    """A view set whose actions in ``agent_actions`` use `AgentPermission`."""

    agent_actions: frozenset[str] = frozenset()

    def get_permissions(self) -> Sequence[Any]:
        """`AgentPermission` for what the agent calls, the default otherwise."""
        if self.action in self.agent_actions:
            return [AgentPermission()]
        return super().get_permissions()


class AgentViewSet(AgentFacingViewSet):
    """``/agents/``, ``/agents/<id>`` and ``/agents/schema``."""

    queryset = Agent.objects.all()
    serializer_class = AgentSerializer
    filterset_class = AgentFilterSet
    agent_actions = frozenset({"register", "retrieve", "report"})

    @extend_schema(
        summary="List agents",
        parameters=[*PAGINATION_PARAMETERS, *PAGINATION_RESPONSE_HEADERS],
        responses={
            200: AgentListSerializer(many=True),
            400: bad_pagination_response(),
        },
    )
    def list(self, request: Request) -> HttpResponseBase:
        """Every agent (filtered by the query string): id, host, address, port.

        Streamed; ``?limit=N&offset=M`` for a part of the list.
        """
        agents = self.get_queryset()
        # Without any of its parameters the filter set keeps every agent, and
        # building it (a form and its fields) would cost more than the rest.
        if not request.query_params.keys().isdisjoint(AgentFilterSet.base_filters):
            agents = self.filter_queryset(agents)
        # The model's order, made total so that parts of the list follow on.
        agents = agents.order_by("hostname", "port", "pk")
        # One row of four short columns per machine of the farm: read in one
        # query rather than through a server-side cursor.
        return list_response(request, agents, AgentListSerializer, server_side=False)

    @extend_schema(
        summary="Register an agent",
        operation_id="agents_register",
        request=AgentRegistrationReportSerializer,
        responses={201: AgentSerializer, 200: AgentSerializer},
    )
    def register(self, request: Request) -> Response:
        """Create the agent (201) or update the one with the same id (200)."""
        serializer = AgentRegistrationReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent, created = register_agent(
            agent_id=serializer.validated_data.get("id"),
            report=serializer.to_report(peer_address=client_address(request)),
        )
        return Response(
            AgentSerializer(agent).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Show an agent",
        parameters=[AGENT_PARAMETER],
        responses=AgentSerializer,
    )
    def retrieve(self, request: Request, agent_id: str) -> Response:
        """One agent."""
        return Response(AgentSerializer(get_agent(agent_id)).data)

    @extend_schema(
        summary="Update an agent (heartbeat)",
        operation_id="agents_report",
        parameters=[AGENT_PARAMETER],
        request=AgentReportWithIdSerializer,
        responses=AgentSerializer,
    )
    def report(self, request: Request, agent_id: str) -> Response:
        """Merge what the request says into the agent; 404 makes it register.

        An ``id`` in the body must be the URL's (400 otherwise).
        """
        pk = parse_agent_id(agent_id)
        try:
            serializer = AgentReportWithIdSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            body_id = serializer.validated_data.get("id")
            if body_id is not None and body_id != pk:
                raise ValidationError(
                    f"id {str(body_id)!r} is not the id of the URL's agent {agent_id!r}"
                )
            agent = report_agent(agent_id=pk, report=serializer.to_report())
        except (APIException, DjangoValidationError):
            # An unknown agent is told so (404, it registers again) whatever
            # it sent; the agent is looked up only when the report is refused.
            get_agent(agent_id)
            raise
        if agent is None:
            raise agent_not_found(agent_id)
        return Response(AgentSerializer(agent).data)

    @extend_schema(
        summary="Delete an agent", parameters=[AGENT_PARAMETER], responses={204: None}
    )
    def destroy(self, request: Request, agent_id: str) -> Response:
        """Delete the agent, giving its open tasks back; 204 even if unknown."""
        delete_agent(agent_id=parse_agent_id(agent_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Agent columns", responses=OpenApiTypes.OBJECT)
    def columns(self, request: Request) -> Response:
        """The agent's columns and their SQL types, as the original listed them."""
        return Response(AGENT_SCHEMA)


@extend_schema(parameters=[AGENT_PARAMETER])
class AgentSoftwareViewSet(AgentFacingViewSet):
    """``/agents/<id>/software/`` and ``.../software/<name>/versions/<version>``."""

    queryset = Agent.objects.all()
    serializer_class = AgentSoftwareVersionSerializer
    agent_actions = frozenset({"create", "destroy"})

    @extend_schema(
        summary="List an agent's software",
        responses=AgentSoftwareVersionSerializer(many=True),
    )
    def list(self, request: Request, agent_id: str) -> Response:
        """The software versions the agent has."""
        versions = (
            get_agent(agent_id)
            .software_versions.select_related("software")
            .order_by("software__software", "rank")
        )
        return Response(AgentSoftwareVersionSerializer(versions, many=True).data)

    @extend_schema(
        summary="Add software to an agent",
        request=AgentSoftwareSerializer,
        responses={200: AgentSoftwareVersionSerializer},
    )
    def create(self, request: Request, agent_id: str) -> Response:
        """Record that the agent has a software version the master knows."""
        agent = get_agent(agent_id)
        serializer = AgentSoftwareSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = add_agent_software(agent=agent, **serializer.validated_data)
        return Response(AgentSoftwareVersionSerializer(version).data)

    @extend_schema(summary="Remove software from an agent", responses={204: None})
    def destroy(
        self, request: Request, agent_id: str, software: str, version: str
    ) -> Response:
        """Record that the agent lacks the version; 204 even if it never had it."""
        remove_agent_software(
            agent=get_agent(agent_id), software=software, version=version
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[AGENT_PARAMETER])
class AgentTaskViewSet(viewsets.GenericViewSet):
    """``/agents/<id>/tasks/``: the agent's tasks, and giving it one by hand."""

    queryset = Task.objects.all()
    serializer_class = AgentTaskSerializer

    @extend_schema(
        summary="List an agent's tasks", responses=AgentTaskSerializer(many=True)
    )
    def list(self, request: Request, agent_id: str) -> Response:
        """Every task assigned to the agent, with its job."""
        tasks = Task.objects.filter(agent=get_agent(agent_id)).select_related(
            "job__jobtype_version__jobtype"
        )
        return Response(AgentTaskSerializer(tasks, many=True).data)

    @extend_schema(
        summary="Give a task to an agent",
        request=TaskAssignmentSerializer,
        responses={200: AssignedTaskSerializer},
    )
    def create(self, request: Request, agent_id: str) -> Response:
        """Assign a queued task to the agent; 409 when it is not queued or sent."""
        agent = get_agent(agent_id)
        serializer = TaskAssignmentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task_id = serializer.validated_data["id"]
        task = Task.objects.filter(pk=task_id).first()
        if task is None:
            raise NotFound(f"Task {task_id} not found")
        if not assign_task_to_agent(agent=agent, task=task):
            raise Conflict(
                f"task {task_id} is {task.state}"
                f"{' and was sent to an agent' if task.sent_to_agent else ''}; "
                "only queued tasks not yet sent can be given to an agent"
            )
        return Response(AssignedTaskSerializer(task).data)


def _read_upload(request: Request, into: IO[bytes]) -> None:
    """Copy the request body into ``into``; 413 above ``max_upload_size``."""
    limit = farm_config("max_upload_size")
    too_large = f"the update package is larger than {limit} bytes"
    try:
        announced = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ValidationError("invalid Content-Length") from None
    if announced > limit:
        raise PayloadTooLarge(too_large)
    stream = request.data
    total = 0
    while hasattr(stream, "read") and (chunk := stream.read(_CHUNK_SIZE)):
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(too_large)
        into.write(chunk)


@extend_schema(parameters=[UPDATE_VERSION_PARAMETER])
class AgentUpdateViewSet(AgentFacingViewSet):
    """``/agents/updates/<version>``: agent update packages (zip files)."""

    parser_classes = [RawBodyParser]
    agent_actions = frozenset({"retrieve"})
    serializer_class = None

    @extend_schema(
        summary="Download an agent update",
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY),
            301: OpenApiResponse(description="at agent_updates_webdir"),
        },
    )
    def retrieve(self, request: Request, version: str) -> Any:
        """The package, or a 301 to ``agent_updates_webdir`` when that is set."""
        filename = agent_update_filename(version)
        webdir = farm_config("agent_updates_webdir")
        if webdir:
            return HttpResponsePermanentRedirect(f"{webdir.rstrip('/')}/{filename}")
        path = agent_update_path(version)
        if not path.is_file():
            raise NotFound(f"no update package for version {version}")
        return FileResponse(
            path.open("rb"), content_type="application/zip", filename=filename
        )

    @extend_schema(
        summary="Upload an agent update",
        request={"application/zip": OpenApiTypes.BINARY},
        responses={201: OpenApiTypes.OBJECT, 200: OpenApiTypes.OBJECT},
    )
    def upload(self, request: Request, version: str) -> Response:
        """Store a zip file as the package of ``version``: 201 new, 200 replaced."""
        filename = agent_update_filename(version)
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as package:
            _read_upload(request, into=package)
            created = store_agent_update(version=version, package=package)
        return Response(
            {"version": version, "filename": filename},
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
