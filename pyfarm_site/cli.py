"""The command line: ``manage.py`` and the console scripts (see setup.cfg).

`main` runs a management command as Django does, except that a start-up error
(a bad configuration value, a database that cannot be reached or opened) is
printed as one line naming the key or file, instead of a traceback;
``--traceback`` shows the traceback as well. Any other database error (a
missing table, a deadlock) keeps its traceback: it is no configuration
problem (`pyfarm_site.outages.is_database_outage`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management import execute_from_command_line


def one_line(text: str) -> str:
    """``text`` with every run of whitespace, newlines included, as one space."""
    return " ".join(text.split())


def describe_database_error(error: Exception) -> str:
    """What went wrong with the configured (``database``) database, in a line."""
    from django.db import connections

    database = connections["default"].settings_dict
    reason = one_line(str(error)) or type(error).__name__
    if database["ENGINE"] == "django.db.backends.sqlite3":
        name = str(database["NAME"])
        return f"database: cannot use the SQLite database {name}: {reason}" + (
            sqlite_hint(name)
        )
    where = f"{database.get('HOST') or 'localhost'}:{database.get('PORT') or 5432}"
    return (
        f"database: cannot use the PostgreSQL database {database['NAME']} "
        f"on {where}: {reason}"
    )


def sqlite_hint(name: str) -> str:
    """Why an SQLite file cannot be used, when the file system says so."""
    if not name or name == ":memory:" or name.startswith("file:"):
        return ""
    path = Path(name)
    folder = path.parent
    if not folder.is_dir():
        return f" (the folder {folder} does not exist)"
    if path.is_dir():
        return " (it is a folder)"
    if not os.access(folder, os.W_OK):
        return f" (the folder {folder} is not writable)"
    if path.exists() and not os.access(path, os.W_OK):
        return " (the file is not writable)"
    return ""


def main(argv: Sequence[str] | None = None) -> None:
    """Run the management command of ``argv`` (default: ``sys.argv``)."""
    from django.db import InterfaceError, OperationalError

    from pyfarm_site.outages import is_database_outage

    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")
    try:
        execute_from_command_line(argv)
    except ImproperlyConfigured as error:
        if "--traceback" in argv:
            raise
        fail(f"configuration: {one_line(str(error))}")
    except (OperationalError, InterfaceError) as error:
        if "--traceback" in argv or not is_database_outage(error):
            raise
        fail(describe_database_error(error))


def fail(message: str) -> None:
    """Print one error line on stderr and exit with status 1."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(1)


def _run(command: str) -> None:
    main([sys.argv[0], command, *sys.argv[1:]])


def run_master() -> None:
    """``pyfarm-master``: ``manage.py runmaster`` with the same options."""
    _run("runmaster")


def tables() -> None:
    """``pyfarm-tables``: ``manage.py pyfarm_tables`` with the same options."""
    _run("pyfarm_tables")
