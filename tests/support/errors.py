"""Database errors as Django raises them: its own error around the driver's."""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg.errors
from django.db.utils import InterfaceError, OperationalError


def wrapped(cause: Exception) -> OperationalError:
    """Django's OperationalError raised from the driver's ``cause`` (as
    ``DatabaseErrorWrapper`` does: same arguments, ``__cause__`` set)."""
    try:
        raise OperationalError(*cause.args) from cause
    except OperationalError as error:
        return error


def sqlite_error(message: str) -> OperationalError:
    """Django's OperationalError around SQLite's, with ``message``."""
    return wrapped(sqlite3.OperationalError(message))


def sqlite_missing_table() -> OperationalError:
    """A real "no such table" from SQLite."""
    try:
        sqlite3.connect(":memory:").execute("SELECT * FROM missing")
    except sqlite3.OperationalError as error:
        return wrapped(error)
    raise AssertionError("SQLite found a table that does not exist")


def postgresql_refused(
    message: str = "connection failed: Connection refused",
) -> OperationalError:
    """libpq's refused connection (no SQLSTATE), as psycopg raises it."""
    return wrapped(psycopg.OperationalError(message))


def postgresql_error(state: str) -> OperationalError:
    """Django's OperationalError around psycopg's error of SQLSTATE ``state``."""
    return wrapped(psycopg.errors.lookup(state)(f"error {state}"))


def connection_closed() -> InterfaceError:
    """Django's own "connection already closed"."""
    return InterfaceError("connection already closed")
