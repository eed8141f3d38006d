"""Views of the jobs API: jobs, their tasks, notified users and failed agents.

Jobs are addressed by id or title (``/jobs/12``, ``/jobs/shot%20010``). The
agent-facing task endpoints (agent-protocol R6, R9-R12) are open to agent
networks; from elsewhere they need a user, and only the job's owner or a farm
admin reports on its tasks (`TaskReportPermission`). Everything else needs a
user, and only a job's owner or a farm admin changes it.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from django.db.models import Prefetch, QuerySet
from django.http.response import HttpResponseBase
from django_filters.utils import translate_validation
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from farm.api.permissions import (
    JobPermission,
    TaskReportPermission,
    speaks_for_agents,
)
from farm.api.schema import id_parameter
from farm.api.serializers.jobs import (
    JOB_SCHEMA,
    AgentBriefSerializer,
    AgentIdSerializer,
    JobListSerializer,
    JobSerializer,
    JobSubmissionSerializer,
    JobUpdateSerializer,
    NotifiedUserDetailSerializer,
    NotifiedUserInputSerializer,
    NotifiedUserSerializer,
    TaskListSerializer,
    TaskSerializer,
    TaskUpdateSerializer,
)
from farm.api.streaming import (
    PAGINATION_PARAMETERS,
    PAGINATION_RESPONSE_HEADERS,
    bad_pagination_response,
    list_response,
)
from farm.api.views.base import ColumnTypesView
from farm.choices import WorkState
from farm.filtersets import TaskFilterSet
from farm.models import (
    Agent,
    Job,
    JobNotifiedUser,
    JobSoftwareRequirement,
    JobTagRequirement,
    Task,
)
from farm.models.jobs import JobQuerySet
from farm.services.jobs import mark_jobs_for_deletion
from farm.services.submission import (
    add_notified_user,
    remove_notified_user,
    submit_job,
    update_job,
)
from farm.services.tasks import (
    UNSET,
    add_failed_agent,
    remove_failed_agent,
    update_task,
)
from farm.validators import parse_id

JOB_PARAMETER = OpenApiParameter(
    "job", str, OpenApiParameter.PATH, description="The job's id or title."
)
TASK_PARAMETER = id_parameter("task_id", "The task's id.")
AGENT_PARAMETER = OpenApiParameter("agent_id", uuid.UUID, OpenApiParameter.PATH)
TASK_STATE_PARAMETER = OpenApiParameter(
    "state",
    str,
    OpenApiParameter.QUERY,
    enum=list(WorkState.values),
    description="Only the tasks in this state (a name, or the original's code).",
)
USERNAME_PARAMETER = OpenApiParameter("username", str, OpenApiParameter.PATH)


# --- lookups -----------------------------------------------------------------


def job_detail_queryset() -> QuerySet[Job]:
    """Jobs with everything `JobSerializer` renders, in a fixed number of queries."""
    return Job.objects.select_related(
        "jobtype_version__jobtype", "queue", "user", "group"
    ).prefetch_related(
        "tags",
        Prefetch("parents", queryset=Job.objects.only("pk", "title")),
        Prefetch("children", queryset=Job.objects.only("pk", "title")),
        Prefetch(
            "tag_requirements",
            queryset=JobTagRequirement.objects.select_related("tag"),
        ),
        Prefetch(
            "software_requirements",
            queryset=JobSoftwareRequirement.objects.select_related(
                "software", "min_version", "max_version"
            ),
        ),
        Prefetch(
            "notified_users",
            queryset=JobNotifiedUser.objects.select_related("user"),
        ),
    )


def find_job(value: str, queryset: QuerySet[Job] | None = None) -> Job:
    """The job whose id or title is ``value``, or 404 (`JobQuerySet.by_id_or_title`)."""
    jobs = cast(JobQuerySet, Job.objects.all() if queryset is None else queryset)
    try:
        return jobs.by_id_or_title(value)
    except Job.DoesNotExist as error:
        raise NotFound(str(error)) from None


def job_detail(pk: int) -> dict[str, Any]:
    """The JSON of one job, read afresh with its relations."""
    return cast(dict[str, Any], JobSerializer(job_detail_queryset().get(pk=pk)).data)


def find_task(
    job_value: str, task_value: str, queryset: QuerySet[Task] | None = None
) -> Task:
    """Task ``task_value`` of the job ``job_value``, or 404.

    A task of another job is not found either. With a numeric job and task
    (what the agent sends) this is one query; a job given by title, or by a
    number that is a title, costs one more.
    """
    if queryset is None:
        queryset = Task.objects.all()
    pk = parse_id(task_value)
    job_pk = parse_id(job_value)
    if pk is not None and job_pk is not None:
        task = queryset.filter(job_id=job_pk, pk=pk).first()
        if task is not None:
            return task
    job = find_job(job_value, Job.objects.only("pk", "title", "user_id"))
    task = None
    if pk is not None:
        task = queryset.filter(job_id=job.pk, pk=pk).first()
    if task is None:
        raise NotFound(f"task {task_value!r} not found in job {job.title!r}")
    return task


def find_agent(value: uuid.UUID | str) -> Agent:
    """The agent with id ``value``, or 404 (also for ids that are no UUID)."""
    try:
        agent_id = value if isinstance(value, uuid.UUID) else uuid.UUID(value)
    except ValueError:
        raise NotFound(f"agent {value!r} not found") from None
    agent = Agent.objects.filter(pk=agent_id).only("pk", "hostname").first()
    if agent is None:
        raise NotFound(f"agent {str(value)!r} not found")
    return agent


# --- jobs --------------------------------------------------------------------


class JobIndexView(APIView):
    """``/jobs/``: every job (id, title, state), and job submission."""

    permission_classes = [JobPermission]

    @extend_schema(
        parameters=[*PAGINATION_PARAMETERS, *PAGINATION_RESPONSE_HEADERS],
        responses={
            200: JobListSerializer(many=True),
            400: bad_pagination_response(),
        },
    )
    def get(self, request: Request) -> HttpResponseBase:
        """All jobs, in submission order, as ``[{"id", "title", "state"}]``.

        Streamed; ``?limit=N&offset=M`` for a part of the list.
        """
        return list_response(request, Job.objects.order_by("pk"), JobListSerializer)

    @extend_schema(request=JobSubmissionSerializer, responses={201: JobSerializer})
    def post(self, request: Request) -> Response:
        """Submit a job with its tasks; 201 with the job.

        404 for an unknown job type (version), queue, group, parent, user
        (unless created), software or software version; 409 for a
        requirement or notified user listed twice; 403 for a user other than
        a farm admin who names another owner or an unknown user.
        """
        serializer = JobSubmissionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        submitted_by = request.user if request.user.is_authenticated else None
        job = submit_job(submitted_by=submitted_by, **serializer.validated_data)
        return Response(job_detail(job.pk), status=status.HTTP_201_CREATED)


class JobSchemaView(ColumnTypesView):
    """``/jobs/schema``: the job columns and their SQL types."""

    permission_classes = [JobPermission]
    columns = JOB_SCHEMA
    work_id_columns = ("id", "job_group_id")


@extend_schema(parameters=[JOB_PARAMETER])
class SingleJobView(APIView):
    """``/jobs/<job>``: read, change (POST or PUT) and delete one job."""

    permission_classes = [JobPermission]

    def _job_for_change(self, request: Request, value: str) -> Job:
        job = find_job(value)
        self.check_object_permissions(request, job)
        return job

    @extend_schema(responses=JobSerializer)
    def get(self, request: Request, job: str) -> Response:
        """The job with its relations."""
        return Response(JobSerializer(find_job(job, job_detail_queryset())).data)

    @extend_schema(
        operation_id="jobs_partial_update",
        request=JobUpdateSerializer,
        responses=JobSerializer,
    )
    def post(self, request: Request, job: str) -> Response:
        """Change the given columns; a new frame range creates/deletes tasks."""
        instance = self._job_for_change(request, job)
        serializer = JobUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changed_by = request.user if request.user.is_authenticated else None
        update_job(job=instance, changed_by=changed_by, **serializer.validated_data)
        return Response(job_detail(instance.pk))

    @extend_schema(request=JobUpdateSerializer, responses=JobSerializer)
    def put(self, request: Request, job: str) -> Response:
        """The same as POST (the original's examples use PUT)."""
        return self.post(request, job)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, job: str) -> Response:
        """Mark the job for deletion; the scheduler stops and removes it."""
        instance = self._job_for_change(request, job)
        mark_jobs_for_deletion(jobs=Job.objects.filter(pk=instance.pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- tasks -------------------------------------------------------------------


@extend_schema(parameters=[JOB_PARAMETER])
class JobTasksIndexView(APIView):
    """``/jobs/<job>/tasks/``: the tasks of a job."""

    permission_classes = [JobPermission]

    @extend_schema(
        parameters=[
            TASK_STATE_PARAMETER,
            *PAGINATION_PARAMETERS,
            *PAGINATION_RESPONSE_HEADERS,
        ],
        responses={
            200: TaskListSerializer(many=True),
            400: bad_pagination_response(),
        },
    )
    def get(self, request: Request, job: str) -> HttpResponseBase:
        """Every task of the job, in frame order.

        Streamed (a job may have a million tasks); ``?state=running`` for the
        tasks in one state only, ``?limit=N&offset=M`` for a part of the list.
        """
        instance = find_job(job, Job.objects.only("pk", "title"))
        tasks = Task.objects.for_job(instance.pk).order_by("frame", "tile", "pk")
        # Without its parameter the filter set keeps every task: not built.
        if not request.query_params.keys().isdisjoint(TaskFilterSet.base_filters):
            filterset = TaskFilterSet(request.query_params, queryset=tasks)
            if not filterset.is_valid():
                raise translate_validation(filterset.errors)
            tasks = filterset.qs
        return list_response(request, tasks, TaskListSerializer)


@extend_schema(parameters=[JOB_PARAMETER, TASK_PARAMETER])
class SingleTaskView(APIView):
    """``/jobs/<job>/tasks/<task_id>``: a task, and the agent's reports on it.

    The agent (R6, R9-R11) needs 200 with JSON for every accepted report,
    including those it sent out of order, which change nothing. Users report
    on the tasks of their own jobs, but only agents and admins name an agent.
    """

    permission_classes = [TaskReportPermission]
    # Every change checks the task's owner (check_object_permissions).
    checks_task_owner = True

    @extend_schema(responses=TaskSerializer)
    def get(self, request: Request, job: str, task_id: str) -> Response:
        """The task with its job and agent."""
        task = find_task(job, task_id, Task.objects.select_related("job", "agent"))
        return Response(TaskSerializer(task).data)

    @extend_schema(request=TaskUpdateSerializer, responses=TaskSerializer)
    def post(self, request: Request, job: str, task_id: str) -> Response:
        """Apply a state, error, progress, agent, start-time or priority change; 200.

        The agent's own reports, exactly as it sends them, are answered
        before this view, with the same answer (`farm.api.agent_fast_path`);
        everything else, and a task that path does not find (an unknown one:
        404), comes here.
        """
        task = find_task(job, task_id, Task.objects.select_related("job", "agent"))
        self.check_object_permissions(request, task)
        serializer = TaskUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        agent: Any = UNSET
        if data.get("agent_id") is not None and not speaks_for_agents(request):
            # Else a user could hand their task to an agent of their choice,
            # past the scheduler (polling resends an agent the tasks it lost).
            raise PermissionDenied(
                "only agents (from the agent networks) and farm admins may "
                "assign a task to an agent"
            )
        if "agent_id" in data:
            agent = None if data["agent_id"] is None else find_agent(data["agent_id"])
        update_task(
            task=task,
            state=data.get("state"),
            progress=data.get("progress"),
            last_error=data.get("last_error", UNSET),
            time_started_now="time_started" in data,
            agent=agent,
            agent_report=True,
            priority=data.get("priority"),
        )
        # update_task refreshed the row; the job and agent come along from
        # the first query unless the agent changed.
        return Response(TaskSerializer(task).data)


@extend_schema(parameters=[JOB_PARAMETER, TASK_PARAMETER])
class TaskFailedOnAgentsIndexView(APIView):
    """``/jobs/<job>/tasks/<task_id>/failed_on_agents/`` (agent-protocol R12)."""

    permission_classes = [TaskReportPermission]
    # Every change checks the task's owner (check_object_permissions).
    checks_task_owner = True

    @extend_schema(responses=AgentBriefSerializer(many=True))
    def get(self, request: Request, job: str, task_id: str) -> Response:
        """The agents the task failed on, as ``[{"id", "hostname"}]``."""
        task = find_task(job, task_id)
        agents = task.failed_in_agents.only("pk", "hostname").order_by("hostname")
        return Response(AgentBriefSerializer(agents, many=True).data)

    @extend_schema(
        request=AgentIdSerializer,
        responses={201: AgentBriefSerializer, 200: AgentBriefSerializer},
    )
    def post(self, request: Request, job: str, task_id: str) -> Response:
        """Add an agent to the list; 201 when new, 200 when already listed."""
        task = find_task(job, task_id, Task.objects.select_related("job"))
        self.check_object_permissions(request, task)
        serializer = AgentIdSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent = find_agent(serializer.validated_data["id"])
        created = add_failed_agent(task=task, agent=agent)
        return Response(
            AgentBriefSerializer(agent).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


@extend_schema(parameters=[JOB_PARAMETER, TASK_PARAMETER, AGENT_PARAMETER])
class SingleTaskOnAgentFailureView(APIView):
    """``/jobs/<job>/tasks/<task_id>/failed_on_agents/<agent_id>``."""

    permission_classes = [JobPermission]

    @extend_schema(responses={204: None})
    def delete(
        self, request: Request, job: str, task_id: str, agent_id: str
    ) -> Response:
        """Remove the agent from the list (204 also when it was not listed)."""
        task = find_task(job, task_id, Task.objects.select_related("job"))
        self.check_object_permissions(request, task)
        remove_failed_agent(task=task, agent=find_agent(agent_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- notified users ----------------------------------------------------------


@extend_schema(parameters=[JOB_PARAMETER])
class JobNotifiedUsersIndexView(APIView):
    """``/jobs/<job>/notified_users/``: who is told about the job's end."""

    permission_classes = [JobPermission]

    @extend_schema(responses=NotifiedUserDetailSerializer(many=True))
    def get(self, request: Request, job: str) -> Response:
        """The notified users with their flags, by username."""
        instance = find_job(job, Job.objects.only("pk", "title"))
        notified = (
            JobNotifiedUser.objects.filter(job_id=instance.pk)
            .select_related("user")
            .order_by("user__username")
        )
        return Response(NotifiedUserDetailSerializer(notified, many=True).data)

    @extend_schema(
        request=NotifiedUserInputSerializer,
        responses={201: NotifiedUserSerializer, 200: NotifiedUserSerializer},
    )
    def post(self, request: Request, job: str) -> Response:
        """Add a user (201), or change the flags of a notified one (200)."""
        instance = find_job(job)
        self.check_object_permissions(request, instance)
        serializer = NotifiedUserInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        notified, created = add_notified_user(job=instance, **serializer.validated_data)
        return Response(
            NotifiedUserSerializer(notified).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


@extend_schema(parameters=[JOB_PARAMETER, USERNAME_PARAMETER])
class JobSingleNotifiedUserView(APIView):
    """``/jobs/<job>/notified_users/<username>``."""

    permission_classes = [JobPermission]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, job: str, username: str) -> Response:
        """Remove the user (204 also when they were not notified)."""
        instance = find_job(job)
        self.check_object_permissions(request, instance)
        remove_notified_user(job=instance, username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)
