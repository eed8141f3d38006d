"""The debounce of event-driven ticks, shared by events and the tick.

Two keys in Django's cache (the one the master's processes share):

- `PENDING_KEY`, present while a tick is enqueued that has not started yet.
  An event adds it (``add()``: set only if absent) and enqueues that tick
  (`scheduling.triggers.schedule_tick`); an event that finds it is covered
  by that tick. Every tick deletes it as it starts, before it reads the farm
  (`tick_started`, called by `scheduling.tasks.planning.assign_tasks`), so
  an event from then on enqueues a tick of its own. Its expiry only clears
  the mark of a tick that was lost.
- `WINDOW_KEY`, the time (``time.time()``) at which the current window of
  ``assign_tasks_debounce`` opened. An event that enqueues a tick when no
  window is open opens one, and its tick runs at once (the leading edge);
  an event that enqueues a tick during a window gets a tick due at the
  window's end (the trailing edge). The window is a timestamp rather than a
  key's expiry because Redis's expiries (as Django sets them) are whole
  seconds.

Both sides import this module rather than each other.
"""

from __future__ import annotations

import logging
import math
import time

from django.core.cache import cache

from pyfarm_site.conf import farm_config
from pyfarm_site.config import as_timedelta

__all__ = [
    "PENDING_KEY",
    "WINDOW_KEY",
    "debounce_seconds",
    "key_expiry",
    "tick_countdown",
    "tick_started",
]

logger = logging.getLogger(__name__)

#: The cache key that marks an enqueued tick that has not started yet.
PENDING_KEY = "scheduling:assign_tasks:pending"
#: The cache key that holds when the current debounce window opened.
WINDOW_KEY = "scheduling:assign_tasks:window"


def debounce_seconds() -> float:
    """The debounce window of event-driven ticks, in seconds."""
    key = "assign_tasks_debounce"
    return as_timedelta(key, farm_config(key)).total_seconds()


def key_expiry(window: float) -> int:
    """The keys' expiry: whole seconds (as Redis has them), past the window."""
    return max(math.ceil(window), 1) + 1


def tick_countdown(window: float) -> float:
    """Seconds until the tick an event enqueues is due; opens a window if none is.

    0 when no window is open: the window opens now and the tick runs at
    once. Within a window: the time left until its end. Called only by the
    event that added `PENDING_KEY`, so one process at a time (two at worst
    with the file cache, whose ``add()`` is not atomic across processes).
    Cache errors propagate.
    """
    now = time.time()
    opened = cache.get(WINDOW_KEY)
    if isinstance(opened, int | float) and opened <= now < opened + window:
        return round(opened + window - now, 3)
    cache.set(WINDOW_KEY, now, timeout=key_expiry(window))
    return 0.0


def tick_started() -> None:
    """A tick is starting: the events until now are covered by it.

    Deletes `PENDING_KEY`, so that the next event enqueues a tick of its
    own. The window stays as it is.
    """
    try:
        cache.delete(PENDING_KEY)
    except Exception:
        logger.warning("could not clear the pending tick mark", exc_info=True)
