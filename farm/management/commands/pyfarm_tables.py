"""``manage.py pyfarm_tables``: the original ``pyfarm-tables`` command."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pyfarm_site.tables import (
    check_drop_confirmation,
    create_all_tables,
    drop_all_tables,
    echo_sql,
)


class Command(BaseCommand):
    """Create PyFarm's tables, optionally dropping every table first.

    Dropping asks for the database's name (``--confirm-drop``), as
    ``runmaster --drop-all`` does.
    """

    help = "Creates PyFarm's tables (applies the migrations)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--echo", action="store_true", help="Echo the SQL statements being run."
        )
        parser.add_argument(
            "--drop-all",
            action="store_true",
            help="Drop every table before the tables are created.",
        )
        parser.add_argument(
            "--confirm-drop",
            metavar="NAME",
            help="The database's name (for SQLite, its file name); "
            "required with --drop-all.",
        )
        parser.add_argument(
            "--no-create-tables",
            action="store_true",
            help="Do not create any table.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        if options["drop_all"]:
            check_drop_confirmation(options["confirm_drop"])
        with echo_sql(self.stdout) if options["echo"] else nullcontext():
            if options["drop_all"]:
                dropped = drop_all_tables(
                    verbosity=max(verbosity - 1, 0), stdout=self.stdout
                )
                self.stdout.write(
                    f"Dropped the tables of: {', '.join(dropped) or 'nothing'}"
                )
            if not options["no_create_tables"]:
                create_all_tables(verbosity=max(verbosity - 1, 0), stdout=self.stdout)
                self.stdout.write("Tables are created and up to date.")
