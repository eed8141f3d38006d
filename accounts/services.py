"""Workflows of the accounts app."""

from __future__ import annotations

import secrets
from typing import TypedDict

from django.db import connection, transaction
from django.db.models import QuerySet

from accounts.models import (
    API_KEY_PREFIX,
    API_KEY_SHOWN_CHARS,
    ApiToken,
    User,
    api_key_digest,
)

__all__ = [
    "NotificationDefaults",
    "SetupAlreadyDone",
    "create_first_admin",
    "create_token",
    "notification_defaults",
    "revoke_token",
    "revoke_tokens",
    "set_notification_defaults",
]


class SetupAlreadyDone(Exception):
    """Raised when the first admin is asked for while users already exist."""


def create_first_admin(*, username: str, email: str, password: str) -> User:
    """Create the farm's first admin; refused once any user exists.

    Two browsers submitting the setup form at once must not both succeed, so
    the check and the insert run under a lock: on PostgreSQL an exclusive
    lock on the users table, on SQLite the write lock its IMMEDIATE
    transactions take at BEGIN. The fields are validated as the setup form
    validates them (``max_username_length``, ``max_email_length``).
    """
    User(username=username, email=email).clean_fields(exclude=["password"])
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {User._meta.db_table} IN EXCLUSIVE MODE")
        if User.objects.exists():
            raise SetupAlreadyDone("the farm already has users")
        return User.objects.create_superuser(
            username=username, email=email, password=password
        )


def create_token(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Give ``user`` a new API token named ``name``; returns it and its key.

    The key is returned this once: only its SHA-256 is stored, so nobody,
    not even an admin, can read it back later.
    """
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=key[:API_KEY_SHOWN_CHARS],
        digest=api_key_digest(key),
    )
    return token, key


def revoke_token(*, user: User, token_id: int) -> bool:
    """Revoke ``user``'s token ``token_id``; False if they have no such token.

    A token of another user is left alone, as if it did not exist.
    """
    deleted, _ = ApiToken.objects.filter(pk=token_id, user=user).delete()
    return bool(deleted)


def revoke_tokens(*, tokens: QuerySet[ApiToken]) -> int:
    """Revoke every token of ``tokens`` (the admin's action); returns how many."""
    deleted, _ = tokens.delete()
    return deleted


class NotificationDefaults(TypedDict):
    """When a user wants an email about a job they are told about.

    The keys are `farm.models.JobNotifiedUser`'s fields, so that
    ``JobNotifiedUser(job=job, user=user, **notification_defaults(user))``
    subscribes a user as they asked.
    """

    on_success: bool
    on_failure: bool
    on_deletion: bool


def notification_defaults(user: User) -> NotificationDefaults:
    """The events ``user`` wants to hear about when added to a job's users."""
    return NotificationDefaults(
        on_success=user.notify_on_success,
        on_failure=user.notify_on_failure,
        on_deletion=user.notify_on_deletion,
    )


def set_notification_defaults(
    *, user: User, on_success: bool, on_failure: bool, on_deletion: bool
) -> None:
    """Store ``user``'s notification defaults (jobs already subscribed keep theirs)."""
    user.notify_on_success = on_success
    user.notify_on_failure = on_failure
    user.notify_on_deletion = on_deletion
    user.save(
        update_fields=["notify_on_success", "notify_on_failure", "notify_on_deletion"]
    )
