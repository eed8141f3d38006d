"""Console scripts ``pyfarm-master`` and ``pyfarm-tables`` (see setup.cfg)."""

from __future__ import annotations

import os
import sys

from django.core.management import execute_from_command_line


def _run(command: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pyfarm_site.settings")
    execute_from_command_line([sys.argv[0], command, *sys.argv[1:]])


def run_master() -> None:
    """``pyfarm-master``: ``manage.py runmaster`` with the same options."""
    _run("runmaster")


def tables() -> None:
    """``pyfarm-tables``: ``manage.py pyfarm_tables`` with the same options."""
    _run("pyfarm_tables")
