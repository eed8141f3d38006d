"""The task log viewer: a task's attempts, their logs, and the text of one.

Every logged-in user reads every log, as in the API. The text comes from
`farm.services.logs.read_logfile`, which reads plain and gzipped files and
never loads more than a bounded tail: a 200 MB log shows its last
`TAIL_BYTES` and offers the whole file as a download. While the attempt
runs, the page polls `task_log_more` for the bytes after what it shows
(tail -f).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from farm.choices import TERMINAL_WORK_STATES, WorkState
from farm.models import Task, TaskTaskLogAssociation
from farm.services.logs import LogExcerpt, open_logfile, read_logfile
from farm.validators import parse_id

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["TAIL_BYTES", "task_log_download", "task_log_more", "task_logs"]

# The page shows at most this much of a log: its end, from a line's start.
TAIL_BYTES = 256 * 1024
# A poll brings at most this much; a log growing faster skips ahead.
MORE_BYTES = 256 * 1024
# Bigger numbers overflow the 64-bit keys (SQLite raises, not "not found").
MAX_ID = 2**63 - 1
TEMPLATE = "web/logs/task_logs.html"


@dataclass(frozen=True)
class Attempt:
    """One attempt of a task and the logs registered for it, oldest first."""

    number: int
    logs: list[TaskTaskLogAssociation]


def _task_or_404(task_id: int) -> Task:
    """The task with its job and agent (one query), or a 404 page."""
    task = (
        Task.objects.select_related("job", "agent").filter(pk=task_id).first()
        if task_id <= MAX_ID
        else None
    )
    if task is None:
        raise Http404(f"There is no task {task_id}.")
    return task


def _association_or_404(task_id: int, log_id: int) -> TaskTaskLogAssociation:
    """The latest attempt's registration of log ``log_id`` for the task."""
    association = (
        TaskTaskLogAssociation.objects.select_related("task", "log")
        .filter(task_id=task_id, log_id=log_id)
        .order_by("-attempt")
        .first()
        if task_id <= MAX_ID and log_id <= MAX_ID
        else None
    )
    if association is None:
        raise Http404(f"Task {task_id} has no log {log_id}.")
    return association


def is_live(association: TaskTaskLogAssociation, task: Task) -> bool:
    """Whether the log may still grow: its attempt is the task's, and running."""
    return (
        task.state == WorkState.RUNNING
        and association.attempt == task.attempts
        and association.state not in TERMINAL_WORK_STATES
    )


def _attempts(task: Task) -> list[Attempt]:
    """The task's attempts that have logs, with them (one query)."""
    rows = (
        TaskTaskLogAssociation.objects.filter(task=task)
        .select_related("log", "log__agent")
        .order_by("attempt", "log__created_on", "log_id")
    )
    attempts: dict[int, list[TaskTaskLogAssociation]] = {}
    for row in rows:
        attempts.setdefault(row.attempt, []).append(row)
    return [Attempt(number, logs) for number, logs in attempts.items()]


def _select(
    attempts: list[Attempt], query: Mapping[str, str]
) -> tuple[TaskTaskLogAssociation | None, str | None]:
    """The log ``?attempt=N&log=ID`` selects, else the latest; or an error.

    Without ``attempt``, the latest attempt (or, with ``log``, the attempt
    that has that log); without ``log``, the attempt's latest log.
    """
    if not attempts:
        return None, None
    raw_attempt, raw_log = query.get("attempt"), query.get("log")
    candidates = attempts[-1:]
    if raw_attempt is not None:
        number = parse_id(raw_attempt)
        candidates = [attempt for attempt in attempts if attempt.number == number]
        if not candidates:
            return None, f"This task has no logs for attempt {raw_attempt!r}."
    elif raw_log is not None:
        # A log alone: whichever attempt has it, the latest first.
        candidates = attempts[::-1]
    if raw_log is None:
        return candidates[0].logs[-1], None
    log_id = parse_id(raw_log)
    for attempt in candidates:
        for association in attempt.logs:
            if association.log_id == log_id:
                return association, None
    if raw_attempt is not None:
        return (
            None,
            f"Attempt {candidates[0].number} of this task has no log {raw_log!r}.",
        )
    return None, f"This task has no log {raw_log!r}."


def _read(identifier: str, *, offset: int | None, limit: int) -> LogExcerpt | None:
    """`read_logfile`, with an identifier that is no file name read as absent."""
    try:
        return read_logfile(identifier, offset=offset, limit=limit)
    except ValidationError:
        return None


def _agent_copy_url(association: TaskTaskLogAssociation, task: Task) -> str | None:
    """The API's logfile URL, which sends the reader on to the agent's copy."""
    if association.log.agent_id is None:
        return None
    try:
        return reverse(
            "task-attempt-logfile",
            kwargs={
                "job_id": task.job_id,
                "task_id": task.pk,
                "attempt": association.attempt,
                "identifier": association.log.identifier,
            },
        )
    except NoReverseMatch:
        return None


def _follow_context(
    task: Task, association: TaskTaskLogAssociation, excerpt: LogExcerpt | None
) -> dict[str, object]:
    """What the follower element needs: where to poll from, and whether to."""
    return {
        "live": is_live(association, task),
        "offset": excerpt.end if excerpt is not None else 0,
        "task": task,
        "selected": association,
        "missing": excerpt is None,
    }


@login_required
@require_GET
def task_logs(request: HttpRequest, task_id: int) -> HttpResponse:
    """``/tasks/<id>/logs/``: the task, its attempts and logs, and one log's tail.

    ``?attempt=N&log=ID`` selects the log (bookmarkable); a selection that
    does not exist is a 404 page that says so and still lists the logs.
    """
    task = _task_or_404(task_id)
    attempts = _attempts(task)
    selected, error = _select(attempts, request.GET)
    excerpt = None
    if selected is not None:
        excerpt = _read(selected.log.identifier, offset=None, limit=TAIL_BYTES)
    if error:
        messages.error(request, error)
    context: dict[str, object] = {
        "task": task,
        "job": task.job,
        "frame": f"{task.frame.normalize():f}",
        "attempts": attempts,
        "selected": selected,
        "excerpt": excerpt,
        "truncated": excerpt is not None and excerpt.start > 0,
        "shown_bytes": excerpt.end - excerpt.start if excerpt is not None else 0,
        "agent_copy_url": (
            _agent_copy_url(selected, task)
            if selected is not None and excerpt is None
            else None
        ),
    }
    if selected is not None:
        context.update(_follow_context(task, selected, excerpt))
    return render(request, TEMPLATE, context, status=404 if error else 200)


@login_required
@require_GET
def task_log_more(request: HttpRequest, task_id: int, log_id: int) -> HttpResponse:
    """The bytes of a log after ``?offset=N``, to append to the page (htmx).

    Answers the text and a new follower element (out of band) that polls
    from the new end while the attempt runs, and stops once it has ended.
    More than `MORE_BYTES` new bytes are skipped to their last `MORE_BYTES`,
    with a note. A bad offset is a 400; an offset past the end brings
    nothing but the end.
    """
    offset = parse_id(request.GET.get("offset", ""))
    if offset is None:
        return HttpResponseBadRequest(
            "offset must be a whole number of bytes", content_type="text/plain"
        )
    association = _association_or_404(task_id, log_id)
    task = association.task
    excerpt = _read(association.log.identifier, offset=offset, limit=MORE_BYTES)
    skipped = 0
    if excerpt is not None and excerpt.start > offset:
        skipped = excerpt.start - offset
    context = _follow_context(task, association, excerpt)
    if excerpt is None:
        # Not uploaded yet: keep asking from where the page is.
        context["offset"] = offset
    context.update(
        {
            "excerpt": excerpt,
            "skipped": skipped,
            # The file came after the page said it was missing: drop the note.
            "arrived": offset == 0 and excerpt is not None and excerpt.end > 0,
        }
    )
    return render(request, f"{TEMPLATE}#more", context)


@login_required
@require_GET
def task_log_download(
    request: HttpRequest, task_id: int, log_id: int
) -> HttpResponse | StreamingHttpResponse:
    """The whole log as a file (ungzipped), streamed in chunks.

    A log that is not on the master goes back to the viewer with a note.
    """
    association = _association_or_404(task_id, log_id)
    identifier = association.log.identifier
    try:
        content = open_logfile(identifier)
    except ValidationError:
        # Registered before identifiers were checked: not a file name.
        content = None
    if content is None:
        messages.error(
            request, f"The log file {identifier} is not on the master (yet)."
        )
        url = reverse("web:task_logs", args=[task_id])
        return redirect(f"{url}?attempt={association.attempt}&log={log_id}")
    return StreamingHttpResponse(
        content,
        content_type="text/plain; charset=utf-8",
        headers={
            "Content-Disposition": content_disposition_header(
                as_attachment=True, filename=identifier
            )
        },
    )
