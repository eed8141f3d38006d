"""Job queues: the tree that divides the farm's agents between groups of jobs.

Users read the queues; farm admins create, change and delete them. A queue
is named in URLs by its id, its full path ("root/child") or a name only one
queue has.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from farm.api.serializers.jobqueues import (
    JobQueueDetailSerializer,
    JobQueueSerializer,
    JobQueueWriteSerializer,
)
from farm.api.views.base import work_id_type
from farm.models import JobQueue
from farm.services.queues import (
    AmbiguousQueueName,
    create_queue,
    delete_queue,
    find_queue,
    update_queue,
)
from pyfarm_site.conf import farm_config


def _queue_fields(data: dict) -> dict:
    """The serializer's columns as the service's (the legacy parent name)."""
    fields = dict(data)
    if "parent_jobqueue_id" in fields:
        fields["parent_id"] = fields.pop("parent_jobqueue_id")
    return fields


def _find(queue: str) -> JobQueue | None:
    try:
        return find_queue(queue.rstrip("/"))
    except AmbiguousQueueName as error:
        raise NotFound(str(error)) from None


class JobQueueIndexView(APIView):
    """``jobqueues/``: every queue, and new queues."""

    serializer_class = JobQueueSerializer

    @extend_schema(
        operation_id="jobqueues_list", responses=JobQueueSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        """Every queue, in tree order."""
        return Response(JobQueueSerializer(JobQueue.objects.all(), many=True).data)

    @extend_schema(
        operation_id="jobqueues_create",
        request=JobQueueWriteSerializer,
        responses={201: JobQueueDetailSerializer},
    )
    def post(self, request: Request) -> Response:
        """Create a queue (201; 409 when its parent already has one by that name)."""
        serializer = JobQueueWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        queue = create_queue(**_queue_fields(serializer.validated_data))
        created = find_queue(str(queue.pk))
        return Response(
            JobQueueDetailSerializer(created).data, status=status.HTTP_201_CREATED
        )


class JobQueueView(APIView):
    """``jobqueues/<name|path|id>``: one queue, its changes and its deletion."""

    serializer_class = JobQueueDetailSerializer

    def _queue(self, queue: str) -> JobQueue:
        found = _find(queue)
        if found is None:
            raise NotFound(f"job queue {queue!r} not found")
        return found

    @extend_schema(operation_id="jobqueue_retrieve")
    def get(self, request: Request, queue: str) -> Response:
        """The queue with its parent, its jobs' ids and its child queues' ids."""
        return Response(JobQueueDetailSerializer(self._queue(queue)).data)

    @extend_schema(
        operation_id="jobqueue_update",
        request=JobQueueWriteSerializer,
        responses=JobQueueDetailSerializer,
    )
    def post(self, request: Request, queue: str) -> Response:
        """Change the columns given, leave the others (200)."""
        serializer = JobQueueWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        found = self._queue(queue)
        update_queue(queue=found, **_queue_fields(serializer.validated_data))
        return Response(JobQueueDetailSerializer(self._queue(str(found.pk))).data)

    @extend_schema(operation_id="jobqueue_destroy", responses={204: None})
    def delete(self, request: Request, queue: str) -> Response:
        """Delete the queue (204, also when there was none; 409 while in use)."""
        found = _find(queue)
        if found is not None:
            delete_queue(queue=found)
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobQueueSchemaView(APIView):
    """``jobqueues/schema``: the columns and their SQL types."""

    serializer_class = JobQueueSerializer

    @extend_schema(
        operation_id="jobqueues_schema",
        responses=inline_serializer(
            "JobQueueSchema",
            {name: serializers.CharField() for name in JobQueueSerializer.Meta.fields},
        ),
    )
    def get(self, request: Request) -> Response:
        """Column name -> SQL type; ids are of the original's work id type."""
        return Response(
            {
                "id": work_id_type(),
                "name": f"VARCHAR({farm_config('max_queue_name_length')})",
                "minimum_agents": "INTEGER",
                "maximum_agents": "INTEGER",
                "priority": "INTEGER",
                "weight": "INTEGER",
                "parent_jobqueue_id": work_id_type(),
                "fullpath": f"VARCHAR({farm_config('max_queue_path_length')})",
            }
        )
