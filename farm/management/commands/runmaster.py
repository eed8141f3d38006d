"""``manage.py runmaster``: the original ``pyfarm-master`` command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pyfarm_site.conf import farm_config
from pyfarm_site.processes import ProcessGroup, ProcessSpec
from pyfarm_site.tables import create_all_tables, database_name, drop_all_tables

#: Worker processes of the Celery worker: scheduler tasks are short and wait
#: mostly on the database and on agents, so a few run side by side.
DEFAULT_CONCURRENCY = 4


def listen_address() -> str:
    """``flask_listen_address`` with the port of ``base_url`` (5000 by default)."""
    port = urlsplit(farm_config("base_url")).port or 5000
    return f"{farm_config('flask_listen_address')}:{port}"


def master_processes(
    *,
    bind: str,
    dev: bool,
    workers: int,
    scheduler: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[ProcessSpec]:
    """The processes of the master: the web server, then a Celery worker and beat.

    Without ``scheduler``, only the web server (the worker and beat then run
    elsewhere, e.g. on another host with the same configuration).
    """
    manage = str(settings.BASE_DIR / "manage.py")
    if dev:
        web = [sys.executable, manage, "runserver", bind]
    else:
        web = [
            sys.executable,
            "-m",
            "gunicorn",
            "pyfarm_site.wsgi:application",
            "--bind",
            bind,
            "--workers",
            str(workers),
            "--threads",
            "4",
            "--access-logfile",
            "-",
            "--chdir",
            str(settings.BASE_DIR),
        ]
    specs = [ProcessSpec("web", web)]
    if scheduler:
        celery = [sys.executable, "-m", "celery", "-A", "pyfarm_site"]
        specs += [
            ProcessSpec(
                "worker",
                [
                    *celery,
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    str(concurrency),
                ],
            ),
            ProcessSpec(
                "beat",
                [
                    *celery,
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--scheduler",
                    "django_celery_beat.schedulers:DatabaseScheduler",
                ],
            ),
        ]
    return specs


class Command(BaseCommand):
    """Run the master: prepare the database, then serve until stopped."""

    help = (
        "Runs the PyFarm master: the web server (a WSGI server unless --dev), "
        "a Celery worker and beat, started and stopped together."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "-D",
            "--drop-all",
            action="store_true",
            help="Drop the existing tables before starting.",
        )
        parser.add_argument(
            "-C",
            "--create-all",
            action="store_true",
            help="Create all tables before starting.",
        )
        parser.add_argument(
            "--confirm-drop",
            metavar="NAME",
            help="The database's name; required with --drop-all.",
        )
        parser.add_argument(
            "--allow-agent-loopback-addresses",
            action="store_true",
            help="Accept agents on loopback addresses (development).",
        )
        parser.add_argument(
            "--bind",
            help="ADDRESS:PORT to listen on (default: from the configuration).",
        )
        parser.add_argument(
            "--workers", type=int, default=2, help="WSGI worker processes (default 2)."
        )
        parser.add_argument(
            "--dev",
            action="store_true",
            help="Use Django's development server instead.",
        )
        parser.add_argument(
            "--no-scheduler",
            action="store_true",
            help="Run the web server only, without the Celery worker and beat.",
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            default=DEFAULT_CONCURRENCY,
            help=f"Processes of the Celery worker (default {DEFAULT_CONCURRENCY}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        if options["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1")
        drop = options["drop_all"] or farm_config("dev_db_drop_all")
        create = options["create_all"] or farm_config("dev_db_create_all") or drop
        if drop:
            name = database_name()
            confirm = options["confirm_drop"]
            if confirm not in {name, Path(name).name}:
                raise CommandError(
                    f"--drop-all deletes every table of {name!r}: "
                    f"repeat its name with --confirm-drop {Path(name).name}"
                )
            dropped = drop_all_tables()
            self.stdout.write(
                f"Dropped the tables of: {', '.join(dropped) or 'nothing'}"
            )
        if create:
            create_all_tables()
            self.stdout.write("Tables are created and up to date.")
            call_command("setup_periodic_tasks", stdout=self.stdout)

        env = dict(os.environ)
        if options["allow_agent_loopback_addresses"]:
            env["PYFARM_DEV_ALLOW_AGENT_LOOPBACK_ADDRESSES"] = "true"
        if not options["dev"]:
            call_command("collectstatic", interactive=False, verbosity=0)
        bind = options["bind"] or listen_address()
        specs = master_processes(
            bind=bind,
            dev=options["dev"],
            workers=options["workers"],
            scheduler=not options["no_scheduler"],
            concurrency=options["concurrency"],
        )
        self.stdout.write(f"PyFarm master on http://{bind}/ (Ctrl+C to stop)")
        self.stdout.flush()
        code = ProcessGroup(specs, env=env).run()
        if code:
            raise CommandError(
                f"the master stopped with exit code {code}", returncode=code
            )
