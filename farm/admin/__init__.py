"""The farm's admin, one module per area; importing them registers the admins."""

from farm.admin import (  # noqa: F401
    agents,
    jobs,
    jobtypes,
    logs,
    queues,
    software,
    statistics,
    tags,
    tasks,
)
