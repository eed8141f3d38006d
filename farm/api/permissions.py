"""Who may do what through the API (the trust model; README, "Access").

- Agent-facing endpoints (what the real agent calls, agent-protocol.md §1.2)
  answer requests from ``agent_networks`` without credentials: the agent
  sends none. Anything in those networks is trusted to speak for any agent.
  The address is `client_address`'s (``trusted_proxies`` decide whether a
  forwarding header counts).
- From elsewhere, these endpoints need a user: every user reads, and only
  farm admins change (`AgentPermission`). Task reports (states, progress,
  logs, failed-on agents) are the exception: a user may report on the tasks
  of their own jobs (`TaskReportPermission`).
- Everything else needs an authenticated user: reading is open to every
  user, changing needs a farm admin, except jobs, which their owners change.
- ``login_disabled`` opens everything (development).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from farm.api.client_address import is_agent_address, is_from_agent_network
from farm.services.owners import is_farm_admin, may_change_job
from pyfarm_site.conf import farm_config

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

__all__ = [
    "AgentPermission",
    "FarmPermission",
    "JobPermission",
    "TaskReportPermission",
    "is_agent_address",
    "is_farm_admin",
    "speaks_for_agents",
]


def _is_user(request: Request) -> bool:
    return bool(request.user and request.user.is_authenticated)


def _is_open(request: Request) -> bool:
    """``login_disabled``, or a request from the agent networks.

    Kept on the request: the permissions (object permissions included) and
    `speaks_for_agents` may each ask, and the address check is not free.
    """
    known = getattr(request, "_farm_is_open", None)
    if known is None:
        known = bool(farm_config("login_disabled")) or is_from_agent_network(request)
        request._farm_is_open = known  # type: ignore[attr-defined]
    return bool(known)


def speaks_for_agents(request: Request) -> bool:
    """Whether the request may do what only agents do: the agent networks, admins.

    (And anything with ``login_disabled``.)
    """
    return _is_open(request) or is_farm_admin(request.user)


def job_owner_id(obj: Any) -> int | None:
    """The id of the user owning ``obj``: a job, a task, or a task's log row.

    Costs no query for a job, or a task whose job is loaded; one otherwise.
    """
    from farm.models import Job, Task

    if isinstance(obj, Job):
        return obj.user_id
    if isinstance(obj, Task) and Task.job.is_cached(obj):  # type: ignore[attr-defined]
        return obj.job.user_id
    task_id = obj.pk if isinstance(obj, Task) else obj.task_id
    return (
        Task.objects.filter(pk=task_id).values_list("job__user_id", flat=True).first()
    )


class FarmPermission(BasePermission):
    """Users read, admins change (the default of every endpoint)."""

    message = "authentication required"

    def has_permission(self, request: Request, view: APIView) -> bool:
        """Reading needs a user; changing needs an admin."""
        if farm_config("login_disabled"):
            return True
        if not _is_user(request):
            return False
        if request.method in SAFE_METHODS:
            return True
        self.message = "only farm admins may change this"
        return is_farm_admin(request.user)


class AgentPermission(BasePermission):
    """Agent-facing endpoints: the agent networks; users read, admins change."""

    #: The agent calls these without credentials (the schema says so).
    agent_facing = True
    message = "requests must come from an agent network or an authenticated user"

    def has_permission(self, request: Request, view: APIView) -> bool:
        """The agent networks; else reads for users and changes for admins."""
        if _is_open(request):
            return True
        if not _is_user(request):
            return False
        if request.method in SAFE_METHODS:
            return True
        self.message = (
            "only agents (from the agent networks) and farm admins may change this"
        )
        return is_farm_admin(request.user)


class TaskReportPermission(BasePermission):
    """Task reports: the agent networks, admins, and the owner of the task's job.

    A view checks the object (a task, or a task's log row) with
    ``check_object_permissions`` before it changes anything, and says so with
    ``checks_task_owner = True``: a plain user's change reaches only views
    that do (fail closed, should a method forget the check).
    """

    #: The agent calls these without credentials (the schema says so).
    agent_facing = True
    message = "requests must come from an agent network or an authenticated user"
    OWNER_ONLY = (
        "only agents (from the agent networks), farm admins and the job's "
        "owner may report on its tasks"
    )

    def has_permission(self, request: Request, view: APIView) -> bool:
        """The agent networks, admins; users read, and change where the view checks.

        A plain user's change passes only to views with ``checks_task_owner``
        (they check the task's owner, `has_object_permission`).
        """
        if _is_open(request):
            return True
        if not _is_user(request):
            return False
        if request.method in SAFE_METHODS or is_farm_admin(request.user):
            return True
        self.message = self.OWNER_ONLY
        return bool(getattr(view, "checks_task_owner", False))

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        """Reads for all; changes for agents, admins and the job's owner."""
        if request.method in SAFE_METHODS or _is_open(request):
            return True
        if is_farm_admin(request.user):
            return True
        self.message = self.OWNER_ONLY
        owner_id = job_owner_id(obj)
        return owner_id is not None and owner_id == request.user.pk


class JobPermission(BasePermission):
    """Jobs: users read and submit; owners and admins change and delete."""

    message = "only the job's owner or a farm admin may change it"

    def has_permission(self, request: Request, view: APIView) -> bool:
        """Any authenticated user (or anything with login_disabled)."""
        return bool(farm_config("login_disabled") or _is_user(request))

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        """Reads for all; changes for the owner of the job (or its task's job)."""
        if farm_config("login_disabled") or request.method in SAFE_METHODS:
            return True
        return may_change_job(request.user, obj)
