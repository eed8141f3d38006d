"""Signals the farm sends for other apps (the scheduler) to act on.

The farm does not know who listens: the scheduler connects its receivers in
its ``AppConfig.ready()``, which keeps ``farm`` free of scheduler imports.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

#: Work or agents were freed or added; the scheduler may have something to do.
#: Sent after the change commits, with ``reason`` (a short description).
work_changed = Signal()


def notify_work_changed(reason: str) -> None:
    """Send `work_changed` once the current transaction commits.

    Nothing is sent when it rolls back. Outside a transaction it is sent at
    once. ``robust``: a failing receiver is logged and never fails the
    request whose change already committed.
    """
    transaction.on_commit(
        lambda: work_changed.send(sender=None, reason=reason), robust=True
    )
