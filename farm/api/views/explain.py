"""``/jobs/<job>/explain``: why a job gets no agents (issue #4's explainer)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from farm.api.permissions import JobPermission
from farm.api.views.jobs import JOB_PARAMETER, find_job
from farm.models import Job
from scheduling.explain import explain

_BLOCKER_FIELDS: dict[str, serializers.Field[Any, Any, Any, Any]] = {
    "constraint": serializers.CharField(
        help_text=(
            "state, dependencies, queue_maximum, no_runnable_tasks, cpus, "
            "ram, required_tags, forbidden_tags, software or failed_on"
        )
    ),
    "agents_ruled_out": serializers.IntegerField(
        help_text="Idle agents this constraint excludes on its own."
    ),
    "detail": serializers.CharField(help_text="What the constraint asks."),
}

_EXPLANATION = inline_serializer(
    "JobExplanation",
    fields={
        "job": serializers.IntegerField(help_text="The job's id."),
        "title": serializers.CharField(),
        "state": serializers.CharField(help_text="The job's state."),
        "runnable_tasks": serializers.IntegerField(
            help_text="Queued, unassigned, visible tasks the planner may give out."
        ),
        "assigned_agents": serializers.IntegerField(
            help_text="Agents working on the job now."
        ),
        "idle_agents": serializers.IntegerField(
            help_text="Online or running agents with no open task."
        ),
        "eligible_agents": serializers.IntegerField(
            help_text="Idle agents that could take the job now."
        ),
        "busy_agents": serializers.IntegerField(),
        "offline_agents": serializers.IntegerField(),
        "disabled_agents": serializers.IntegerField(),
        "blocking": inline_serializer(
            "JobExplainBlocker", fields=_BLOCKER_FIELDS, many=True
        ),
    },
)


@extend_schema(parameters=[JOB_PARAMETER])
class JobExplainView(APIView):
    """``/jobs/<job>/explain``: each constraint that keeps a job from agents.

    The job is addressed by id or title; an unknown one is a 404 with a JSON
    error. The response (keys):

    - ``job``, ``title``, ``state``: the job;
    - ``runnable_tasks``: its tasks the planner may hand out now;
    - ``assigned_agents``: agents working on it;
    - ``idle_agents``, ``busy_agents``, ``offline_agents``,
      ``disabled_agents``: the farm's agents by availability (only idle
      ones are considered);
    - ``eligible_agents``: idle agents that could take it now;
    - ``blocking``: a list of ``{"constraint", "agents_ruled_out",
      "detail"}``, empty when nothing blocks the job. Whole-job constraints
      (state, dependencies, queue_maximum, no_runnable_tasks) rule out every
      idle agent; the others count the idle agents each excludes alone;
      ``no_idle_agents`` says that no agent can run it because none is idle
      (or none exists), with the busy, offline and disabled counts.

    It takes a constant number of queries whatever the farm's size.
    """

    permission_classes = [JobPermission]

    @extend_schema(responses=_EXPLANATION)
    def get(self, request: Request, job: str) -> Response:
        """The explanation of the job's scheduling."""
        instance = find_job(job, Job.objects.only("pk", "title"))
        return Response(explain(instance.pk).as_dict())
