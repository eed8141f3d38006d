"""Celery tasks that send the farm's notification mails.

A mail server that is down or refuses a message for now (an SMTP error, a
refused or timed-out connection) delays the mail: the task is retried with
exponential backoff (`RETRY_BACKOFF` seconds doubling up to
`RETRY_BACKOFF_MAX`, with jitter) at most `MAX_RETRIES` times, then given up
and logged by the worker.
"""

from __future__ import annotations

import smtplib

from celery import shared_task
from django.core.mail import EmailMessage

from farm.services.notifications import JobMail, completion_mail
from pyfarm_site.conf import farm_config

__all__ = [
    "MAIL_ERRORS",
    "MAX_RETRIES",
    "send_job_completion_mail",
    "send_job_mail",
]

#: Errors of a mail server that is down or busy: the send is retried.
#: (``socket`` errors are ``OSError``s; so are refused and timed-out connections.)
MAIL_ERRORS: tuple[type[BaseException], ...] = (smtplib.SMTPException, OSError)
MAX_RETRIES = 10
RETRY_BACKOFF = 30
RETRY_BACKOFF_MAX = 3600

_RETRY_POLICY = {
    "autoretry_for": MAIL_ERRORS,
    "retry_backoff": RETRY_BACKOFF,
    "retry_backoff_max": RETRY_BACKOFF_MAX,
    "retry_jitter": True,
    "max_retries": MAX_RETRIES,
    "ignore_result": True,
}


def _send(mail: JobMail) -> int:
    """Send one mail with Django's email backend; returns 1 when sent."""
    message = EmailMessage(
        subject=mail.subject,
        body=mail.body,
        from_email=farm_config("from_email"),
        to=mail.to,
    )
    return message.send()


@shared_task(name="scheduling.send_job_completion_mail", **_RETRY_POLICY)
def send_job_completion_mail(job_id: int) -> int:
    """Tell a job's notified users that it ended; returns 1 when a mail went.

    The mail is rendered when it is sent: a job rerun meanwhile (no longer
    done or failed), deleted, or without anybody to tell sends nothing.
    """
    mail = completion_mail(job_id=job_id)
    if mail is None:
        return 0
    return _send(mail)


@shared_task(name="scheduling.send_job_mail", **_RETRY_POLICY)
def send_job_mail(to: list[str], subject: str, body: str) -> int:
    """Send a rendered notification (a deleted job's); returns 1 when sent."""
    return _send(JobMail(to=list(to), subject=subject, body=body))
