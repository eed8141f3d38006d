"""Who may name a user as the owner of a job or a job group.

Farm admins act in every user's name; other users name only themselves.
The services that take an owner's name (`farm.services.submission`,
`farm.services.queues`) refuse the rest with `refuse_other_owner`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

__all__ = ["acts_for_others", "is_farm_admin", "may_change_job", "refuse_other_owner"]


def is_farm_admin(user: Any) -> bool:
    """Superusers and users with an admin role (``root`` or ``admin``)."""
    return bool(
        user and user.is_authenticated and getattr(user, "is_farm_admin", False)
    )


def may_change_job(user: Any, job: Any) -> bool:
    """Whether ``user`` may change ``job`` (or a task's job): its owner or a farm admin.

    A job without an owner is changed by farm admins only.
    """
    job = getattr(job, "job", job)
    owner_id = getattr(job, "user_id", None)
    return is_farm_admin(user) or (
        owner_id is not None
        and bool(user and user.is_authenticated)
        and owner_id == user.pk
    )


def acts_for_others(user: Any) -> bool:
    """Whether ``user`` may act in other users' names: a farm admin, or nobody.

    No user means the caller is the farm itself (a command, the admin site's
    own checks, ``login_disabled`` without an admin): trusted code.
    """
    return user is None or bool(getattr(user, "is_farm_admin", False))


def refuse_other_owner(username: str | None, user: Any, *, refusal: str) -> None:
    """PermissionDenied when ``user`` (no farm admin) names another owner.

    ``refusal`` is the error; it may name the owner asked for
    (``{username!r}``) and the user's own name (``{own!r}``).
    """
    # The names first: naming oneself costs no look-up of the user's roles.
    if user is None or username == user.get_username() or acts_for_others(user):
        return
    raise PermissionDenied(refusal.format(username=username, own=user.get_username()))
