"""Ticks on events: the receiver of the farm's `work_changed` signal.

Besides beat's periodic tick, the scheduler ticks right after the events that
free work or agents (`farm.signals.notify_work_changed`, sent after commit).
An isolated event ticks at once; a burst is coalesced across processes
(`scheduling.debounce`): the first event opens a window of
``assign_tasks_debounce`` and enqueues a tick that runs at once (the leading
edge); the events that come until that tick starts are covered by it; the
first event after it started enqueues one tick due at the window's end (the
trailing edge), which covers the events until it starts in turn. An event
after the window's end opens a new window. So there are at most two ticks
per window, and at most one tick enqueued and not yet started at any time.
Every tick deletes the pending mark as it starts, before it reads the farm
(`scheduling.debounce.tick_started`): an event is either covered by a tick
that has not read the farm yet or enqueues one, so none is left uncovered.
The processes agree through the cache they share (``settings.CACHES``: the
broker's Redis, or a folder beside the embedded broker's). The file cache's
``add()`` is not atomic across processes: at worst a burst causes an extra
tick, which is harmless, since ticks are race-free.

When the cache or the broker cannot be reached, the event is logged (one
line per minute, `pyfarm_site.outages`), its pending mark is dropped again so
that later events still tick, and the process tries again a few seconds later
(`RETRY_DELAYS`, one pending retry per process): a short outage delays the
tick by seconds. After a longer one, the worker resumes the scheduler as
soon as it is connected again (`scheduling.recovery`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.core.cache import cache

from pyfarm_site.outages import is_outage
from scheduling.debounce import (
    PENDING_KEY,
    debounce_seconds,
    key_expiry,
    tick_countdown,
)
from scheduling.tasks.planning import assign_tasks

logger = logging.getLogger(__name__)

#: Seconds after which a tick that could not be scheduled is tried again;
#: after the last, the worker's reconnection takes over.
RETRY_DELAYS = (3.0, 10.0)

_retry_lock = threading.Lock()
_retry_pending = False


def _forget_pending() -> None:
    """Drop the mark of a tick that could not be sent, so that events still tick."""
    try:
        cache.delete(PENDING_KEY)
    except Exception as error:
        logger.debug("could not drop the pending tick mark: %s", error)


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
    """Enqueue a tick for an event, unless a tick not yet started covers it.

    The tick runs at once when no debounce window is open, else at the
    window's end (`scheduling.debounce.tick_countdown`). Returns whether a
    tick was enqueued. A cache or broker that cannot be reached is logged
    and skipped, and tried again later: the change is committed already. A
    tick that could not be sent leaves no pending mark, so the next event
    tries anew. ``attempt`` counts the retries.
    """
    window = debounce_seconds()
    try:
        if not cache.add(PENDING_KEY, reason, timeout=key_expiry(window)):
            return False
    except Exception as error:
        _not_scheduled(reason, error, attempt)
        return False
    try:
        countdown = tick_countdown(window)
        if countdown:
            assign_tasks.apply_async(countdown=countdown)
        else:
            assign_tasks.apply_async()
    except Exception as error:
        _forget_pending()
        _not_scheduled(reason, error, attempt)
        return False
    logger.debug("tick scheduled in %ss: %s", countdown, reason)
    return True


def on_work_changed(sender: Any, *, reason: str = "", **kwargs: Any) -> None:
    """Receive `farm.signals.work_changed`: schedule a debounced tick."""
    schedule_tick(reason)
