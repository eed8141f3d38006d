"""``manage.py runmaster``: the original ``pyfarm-master`` command."""

from __future__ import annotations

import errno
import os
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import InterfaceError, OperationalError, connection

from pyfarm_site.cli import describe_database_error
from pyfarm_site.conf import farm_config
from pyfarm_site.processes import ProcessGroup, ProcessSpec
from pyfarm_site.tables import (
    check_drop_confirmation,
    create_all_tables,
    drop_all_tables,
)

#: Worker processes of the Celery worker: scheduler tasks are short and wait
#: mostly on the database and on agents, so a few run side by side.
DEFAULT_CONCURRENCY = 4

#: Threads of each gunicorn worker process (gunicorn's gthread worker).
WEB_THREADS = 4

#: Seconds gunicorn keeps an idle connection open for the client's next
#: request. The agents talk through Twisted's connection pool (treq), which
#: keeps an idle connection for reuse for up to 240 s
#: (``HTTPConnectionPool.cachedConnectionTimeout``) and reports a task's
#: progress a few seconds apart. Gunicorn's default of 2 s closed connections
#: just as agents reused them (``ResponseNeverReceived``). Longer than the
#: pool's 240 s, the agent is the one that closes an idle connection, so a
#: request never meets a connection that the server is closing. Idle
#: connections wait in the worker's poller, not in a thread.
WEB_KEEP_ALIVE = 300


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
            # The threaded worker: the only one of gunicorn's own that keeps
            # connections alive (the sync worker closes each one).
            "--worker-class",
            "gthread",
            "--threads",
            str(WEB_THREADS),
            "--keep-alive",
            str(WEB_KEEP_ALIVE),
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


def check_listen_address(bind: str) -> None:
    """Refuse to start when ``bind`` (``ADDRESS:PORT``) cannot be listened on.

    The web server would otherwise fail in a loop, restarted by the
    supervisor, instead of saying once what is wrong.
    """
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit():
        raise CommandError(f"--bind {bind}: expected ADDRESS:PORT")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, int(port)))
    except OSError as error:
        reason = error.strerror or str(error)
        hint = (
            "; is another master running? Choose another port in base_url "
            "(PYFARM_BASE_URL) or with --bind"
            if error.errno == errno.EADDRINUSE
            else "; check flask_listen_address and base_url, or --bind"
        )
        raise CommandError(f"cannot listen on {bind}: {reason}{hint}") from None


def check_database() -> None:
    """Connect to the database once, so that an unreachable one stops start-up."""
    try:
        connection.ensure_connection()
    except (OperationalError, InterfaceError) as error:
        raise CommandError(describe_database_error(error)) from None


class Command(BaseCommand):
    """Run the master: prepare the database, then serve until stopped."""

    help = (
        "Runs the PyFarm master: the web server (a WSGI server unless --dev), "
        "a Celery worker and beat, supervised: a child that exits is started "
        "again; SIGTERM, SIGHUP, SIGQUIT or Ctrl+C stops them all."
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
            help="The database's name (for SQLite, its file name); "
            "required with --drop-all.",
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
            check_drop_confirmation(options["confirm_drop"])
        bind = options["bind"] or listen_address()
        check_listen_address(bind)
        check_database()
        if drop:
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
        # Static files are served by WhiteNoise from the collected folder,
        # which the development server uses too when debug is off.
        call_command("collectstatic", interactive=False, verbosity=0)
        specs = master_processes(
            bind=bind,
            dev=options["dev"],
            workers=options["workers"],
            scheduler=not options["no_scheduler"],
            concurrency=options["concurrency"],
        )
        self.stdout.write(f"PyFarm master on http://{bind}/ (Ctrl+C to stop)")
        self.stdout.flush()
        ProcessGroup(specs, env=env).run()
