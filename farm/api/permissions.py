"""Who may do what through the API.

- Agent-facing endpoints (what the real agent calls, agent-protocol.md §1.2)
  are open to requests from ``agent_networks``: the agent sends no
  credentials. Users may call them too.
- Everything else needs an authenticated user: reading is open to every
  user, changing needs a farm admin, except jobs, which their owners change.
- ``login_disabled`` opens everything (development).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import netaddr
from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import SAFE_METHODS, BasePermission

from pyfarm_site.conf import farm_config

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


@functools.lru_cache(maxsize=8)
def _network_set(networks: tuple[str, ...]) -> netaddr.IPSet:
    try:
        return netaddr.IPSet(networks)
    except (netaddr.AddrFormatError, ValueError, TypeError) as error:
        raise ImproperlyConfigured(f"agent_networks: {error}") from None


def is_agent_address(address: str | None) -> bool:
    """Whether ``address`` is in one of the configured ``agent_networks``."""
    if not address:
        return False
    try:
        ip = netaddr.IPAddress(address)
    except (netaddr.AddrFormatError, ValueError):
        return False
    return ip in _network_set(tuple(farm_config("agent_networks")))


def is_farm_admin(user: Any) -> bool:
    """Superusers and users with an admin role."""
    return bool(
        user and user.is_authenticated and getattr(user, "is_farm_admin", False)
    )


def _is_user(request: Request) -> bool:
    return bool(request.user and request.user.is_authenticated)


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
    """Agent-facing endpoints: agents (by network) and users alike."""

    message = "requests must come from an agent network or an authenticated user"

    def has_permission(self, request: Request, view: APIView) -> bool:
        """The agent network, or any authenticated user."""
        if farm_config("login_disabled") or _is_user(request):
            return True
        return is_agent_address(request.META.get("REMOTE_ADDR"))


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
        job = getattr(obj, "job", obj)
        owner_id = getattr(job, "user_id", None)
        return is_farm_admin(request.user) or (
            owner_id is not None and owner_id == request.user.pk
        )
