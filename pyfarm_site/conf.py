"""Read access to the farm's configuration for the apps.

The configuration is loaded once by the settings (``settings.PYFARM``); code
reads it through `farm_config` so that tests can change a value with the
``settings`` fixture. The ``default_*`` functions are field defaults: they are
module-level so that migrations can reference them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


def farm_config(key: str) -> Any:
    """Return one configuration value; an unknown key is a programming error."""
    return settings.PYFARM[key]


def default_agent_ram_allocation() -> float:
    """Default share of an agent's RAM that work may use."""
    return float(farm_config("agent_ram_allocation"))


def default_agent_cpu_allocation() -> float:
    """Default share of an agent's CPUs that work may use."""
    return float(farm_config("agent_cpu_allocation"))


def default_job_batch() -> int:
    """Default batch size of a new job."""
    return int(farm_config("job_default_batch"))


def default_job_requeue() -> int:
    """Default number of requeues of failed tasks of a new job."""
    return int(farm_config("job_requeue_default"))


def default_job_cpus() -> int:
    """Default CPUs a task of a new job needs."""
    return int(farm_config("job_default_cpus"))


def default_job_ram() -> int:
    """Default RAM (MB) a task of a new job needs."""
    return int(farm_config("job_default_ram"))


def default_job_weight() -> int:
    """Default weight of a new job (models.yml ``queue_default_weight``)."""
    return int(farm_config("queue_default_weight"))


def default_queue_priority() -> int:
    """Default priority of a new job queue."""
    return int(farm_config("queue_default_priority"))


def default_queue_weight() -> int:
    """Default weight of a new job queue."""
    return int(farm_config("queue_default_weight"))


def default_jobtype_max_batch() -> int:
    """Default maximum batch of a new job type version."""
    return int(farm_config("job_type_max_batch"))


def default_jobtype_batch_contiguous() -> bool:
    """Whether a new job type version batches contiguous frames by default."""
    return bool(farm_config("job_type_batch_contiguous"))
