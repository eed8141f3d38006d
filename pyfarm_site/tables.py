"""Creating and dropping the master's tables (``pyfarm_tables``, ``runmaster``).

Tables are created by Django's migrations; dropping them means unapplying
every migration, so that the migration history stays true and a later
``migrate`` rebuilds exactly what the code describes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from django.core.management import call_command
from django.core.management.base import CommandError, OutputWrapper
from django.db import connection
from django.db.migrations.loader import MigrationLoader


def create_all_tables(
    *, verbosity: int = 0, stdout: TextIO | OutputWrapper | None = None
) -> None:
    """Create every missing table by applying the migrations."""
    call_command("migrate", interactive=False, verbosity=verbosity, stdout=stdout)


def drop_all_tables(
    *, verbosity: int = 0, stdout: TextIO | OutputWrapper | None = None
) -> list[str]:
    """Drop every table of every app by unapplying its migrations.

    Returns the labels of the apps whose tables were dropped. Unapplying one
    app's migrations first unapplies those of the apps that depend on it, so
    the order of the loop does not matter.
    """
    loader = MigrationLoader(connection)
    dropped = sorted(
        {app for app, _ in loader.applied_migrations} & set(loader.migrated_apps)
    )
    for label in dropped:
        loader = MigrationLoader(connection)
        if any(app == label for app, _ in loader.applied_migrations):
            call_command(
                "migrate",
                label,
                "zero",
                interactive=False,
                verbosity=verbosity,
                stdout=stdout,
            )
    return dropped


def database_name() -> str:
    """The name of the default database (a file path for SQLite)."""
    return str(connection.settings_dict["NAME"])


def check_drop_confirmation(confirm: str | None) -> None:
    """Refuse to drop the tables unless ``confirm`` repeats the database's name.

    The name may be given whole or, for an SQLite file, as its file name.
    """
    name = database_name()
    if confirm not in {name, Path(name).name}:
        raise CommandError(
            f"--drop-all deletes every table of {name!r}: "
            f"repeat its name with --confirm-drop {Path(name).name}"
        )


@contextmanager
def echo_sql(stream: TextIO | OutputWrapper) -> Iterator[None]:
    """Write every SQL statement run inside the block to ``stream``."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(sql)s"))
    handler.addFilter(lambda record: hasattr(record, "sql"))
    loggers = [
        logging.getLogger(name)
        for name in ("django.db.backends", "django.db.backends.schema")
    ]
    levels = [logger.level for logger in loggers]
    forced = connection.force_debug_cursor
    connection.force_debug_cursor = True
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        connection.force_debug_cursor = forced
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
