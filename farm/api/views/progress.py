"""``/jobs/<job>/task_counts``: a job's progress without listing its tasks."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from farm.api.permissions import JobPermission
from farm.api.serializers.progress import JobTaskCountsSerializer
from farm.api.views.jobs import JOB_PARAMETER, find_job
from farm.models import Job
from farm.services.progress import with_task_counts


@extend_schema(parameters=[JOB_PARAMETER])
class JobTaskCountsView(APIView):
    """How many tasks of a job are in each state, counted by the database."""

    permission_classes = [JobPermission]

    @extend_schema(operation_id="jobs_task_counts", responses=JobTaskCountsSerializer)
    def get(self, request: Request, job: str) -> Response:
        """``{"id", "title", "tasks_<state>"..., "tasks_total"}`` in one query."""
        jobs = with_task_counts(Job.objects.only("pk", "title"))
        return Response(JobTaskCountsSerializer(find_job(job, jobs)).data)
