"""Job groups: related jobs (the passes of a shot) shown together.

Every user reads groups and creates them for themselves; a group's owner and
farm admins change and delete it, and only admins name another user as the
owner.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from farm.api.permissions import JobPermission
from farm.api.schema import id_parameter
from farm.api.serializers.jobgroups import (
    JobGroupCreateSerializer,
    JobGroupDetailSerializer,
    JobGroupJobSerializer,
    JobGroupSerializer,
    JobGroupUpdateSerializer,
)
from farm.api.views.base import work_id_type
from farm.models import Job, JobGroup
from farm.services.queues import (
    create_jobgroup,
    delete_jobgroup,
    jobgroup_jobs,
    jobgroups,
    update_jobgroup,
)
from pyfarm_site.conf import farm_config


def _detail_queryset() -> Any:
    return jobgroups().prefetch_related(
        Prefetch("jobs", queryset=Job.objects.only("id", "group_id").order_by("id"))
    )


def _acting_user(request: Request) -> Any:
    """Who changes a group: nobody in particular with ``login_disabled``."""
    return None if farm_config("login_disabled") else request.user


class JobGroupIndexView(APIView):
    """``jobgroups/``: every group, and new groups."""

    permission_classes = [JobPermission]
    serializer_class = JobGroupSerializer

    @extend_schema(
        operation_id="jobgroups_list", responses=JobGroupSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        """Every group."""
        return Response(JobGroupSerializer(jobgroups(), many=True).data)

    @extend_schema(
        operation_id="jobgroups_create",
        request=JobGroupCreateSerializer,
        responses={201: JobGroupDetailSerializer},
    )
    def post(self, request: Request) -> Response:
        """Create a group (201); its owner defaults to the requesting user."""
        serializer = JobGroupCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "user" in data:
            username = data["user"]
        elif request.user.is_authenticated:
            username = request.user.get_username()
        else:
            username = None
        group = create_jobgroup(
            title=data["title"],
            main_jobtype=data["main_jobtype"],
            user=username,
            created_by=_acting_user(request),
        )
        group = _detail_queryset().get(pk=group.pk)
        return Response(
            JobGroupDetailSerializer(group).data, status=status.HTTP_201_CREATED
        )


GROUP_PARAMETER = id_parameter("group_id", "The group's id.")


@extend_schema(parameters=[GROUP_PARAMETER])
class JobGroupView(APIView):
    """``jobgroups/<id>``: one group, its changes and its deletion."""

    permission_classes = [JobPermission]
    serializer_class = JobGroupDetailSerializer

    def _group(self, group_id: str) -> JobGroup:
        group = _detail_queryset().filter(pk=group_id).first()
        if group is None:
            raise NotFound(f"job group {group_id} not found")
        return group

    @extend_schema(operation_id="jobgroup_retrieve")
    def get(self, request: Request, group_id: str) -> Response:
        """The group with its jobs' ids."""
        return Response(JobGroupDetailSerializer(self._group(group_id)).data)

    @extend_schema(
        operation_id="jobgroup_update",
        request=JobGroupUpdateSerializer,
        responses=JobGroupDetailSerializer,
    )
    def post(self, request: Request, group_id: str) -> Response:
        """Change the columns given, leave the others (200)."""
        serializer = JobGroupUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        group = self._group(group_id)
        self.check_object_permissions(request, group)
        update_jobgroup(
            group=group,
            changed_by=_acting_user(request),
            **serializer.validated_data,
        )
        return Response(JobGroupDetailSerializer(self._group(group_id)).data)

    @extend_schema(operation_id="jobgroup_destroy", responses={204: None})
    def delete(self, request: Request, group_id: str) -> Response:
        """Delete the group (204, also when there was none; 409 while it has jobs)."""
        group = JobGroup.objects.filter(pk=group_id).first()
        if group is not None:
            self.check_object_permissions(request, group)
            delete_jobgroup(group=group)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[GROUP_PARAMETER])
class JobGroupJobsView(APIView):
    """``jobgroups/<id>/jobs``: the group's jobs with their task counts."""

    permission_classes = [JobPermission]
    serializer_class = JobGroupJobSerializer

    @extend_schema(
        operation_id="jobgroup_jobs",
        responses=inline_serializer(
            "JobGroupJobs", {"jobs": JobGroupJobSerializer(many=True)}
        ),
    )
    def get(self, request: Request, group_id: str) -> Response:
        """``{"jobs": [...]}``, oldest job first."""
        group = JobGroup.objects.filter(pk=group_id).first()
        if group is None:
            raise NotFound(f"job group {group_id} not found")
        jobs = JobGroupJobSerializer(jobgroup_jobs(group), many=True).data
        return Response({"jobs": jobs})


class JobGroupSchemaView(APIView):
    """``jobgroups/schema``: the columns and their SQL types."""

    serializer_class = JobGroupSerializer

    @extend_schema(
        operation_id="jobgroups_schema",
        responses=inline_serializer(
            "JobGroupSchema",
            {
                name: serializers.CharField()
                for name in ("main_jobtype", "title", "user", "id")
            },
        ),
    )
    def get(self, request: Request) -> Response:
        """Column name -> SQL type; owner and job type go by name.

        The id's type is the database's, as in the original (`work_id_type`).
        """
        return Response(
            {
                "main_jobtype": f"VARCHAR({farm_config('job_type_max_name_length')})",
                "title": f"VARCHAR({farm_config('max_jobgroup_name_length')})",
                "user": f"VARCHAR({farm_config('max_username_length')})",
                "id": work_id_type(),
            }
        )
