"""Celery tasks of the scheduling app, one module per area."""

from scheduling.tasks import maintenance, planning, polling, sending  # noqa: F401
