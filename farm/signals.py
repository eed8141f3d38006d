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


#: Jobs ended (done or failed) and claimed their completion mail. Sent after
#: the change commits, with ``job_ids``.
jobs_ended = Signal()


def notify_jobs_ended(job_ids: list[int]) -> None:
    """Send `jobs_ended` once the current transaction commits (``robust``)."""
    ids = list(job_ids)
    transaction.on_commit(
        lambda: jobs_ended.send(sender=None, job_ids=ids), robust=True
    )
