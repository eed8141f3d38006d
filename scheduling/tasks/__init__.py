"""Celery tasks of the scheduling app, one module per area."""

from scheduling.tasks import (  # noqa: F401
    maintenance,
    notifications,
    planning,
    polling,
    sending,
    software,
    stopping,
)
