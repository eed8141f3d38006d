"""Ticks on events: the receiver of the farm's `work_changed` signal.

Besides beat's periodic tick, the scheduler ticks right after the events that
free work or agents (`farm.signals.notify_work_changed`, sent after commit).
The ticks are debounced across processes: the first event opens a window of
``assign_tasks_debounce`` and enqueues one tick due at its end; further
events within the window are covered by that tick. The window is a key added
with Django's cache ``add()`` (set only if absent), in the cache the master's
processes share (``settings.CACHES``: the broker's Redis, or a folder beside
the embedded broker's). The tick closes the window when it starts
(`scheduling.debounce.close_window`), before it reads the farm: an event
after that opens a new window, so none is left uncovered, and the window can
be shorter than the cache's one-second expiry, which only clears a window
whose tick was lost.
The file cache's ``add()`` is not atomic across processes: at worst a burst
causes two ticks, which is harmless, since ticks are race-free.

When the cache or the broker cannot be reached, the event is logged (one
line per minute, `pyfarm_site.outages`), its window is closed again so that
later events still tick, and the process tries again a few seconds later
(`RETRY_DELAYS`, one pending retry per process): a short outage delays the
tick by seconds. After a longer one, the worker resumes the scheduler as
soon as it is connected again (`scheduling.recovery`).
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

from django.core.cache import cache

from pyfarm_site.outages import is_outage
from scheduling.debounce import DEBOUNCE_KEY, debounce_seconds
from scheduling.tasks.planning import assign_tasks

logger = logging.getLogger(__name__)

#: Seconds after which a tick that could not be scheduled is tried again;
#: after the last, the worker's reconnection takes over.
RETRY_DELAYS = (3.0, 10.0)

_retry_lock = threading.Lock()
_retry_pending = False


def _forget_window() -> None:
    """Drop the window whose tick could not be sent, so that events still tick."""
    try:
        cache.delete(DEBOUNCE_KEY)
    except Exception as error:
        logger.debug("could not drop the tick debounce window: %s", error)


def _retry_later(reason: str, attempt: int) -> None:
    """Try to schedule the tick again in a while (once per process at a time)."""
    global _retry_pending
    if attempt >= len(RETRY_DELAYS):
        return
    with _retry_lock:
        if _retry_pending:
            return
        _retry_pending = True
    timer = threading.Timer(RETRY_DELAYS[attempt], _retry, (reason, attempt + 1))
    timer.daemon = True
    timer.start()


def _retry(reason: str, attempt: int) -> None:
    global _retry_pending
    with _retry_lock:
        _retry_pending = False
    schedule_tick(f"{reason}, retried", attempt=attempt)


def _not_scheduled(reason: str, error: Exception, attempt: int) -> None:
    """Log why a tick was not scheduled; retry later if a server was unreachable."""
    if not is_outage(error):
        logger.warning("could not schedule a tick (%s)", reason, exc_info=error)
        return
    # The error is an argument, so that the outage log filter counts these
    # lines rather than printing one per event.
    logger.warning("could not schedule a tick (%s): %s", reason, error)
    _retry_later(reason, attempt)


def schedule_tick(reason: str, *, attempt: int = 0) -> bool:
    """Enqueue a tick at the end of the debounce window, unless one is pending.

    Returns whether a tick was enqueued. A cache or broker that cannot be
    reached is logged and skipped, and tried again later: the change is
    committed already. A window whose tick could not be sent is closed
    again, so the next event tries anew. ``attempt`` counts the retries.
    """
    window = debounce_seconds()
    try:
        # The tick deletes the key when it starts; the expiry (whole seconds,
        # at least the window) only clears a window whose tick never ran.
        if not cache.add(DEBOUNCE_KEY, reason, timeout=max(math.ceil(window), 1) + 1):
            return False
    except Exception as error:
        _not_scheduled(reason, error, attempt)
        return False
    try:
        assign_tasks.apply_async(countdown=window)
    except Exception as error:
        _forget_window()
        _not_scheduled(reason, error, attempt)
        return False
    logger.debug("tick scheduled in %ss: %s", window, reason)
    return True


def on_work_changed(sender: Any, *, reason: str = "", **kwargs: Any) -> None:
    """Receive `farm.signals.work_changed`: schedule a debounced tick."""
    schedule_tick(reason)
