"""Email notifications of jobs: who is told, and what the mail says.

A job that ends (done or failed) or is deleted tells its notified users
(`JobNotifiedUser`) whose ``on_success``, ``on_failure`` or ``on_deletion``
flag is set and who have an email address. The subject and body come from
the job type's texts (``success_*``/``fail_*``) when set, else from the
configured ``success_*``, ``failed_*`` and ``deleted_*`` templates. They are
rendered with Django's template engine, without HTML escaping (plain-text
mail); a template that does not render is logged and replaced by the
shipped default. Deletion templates written with the original's
``{job_title}`` fields still work.

Sending is the scheduler's business (`scheduling.notifications`): the farm
only builds the messages.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.template import Context, Engine
from django.urls import reverse

from farm.choices import WorkState
from farm.models import Job, JobNotifiedUser, Task
from pyfarm_site.conf import farm_config
from pyfarm_site.config import BASE_DIR, read_yaml

__all__ = [
    "FAILED_TASKS_LISTED",
    "JobMail",
    "completion_mail",
    "deletion_mails",
    "job_url",
    "mail_enabled",
    "render_text",
]

logger = logging.getLogger(__name__)

#: At most this many failed tasks are listed in a failure mail.
FAILED_TASKS_LISTED = 100

#: The original's ``str.format`` fields of the deletion templates.
LEGACY_FIELDS = re.compile(r"\{(job_title|job_id|jobtype_name)\}")

_ENGINE = Engine(autoescape=False)
_SHIPPED = BASE_DIR / "scheduling" / "etc" / "scheduler.yml"


@dataclass(frozen=True)
class JobMail:
    """One rendered notification: recipients, subject and body."""

    to: list[str]
    subject: str
    body: str


def mail_enabled() -> bool:
    """Whether notifications are sent (``smtp_server`` is set)."""
    return bool(farm_config("smtp_server"))


def job_url(job_id: int) -> str:
    """The job's page on the dashboard, absolute under ``base_url``."""
    return _absolute(reverse("web:job", args=[job_id]))


def _absolute(path: str) -> str:
    return str(farm_config("base_url")).rstrip("/") + path


@cache
def _shipped_template(key: str) -> str:
    """The default of a template key, from the shipped scheduler.yml."""
    return str(read_yaml(_SHIPPED)[key])


def _render(source: str, context: dict[str, Any]) -> str:
    if "{{" not in source and "{%" not in source and LEGACY_FIELDS.search(source):
        # The original's deletion templates: {job_title}, {job_id}, {jobtype_name}.
        return LEGACY_FIELDS.sub(lambda match: str(context[match[1]]), source)
    return _ENGINE.from_string(source).render(Context(context, autoescape=False))


def render_text(source: str, context: dict[str, Any], *, default_key: str) -> str:
    """Render one template; a broken one is logged and the default used instead."""
    try:
        return _render(source, context)
    except Exception:
        logger.exception(
            "notification template does not render, using the default of %s",
            default_key,
        )
        return _render(_shipped_template(default_key), context)


def _subject_line(text: str) -> str:
    """A subject is one header line: the lines joined, outer blanks dropped."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _context(job: Job) -> dict[str, Any]:
    job.url = job_url(job.pk)  # type: ignore[attr-defined]
    jobtype = job.jobtype_version.jobtype
    return {
        "job": job,
        "job_url": job.url,  # type: ignore[attr-defined]
        "job_title": job.title,
        "job_id": job.pk,
        "jobtype_name": jobtype.name,
        "failed_tasks": [],
        "failed_log_urls": [],
        "failed_task_count": 0,
    }


def _failed_tasks(job: Job) -> tuple[list[dict[str, Any]], int]:
    """The job's failed tasks (the first `FAILED_TASKS_LISTED`) and their count."""
    failed = Task.objects.filter(job=job, state=WorkState.FAILED)
    rows = list(
        failed.order_by("frame", "tile", "pk").values(
            "pk", "frame", "tile", "last_error"
        )[: FAILED_TASKS_LISTED + 1]
    )
    count = len(rows) if len(rows) <= FAILED_TASKS_LISTED else failed.count()
    tasks = [
        {
            "id": row["pk"],
            "frame": row["frame"],
            "tile": row["tile"],
            "last_error": row["last_error"] or "",
            "log_url": _absolute(reverse("web:task_logs", args=[row["pk"]])),
        }
        for row in rows[:FAILED_TASKS_LISTED]
    ]
    return tasks, count


def _message(job: Job, context: dict[str, Any], kind: str, to: list[str]) -> JobMail:
    """Render the subject and body of ``kind`` (success, failed, deleted)."""
    jobtype = job.jobtype_version.jobtype
    own = {
        "success": (jobtype.success_subject, jobtype.success_body),
        "failed": (jobtype.fail_subject, jobtype.fail_body),
        "deleted": (None, None),
    }[kind]
    texts = []
    for part, own_text in zip(("subject", "body"), own, strict=True):
        key = f"{kind}_{part}"
        source = own_text or farm_config(key) or _shipped_template(key)
        texts.append(render_text(source, context, default_key=key))
    return JobMail(to=to, subject=_subject_line(texts[0]), body=texts[1])


def completion_mail(*, job_id: int) -> JobMail | None:
    """The mail telling a job's notified users that it ended.

    None when the job is gone, not done or failed, or nobody is to be told.
    Three queries (four with more than `FAILED_TASKS_LISTED` failed tasks).
    """
    job = (
        Job.objects.select_related("jobtype_version__jobtype")
        .filter(pk=job_id, state__in=(WorkState.DONE, WorkState.FAILED))
        .first()
    )
    if job is None:
        return None
    successful = job.state == WorkState.DONE
    flag = "on_success" if successful else "on_failure"
    to = list(
        JobNotifiedUser.objects.filter(job=job, **{flag: True})
        .exclude(user__email="")
        .exclude(user__email__isnull=True)
        .order_by("user__email")
        .values_list("user__email", flat=True)
        .distinct()
    )
    if not to:
        return None
    context = _context(job)
    if not successful:
        tasks, count = _failed_tasks(job)
        context.update(
            failed_tasks=tasks,
            failed_log_urls=[task["log_url"] for task in tasks],
            failed_task_count=count,
        )
    return _message(job, context, "success" if successful else "failed", to)


def deletion_mails(*, job_ids: list[int]) -> list[JobMail]:
    """The mails telling the jobs' notified users that they are deleted.

    Call it before the rows go. Two queries, whatever the number of jobs.
    """
    notified: dict[int, list[str]] = {}
    rows = (
        JobNotifiedUser.objects.filter(job_id__in=job_ids, on_deletion=True)
        .exclude(user__email="")
        .exclude(user__email__isnull=True)
        .order_by("job_id", "user__email")
        .values_list("job_id", "user__email")
    )
    for job_id, email in rows:
        if email not in notified.setdefault(job_id, []):
            notified[job_id].append(email)
    if not notified:
        return []
    jobs = Job.objects.select_related("jobtype_version__jobtype").filter(
        pk__in=notified
    )
    return [
        _message(job, _context(job), "deleted", notified[job.pk])
        for job in jobs.order_by("pk")
    ]
