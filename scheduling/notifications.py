"""Queueing the farm's notification mails (`farm.services.notifications`).

A job that ended sends `farm.signals.jobs_ended` after its commit; the
receiver here queues one `send_job_completion_mail` per job. The deletion
task collects the deletion mails before the rows go and queues them after
its commit (`queue_mails`). With an empty ``smtp_server`` nothing is queued.

Queueing never fails the request or the task that ended or deleted the job:
a broker that cannot take the message is logged (one line per minute for an
outage, `pyfarm_site.outages`) and the mail is tried once more a few seconds
later (`RETRY_DELAY`), then dropped. Sending is the Celery task's business:
it retries with backoff while the mail server is down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from farm.services.notifications import JobMail, mail_enabled
from pyfarm_site.outages import is_outage
from scheduling.tasks.notifications import send_job_completion_mail, send_job_mail

__all__ = ["RETRY_DELAY", "on_jobs_ended", "queue_completion_mail", "queue_mails"]

logger = logging.getLogger(__name__)

#: Seconds after which a mail the broker did not take is queued once more.
RETRY_DELAY = 5.0


def _publish(what: str, send: Callable[[], Any], *, retry: bool = True) -> bool:
    """Queue one mail; log and retry once later when the broker refuses it."""
    try:
        send()
    except Exception as error:
        if is_outage(error):
            logger.warning("could not queue the %s: %s", what, error)
        else:
            logger.warning("could not queue the %s", what, exc_info=error)
        if retry:
            timer = threading.Timer(
                RETRY_DELAY, _publish, (what, send), {"retry": False}
            )
            timer.daemon = True
            timer.start()
        return False
    return True


def queue_completion_mail(job_id: int) -> bool:
    """Queue the mail telling a job's notified users that it ended."""
    return _publish(
        f"completion mail of job {job_id}",
        lambda: send_job_completion_mail.apply_async(args=(job_id,)),
    )


def queue_mails(mails: Sequence[JobMail]) -> int:
    """Queue rendered mails; returns how many the broker took."""
    return sum(
        _publish(f"mail {mail.subject!r}", partial(_queue_mail, mail)) for mail in mails
    )


def _queue_mail(mail: JobMail) -> None:
    send_job_mail.apply_async(args=(mail.to, mail.subject, mail.body))


def on_jobs_ended(sender: Any, *, job_ids: Sequence[int] = (), **kwargs: Any) -> None:
    """Receive `farm.signals.jobs_ended`: queue their completion mails."""
    if not mail_enabled():
        return
    for job_id in job_ids:
        queue_completion_mail(job_id)
