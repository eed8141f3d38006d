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


#: Tasks that were taken back from their agents (their job was paused) must be
#: stopped there. Sent after the change commits, with ``stops``:
#: ``{agent_id: [task_id, ...]}``.
tasks_to_stop = Signal()


def request_task_stops(stops: dict[str, list[int]]) -> None:
    """Send `tasks_to_stop` for ``stops`` once the current transaction commits.

    Nothing is sent for an empty ``stops`` or when the transaction rolls
    back. ``robust``: a failing receiver (a broker that is down) is logged
    and never fails the change that already committed; the tasks are no
    longer the agents' own, so their next poll stops them anyway.
    """
    if stops:
        transaction.on_commit(
            lambda: tasks_to_stop.send(sender=None, stops=stops), robust=True
        )
