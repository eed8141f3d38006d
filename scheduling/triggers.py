"""Ticks on events: the receiver of the farm's `work_changed` signal.

Besides beat's periodic tick, the scheduler ticks right after the events that
free work or agents (`farm.signals.notify_work_changed`, sent after commit).
The ticks are debounced across processes: the first event opens a window of
``assign_tasks_debounce`` and enqueues one tick due at its end; further
events within the window are covered by that tick. The window is a key added
with Django's cache ``add()`` (set only if absent), in the cache the master's
processes share (``settings.CACHES``: the broker's Redis, or a folder beside
the embedded broker's). The tick closes the window when it starts
(`close_window`), before it reads the farm: an event after that opens a new
window, so none is left uncovered, and the window can be shorter than the
cache's one-second expiry, which only clears a window whose tick was lost.
The file cache's ``add()`` is not atomic across processes: at worst a burst
causes two ticks, which is harmless, since ticks are race-free.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.cache import cache

from pyfarm_site.conf import farm_config
from pyfarm_site.config import as_timedelta
from scheduling.tasks.planning import assign_tasks

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


def schedule_tick(reason: str) -> bool:
    """Enqueue a tick at the end of the debounce window, unless one is pending.

    Returns whether a tick was enqueued. A cache or broker that cannot be
    reached is logged and skipped: the change is committed already, and
    beat's periodic tick will pick the work up.
    """
    window = debounce_seconds()
    try:
        # The tick deletes the key when it starts; the expiry (whole seconds,
        # at least the window) only clears a window whose tick never ran.
        if not cache.add(DEBOUNCE_KEY, reason, timeout=max(math.ceil(window), 1) + 1):
            return False
        assign_tasks.apply_async(countdown=window)
    except Exception:
        logger.warning("could not schedule a tick (%s)", reason, exc_info=True)
        return False
    logger.debug("tick scheduled in %ss: %s", window, reason)
    return True


def on_work_changed(sender: Any, *, reason: str = "", **kwargs: Any) -> None:
    """Receive `farm.signals.work_changed`: schedule a debounced tick."""
    schedule_tick(reason)
