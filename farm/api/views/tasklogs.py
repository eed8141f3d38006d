"""Task logs: registration (R5), state (R7), upload (R8) and download.

Every endpoint is agent-facing (agent-protocol.md §1.2): open to the agent
networks without credentials; from elsewhere users read, and only farm
admins and the owner of the task's job register, change or upload a log
(`TaskReportPermission`). The URL names a job, a task of
that job, an attempt and (but for the index) a log identifier; anything that
does not match is a JSON 404, and an identifier that is not a plain file
name is a 400 before anything touches the disk.
"""

from __future__ import annotations

import io
from typing import IO, cast
from urllib.parse import quote

from django.http import HttpResponseBase, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from farm.api.exceptions import PayloadTooLarge
from farm.api.parsers import RawBodyParser
from farm.api.permissions import TaskReportPermission
from farm.api.schema import id_parameter, integer_parameter
from farm.api.serializers.tasklogs import (
    TaskLogListItemSerializer,
    TaskLogRegistrationSerializer,
    TaskLogSerializer,
    TaskLogStateSerializer,
)
from farm.api.streaming import (
    PAGINATION_PARAMETERS,
    PAGINATION_RESPONSE_HEADERS,
    bad_pagination_response,
    list_response,
)
from farm.api.views.base import AnyAcceptNegotiation
from farm.models import TaskLog, TaskTaskLogAssociation
from farm.services.logs import (
    MAX_ATTEMPT,
    UploadTooLarge,
    find_log_association,
    find_task_attempt,
    open_logfile,
    register_task_log,
    set_log_state,
    store_logfile,
)

LOG_CONTENT_TYPE = "text/csv"
# The job, task and attempt of every log URL.
ATTEMPT_PARAMETERS = [
    id_parameter("job_id", "The job's id."),
    id_parameter("task_id", "The task's id."),
    integer_parameter("attempt", 0, MAX_ATTEMPT, "The task's attempt."),
]


def _association(kwargs: dict[str, str]) -> TaskTaskLogAssociation:
    """The log registration a URL names (400 for a bad identifier, else 404)."""
    return find_log_association(
        job_id=kwargs["job_id"],
        task_id=kwargs["task_id"],
        attempt=kwargs["attempt"],
        identifier=kwargs["identifier"],
    )


@extend_schema(parameters=ATTEMPT_PARAMETERS)
class TaskAttemptLogsView(APIView):
    """``jobs/<job>/tasks/<task>/attempts/<attempt>/logs/``: list and register."""

    permission_classes = [TaskReportPermission]
    # Every change checks the task's owner (check_object_permissions).
    checks_task_owner = True
    serializer_class = TaskLogSerializer

    @extend_schema(
        operation_id="tasklogs_list",
        parameters=[*PAGINATION_PARAMETERS, *PAGINATION_RESPONSE_HEADERS],
        responses={
            200: TaskLogListItemSerializer(many=True),
            400: bad_pagination_response(),
        },
    )
    def get(self, request: Request, **kwargs: str) -> HttpResponseBase:
        """The logs registered for this attempt of the task, oldest first.

        Streamed; ``?limit=N&offset=M`` for a part of the list.
        """
        task, attempt = find_task_attempt(**kwargs)
        logs = TaskLog.objects.filter(
            task_associations__task=task, task_associations__attempt=attempt
        ).order_by("created_on", "pk")
        return list_response(request, logs, TaskLogListItemSerializer)

    @extend_schema(
        operation_id="tasklogs_register",
        request=TaskLogRegistrationSerializer,
        responses={201: TaskLogSerializer},
    )
    def post(self, request: Request, **kwargs: str) -> Response:
        """R5: register a log for this attempt (201; 409 when it already is)."""
        task, attempt = find_task_attempt(**kwargs)
        self.check_object_permissions(request, task)
        serializer = TaskLogRegistrationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        log = register_task_log(
            task=task,
            attempt=attempt,
            identifier=serializer.validated_data["identifier"],
            agent_id=serializer.validated_data["agent_id"],
        )
        return Response(TaskLogSerializer(log).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=ATTEMPT_PARAMETERS)
class TaskAttemptLogView(APIView):
    """``.../logs/<identifier>``: a log's metadata, and the attempt's state (R7)."""

    permission_classes = [TaskReportPermission]
    # Every change checks the task's owner (check_object_permissions).
    checks_task_owner = True
    serializer_class = TaskLogSerializer

    @extend_schema(operation_id="tasklog_retrieve")
    def get(self, request: Request, **kwargs: str) -> Response:
        """The log's metadata."""
        return Response(TaskLogSerializer(_association(kwargs).log).data)

    @extend_schema(
        operation_id="tasklog_set_state",
        request=TaskLogStateSerializer,
        responses=TaskLogSerializer,
    )
    def post(self, request: Request, **kwargs: str) -> Response:
        """R7: record the state the attempt reached (200)."""
        association = _association(kwargs)
        self.check_object_permissions(request, association)
        serializer = TaskLogStateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        set_log_state(association=association, state=serializer.validated_data["state"])
        return Response(TaskLogSerializer(association.log).data)


@extend_schema(parameters=ATTEMPT_PARAMETERS)
class TaskAttemptLogfileView(APIView):
    """``.../logs/<identifier>/logfile``: download, or upload (R8), the file."""

    permission_classes = [TaskReportPermission]
    # Every change checks the task's owner (check_object_permissions).
    checks_task_owner = True
    content_negotiation_class = AnyAcceptNegotiation
    serializer_class = TaskLogSerializer

    # The upload's body is the file, in any content type; GETs have none.
    parser_classes = [RawBodyParser]

    @extend_schema(
        operation_id="tasklog_file_download",
        responses={
            (200, LOG_CONTENT_TYPE): OpenApiTypes.BINARY,
            307: OpenApiResponse(description="the agent still has the file"),
        },
    )
    def get(self, request: Request, **kwargs: str) -> HttpResponseBase:
        """The file (ungzipped), or a 307 to the agent while it has not sent it."""
        log = _association(kwargs).log
        content = open_logfile(log.identifier)
        if content is not None:
            return StreamingHttpResponse(content, content_type=LOG_CONTENT_TYPE)
        if log.agent is None:
            raise NotFound(
                f"log {log.identifier!r} was not uploaded; its agent is unknown"
            )
        try:
            location = f"{log.agent.api_url()}/task_logs/{quote(log.identifier)}"
        except ValueError as error:
            raise NotFound(
                f"log {log.identifier!r} was not uploaded: {error}"
            ) from None
        return Response(
            {"location": location},
            status=status.HTTP_307_TEMPORARY_REDIRECT,
            headers={"Location": location},
        )

    @extend_schema(
        operation_id="tasklog_file_upload",
        request={LOG_CONTENT_TYPE: OpenApiTypes.BINARY},
        responses={201: TaskLogSerializer},
    )
    def put(self, request: Request, **kwargs: str) -> Response:
        """R8: store the body as the log file (201; 413 over ``max_upload_size``)."""
        association = _association(kwargs)
        self.check_object_permissions(request, association)
        log = association.log
        # An empty body parses as an empty dict, not as a stream.
        body = request.data
        stream = cast("IO[bytes]", body) if hasattr(body, "read") else io.BytesIO()
        try:
            size_hint = int(request.META.get("CONTENT_LENGTH") or 0) or None
        except ValueError:
            size_hint = None
        try:
            store_logfile(log=log, stream=stream, size_hint=size_hint)
        except UploadTooLarge as error:
            raise PayloadTooLarge(str(error)) from None
        return Response(TaskLogSerializer(log).data, status=status.HTTP_201_CREATED)
