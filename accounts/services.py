"""Workflows of the accounts app."""

from __future__ import annotations

from django.db import connection, transaction

from accounts.models import User


class SetupAlreadyDone(Exception):
    """Raised when the first admin is asked for while users already exist."""


def create_first_admin(*, username: str, email: str, password: str) -> User:
    """Create the farm's first admin; refused once any user exists.

    Two browsers submitting the setup form at once must not both succeed, so
    the check and the insert run under a lock: on PostgreSQL an exclusive
    lock on the users table, on SQLite the write lock its IMMEDIATE
    transactions take at BEGIN.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {User._meta.db_table} IN EXCLUSIVE MODE")
        if User.objects.exists():
            raise SetupAlreadyDone("the farm already has users")
        return User.objects.create_superuser(
            username=username, email=email, password=password
        )
