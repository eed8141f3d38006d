"""The debounce window of event-driven ticks, shared by events and the tick.

An event opens the window (`scheduling.triggers.schedule_tick` adds
`DEBOUNCE_KEY` to Django's cache) and enqueues the tick that covers it; the
tick (`scheduling.tasks.planning.assign_tasks`) closes it as it starts
(`close_window`). Both sides import this module rather than each other.
"""

from __future__ import annotations

import logging

from django.core.cache import cache

from pyfarm_site.conf import farm_config
from pyfarm_site.config import as_timedelta

__all__ = ["DEBOUNCE_KEY", "close_window", "debounce_seconds"]

logger = logging.getLogger(__name__)

#: The cache key that marks an open debounce window.
DEBOUNCE_KEY = "scheduling:assign_tasks:debounce"


def debounce_seconds() -> float:
    """The debounce window of event-driven ticks, in seconds."""
    key = "assign_tasks_debounce"
    return as_timedelta(key, farm_config(key)).total_seconds()


def close_window() -> None:
    """End the open debounce window: the tick that covers it is starting."""
    try:
        cache.delete(DEBOUNCE_KEY)
    except Exception:
        logger.warning("could not close the tick debounce window", exc_info=True)
