"""A job's page: every field, progress, tasks, and the owner's controls.

Every logged-in user reads every job (as in the API). The job's owner and
farm admins change it: each POST below checks that first
(`farm.web.access.may_change_job`), refuses others with a message and calls
the same service as the API or the admin. GETs change nothing.

The page's live parts (state, actions, progress, counts, the task table)
come again from `job_live` every few seconds; the "why is it not running"
panel (`job_explain`) and the progress chart (`job_chart`) load after the
page, since each reads more than the page itself.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import notification_defaults
from farm.choices import WorkState
from farm.models import Job, Task
from farm.models.jobs import JobQuerySet
from farm.services import (
    alter_frame_range,
    mark_jobs_for_deletion,
    pause_jobs,
    rerun_jobs,
    rerun_tasks,
    unpause_jobs,
    with_dependent_jobs,
)
from farm.services.job_settings import (
    add_tag_requirement_to_jobs,
    add_tag_to_jobs,
    remove_tag_from_jobs,
    remove_tag_requirement_from_jobs,
)
from farm.services.job_upgrades import upgrade_job_to_latest_jobtype_version
from farm.services.submission import (
    add_notified_user,
    remove_notified_user,
    update_job,
)
from farm.web.access import back, may_change_job, refuse
from farm.web.forms_job import (
    AutodeleteForm,
    FrameRangeForm,
    NotesForm,
    NotifiedUserForm,
    SchedulingForm,
    TagForm,
    TagRequirementForm,
    TaskStateForm,
    UsernameForm,
)
from farm.web.queries_job import (
    failed_on_agents,
    job_for_page,
    job_for_refresh,
    progress_over_time,
    task_counts,
    task_page,
)
from scheduling.explain import explain

REFUSAL = "Only the job's owner or a farm admin may change this job."
#: How long an explanation of a waiting job is reused (see `job_explain`).
EXPLAIN_CACHE_SECONDS = 20

JobAction = Callable[..., HttpResponse]


# --- reading -------------------------------------------------------------------

# A number no URL holds otherwise: reversed once, replaced per row.
_SLOT = "9999999999"


def _url_pattern(name: str, *args: object) -> Callable[[object], str]:
    """``reverse(name, args=[*args, key])`` for many keys, reversed only once.

    The task table links every row three times; reversing 300 URLs per
    refresh costs more than the rest of the table.
    """
    pattern = reverse(name, args=[*args, _SLOT])
    return lambda key: pattern.replace(_SLOT, str(key))


def _link_tasks(job: Job, tasks: list[Task]) -> None:
    """Give each task of a page its ``logs_url``, ``rerun_url`` and ``agent_url``."""
    logs = _url_pattern("web:task_logs")
    rerun = _url_pattern("web:task_rerun", job.pk)
    agent_slot = "00000000-0000-0000-0000-000000000000"
    agent_pattern = reverse("web:agent", args=[agent_slot])
    for task in tasks:
        task.logs_url = logs(task.pk)  # type: ignore[attr-defined]
        task.rerun_url = rerun(task.pk)  # type: ignore[attr-defined]
        if task.agent is not None:
            task.agent_url = agent_pattern.replace(  # type: ignore[attr-defined]
                agent_slot, str(task.agent.pk)
            )


def _live_context(request: HttpRequest, job: Job) -> dict[str, Any]:
    """What the live parts show: state, actions, progress, counts, task table."""
    counts = task_counts(job.pk)
    state = TaskStateForm(request.GET).state()
    query = request.GET.urlencode()
    page = task_page(job.pk, counts=counts, state=state, page=request.GET.get("page"))
    _link_tasks(job, page.tasks)
    return {
        "job": job,
        "page_url": reverse("web:job", args=[job.pk]) + (f"?{query}" if query else ""),
        "state_counts": [(name, counts[name]) for name in WorkState.values],
        "can_change": may_change_job(request.user, job),
        "counts": counts,
        "open_tasks": counts[WorkState.QUEUED] + counts[WorkState.PAUSED],
        "total_tasks": sum(counts.values()),
        "task_state": state,
        "task_states": WorkState.values,
        "page": page,
        "now": timezone.now(),
    }


def _autodelete_initial(seconds: int | None) -> dict[str, int]:
    if seconds is None:
        return {}
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return {"days": days, "hours": hours, "minutes": rest // 60}


@login_required
def job_page(request: HttpRequest, job_id: int) -> HttpResponse:
    """``/jobs/<id>/``: the job's page (404 page for an unknown job)."""
    job = job_for_page(job_id)
    context = _live_context(request, job)
    context.update(
        failed_on=failed_on_agents(job.pk),
        scheduling_form=SchedulingForm(
            initial={
                "priority": job.priority,
                "weight": job.weight,
                "minimum_agents": job.minimum_agents,
                "maximum_agents": job.maximum_agents,
                "batch": job.batch,
            }
        ),
        frames_form=FrameRangeForm(
            initial={
                name: f"{getattr(job, name).normalize():f}"
                for name in ("start", "end", "by")
            }
        ),
        notes_form=NotesForm(initial={"notes": job.notes}),
        autodelete_form=AutodeleteForm(
            initial=_autodelete_initial(job.autodelete_time)
        ),
        # "Notify" starts as the viewer, with their own notification defaults.
        notified_form=NotifiedUserForm(
            initial={
                "username": request.user.get_username(),
                **notification_defaults(cast(User, request.user)),
            }
        ),
    )
    return render(request, "web/job/job.html", context)


@login_required
def job_live(request: HttpRequest, job_id: int) -> HttpResponse:
    """The page's live parts again (htmx every few seconds), same query string."""
    job = job_for_refresh(job_id)
    context = _live_context(request, job)
    # The state badge and the actions in the page's header come along,
    # swapped out of band (they change with the state).
    context["oob"] = True
    return render(request, "web/job/job.html#live", context)


def _explained(job: Job) -> bool:
    """Whether the job waits: queued or running, not paused, no task running."""
    return (
        job.state in (WorkState.QUEUED, WorkState.RUNNING)
        and not job.to_be_deleted
        and not Task.objects.for_job(job.pk).filter(state=WorkState.RUNNING).exists()
    )


@login_required
def job_explain(request: HttpRequest, job_id: int) -> HttpResponse:
    """The "why is this job not running" panel, empty while any task runs.

    The answer is the scheduler's explainer (`scheduling.explain.explain`),
    the same as the API's ``/jobs/<job>/explain``. It reads the scheduler's
    whole snapshot of the farm, which takes long on a big farm, so an answer
    is kept for `EXPLAIN_CACHE_SECONDS` and shared by everyone watching the
    job.
    """
    job = get_object_or_404(Job.objects.only("pk", "state", "to_be_deleted"), pk=job_id)
    explanation = None
    if _explained(job):
        explanation = cache.get_or_set(
            f"web:job-explain:{job.pk}",
            lambda: explain(job.pk).as_dict(),
            EXPLAIN_CACHE_SECONDS,
        )
    return render(request, "web/job/explain.html", {"explanation": explanation})


@login_required
def job_chart(request: HttpRequest, job_id: int) -> HttpResponse:
    """The data of the progress chart: done and failed tasks over time."""
    job = get_object_or_404(
        Job.objects.only("pk", "time_submitted", "time_started", "time_finished"),
        pk=job_id,
    )
    total = sum(task_counts(job.pk).values())
    chart = progress_over_time(job, total=total)
    return render(request, "web/job/chart_data.html", {"chart": chart.as_dict()})


# --- changing ------------------------------------------------------------------


def job_change(view: JobAction) -> JobAction:
    """Log-in, POST, an existing job, then its owner or a farm admin only.

    A GET leads back to the job's page (it never changes anything); an
    unknown job is the 404 page; anyone else is refused with a message and
    nothing changes. The view gets the job instead of its id.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, job_id: int, **kwargs: Any) -> HttpResponse:
        job = get_object_or_404(Job, pk=job_id)
        if request.method != "POST":
            return redirect("web:job", job_id=job.pk)
        if not may_change_job(request.user, job):
            return refuse(request, REFUSAL, "web:job", job_id=job.pk)
        return view(request, job, **kwargs)

    return login_required(wrapper)


def job_form(form_class: type[Any]) -> Callable[[JobAction], JobAction]:
    """`job_change`, then ``form_class`` filled from the POST: invalid, a message.

    The view gets the valid form after the job.
    """

    def decorate(view: JobAction) -> JobAction:
        @wraps(view)
        def wrapper(request: HttpRequest, job: Job, **kwargs: Any) -> HttpResponse:
            form = form_class(request.POST)
            if not form.is_valid():
                return _failed(request, job, _form_errors(form))
            return view(request, job, form, **kwargs)

        return job_change(wrapper)

    return decorate


def _back(request: HttpRequest, job: Job) -> HttpResponse:
    return back(request, "web:job", job_id=job.pk)


def _errors(error: Exception) -> str:
    """A service's error as one line for a message."""
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            return "; ".join(
                f"{field.replace('_', ' ').capitalize()}: {' '.join(texts)}"
                if field != "__all__"
                else " ".join(texts)
                for field, texts in error.message_dict.items()
            )
        return " ".join(error.messages)
    return str(error.args[0]) if error.args else str(error)


def _form_errors(form: Any) -> str:
    """A form's errors as one line for a message."""
    parts = []
    for name, errors in form.errors.items():
        text = " ".join(errors)
        if name == "__all__":
            parts.append(text)
        else:
            parts.append(f"{form[name].label}: {text}")
    return "; ".join(parts)


def _failed(request: HttpRequest, job: Job, text: str) -> HttpResponse:
    messages.error(request, text)
    return _back(request, job)


def _done(
    request: HttpRequest, job: Job, text: str, *, changed: bool = True
) -> HttpResponse:
    (messages.success if changed else messages.warning)(request, text)
    return _back(request, job)


def _one(job: Job) -> JobQuerySet:
    """The job as a queryset of one, for the services of many jobs."""
    return Job.objects.filter(pk=job.pk)


@job_change
def pause(request: HttpRequest, job: Job) -> HttpResponse:
    """Pause the job: the scheduler gives it no new work."""
    if pause_jobs(jobs=_one(job)):
        return _done(request, job, "The job is paused.")
    return _done(
        request, job, "Only a queued or running job can be paused.", changed=False
    )


@job_change
def unpause(request: HttpRequest, job: Job) -> HttpResponse:
    """Resume a paused job."""
    if unpause_jobs(jobs=_one(job)):
        return _done(request, job, "The job is resumed.")
    return _done(request, job, "The job was not paused.", changed=False)


def _rerun(request: HttpRequest, job: Job, *, failed_only: bool) -> HttpResponse:
    """Queue the job's tasks again (the failed ones only); say how many.

    The jobs that depend on it are rerun too (`rerun_jobs`); the message
    says how many there were.
    """
    dependents = len(with_dependent_jobs(_one(job))) - 1
    count = rerun_jobs(jobs=_one(job), failed_only=failed_only)
    which = "failed task" if failed_only else "task"
    where = (
        f", in this job and the {dependents} "
        f"{'job that depends' if dependents == 1 else 'jobs that depend'} on it"
        if dependents
        else ""
    )
    return _done(
        request,
        job,
        f"Queued {count} {which}{'s' if count != 1 else ''} again{where}."
        if count
        else (
            "No task has failed."
            if failed_only
            else "No task was queued again: they are all running."
        ),
        changed=bool(count),
    )


@job_change
def rerun(request: HttpRequest, job: Job) -> HttpResponse:
    """Queue every task of the job again, except the running ones."""
    return _rerun(request, job, failed_only=False)


@job_change
def rerun_failed(request: HttpRequest, job: Job) -> HttpResponse:
    """Queue the failed tasks of the job again."""
    return _rerun(request, job, failed_only=True)


@job_change
def delete(request: HttpRequest, job: Job) -> HttpResponse:
    """Hand the job to the deletion task; back to the jobs list."""
    if mark_jobs_for_deletion(jobs=_one(job)):
        messages.success(request, f"The job {job.title!r} is being deleted.")
    else:
        messages.warning(request, f"The job {job.title!r} was already being deleted.")
    return redirect("web:jobs")


@job_change
def upgrade(request: HttpRequest, job: Job) -> HttpResponse:
    """Move the job to the latest version of its job type."""
    if upgrade_job_to_latest_jobtype_version(job=job):
        version = job.jobtype_version
        return _done(
            request, job, f"The job now runs {version.jobtype.name} v{version.version}."
        )
    return _done(
        request,
        job,
        "The job already runs its job type's latest version.",
        changed=False,
    )


def _update(
    request: HttpRequest, job: Job, success: str, **changes: Any
) -> HttpResponse:
    """Change columns through the API's `update_job`; errors become a message."""
    try:
        update_job(job=job, changed_by=request.user, **changes)
    except (ValidationError, PermissionDenied, ObjectDoesNotExist) as error:
        return _failed(request, job, _errors(error))
    return _done(request, job, success)


@job_form(SchedulingForm)
def scheduling(request: HttpRequest, job: Job, form: Any) -> HttpResponse:
    """Priority, weight, minimum and maximum agents, batch size."""
    return _update(request, job, "Scheduling parameters saved.", **form.cleaned_data)


@job_form(NotesForm)
def notes(request: HttpRequest, job: Job, form: Any) -> HttpResponse:
    """The job's notes."""
    return _update(request, job, "Notes saved.", notes=form.cleaned_data["notes"])


@job_form(AutodeleteForm)
def autodelete(request: HttpRequest, job: Job, form: Any) -> HttpResponse:
    """How long after it finished the job is deleted (or never)."""
    seconds = form.seconds()
    return _update(
        request,
        job,
        "The job is never deleted automatically."
        if seconds is None
        else "Automatic deletion time saved.",
        autodelete_time=seconds,
    )


@job_form(FrameRangeForm)
def frames(request: HttpRequest, job: Job, form: Any) -> HttpResponse:
    """A new frame range: tasks of new frames are made, those of gone frames go."""
    try:
        alter_frame_range(job=job, **form.cleaned_data)
    except ValidationError as error:
        return _failed(request, job, _errors(error))
    return _done(request, job, "Frame range changed.")


@job_form(TagForm)
def tags(request: HttpRequest, job: Job, form: Any) -> HttpResponse:
    """Add a tag to the job, or take one off."""
    name = form.cleaned_data["tag"]
    if form.cleaned_data["operation"] == "remove":
        if remove_tag_from_jobs(jobs=_one(job), name=name):
            return _done(request, job, f"Tag {name!r} removed.")
        return _failed(request, job, f"The job has no tag {name!r}.")
    try:
        added = bool(add_tag_to_jobs(jobs=_one(job), name=name))
    except ValidationError as error:
        return _failed(request, job, f"Tag {name!r}: {_errors(error)}")
    return _done(
        request,
        job,
        f"Tag {name!r} added." if added else f"The job has the tag {name!r} already.",
        changed=added,
    )


@job_form(TagRequirementForm)
def tag_requirements(request: HttpRequest, job: Job, form: Any) -> HttpResponse:
    """Require or forbid a tag on the job's agents, or drop a requirement."""
    name = form.cleaned_data["tag"]
    if form.cleaned_data["operation"] == "remove":
        if remove_tag_requirement_from_jobs(jobs=_one(job), name=name):
            return _done(request, job, f"Requirement of tag {name!r} removed.")
        return _failed(request, job, f"The job has no requirement of tag {name!r}.")
    negate = form.cleaned_data["negate"]
    try:
        changed = bool(
            add_tag_requirement_to_jobs(jobs=_one(job), name=name, negate=negate)
        )
    except ValidationError as error:
        return _failed(request, job, f"Tag {name!r}: {_errors(error)}")
    verb = "must not have" if negate else "must have"
    return _done(
        request,
        job,
        f"The job's agents {verb} the tag {name!r}."
        if changed
        else "The requirement was already so.",
        changed=changed,
    )


@job_form(NotifiedUserForm)
def notified_user_add(request: HttpRequest, job: Job, form: Any) -> HttpResponse:
    """Tell a user about the job's success, failure or deletion."""
    username = form.cleaned_data["username"]
    try:
        _, created = add_notified_user(
            job=job,
            username=username,
            on_success=form.cleaned_data["on_success"],
            on_failure=form.cleaned_data["on_failure"],
            on_deletion=form.cleaned_data["on_deletion"],
        )
    except ObjectDoesNotExist:
        return _failed(request, job, f"There is no user {username!r}.")
    return _done(
        request,
        job,
        f"{username} is notified about this job."
        if created
        else f"{username}'s notifications changed.",
    )


@job_form(UsernameForm)
def notified_user_remove(request: HttpRequest, job: Job, form: Any) -> HttpResponse:
    """Stop telling a user about the job."""
    username = form.cleaned_data["username"]
    try:
        removed = remove_notified_user(job=job, username=username)
    except ObjectDoesNotExist:
        return _failed(request, job, f"There is no user {username!r}.")
    if not removed:
        return _failed(request, job, f"{username} was not notified about this job.")
    return _done(request, job, f"{username} is no longer notified about this job.")


@job_change
def task_rerun(request: HttpRequest, job: Job, task_id: int) -> HttpResponse:
    """Run one task of the job again from scratch (not while it runs)."""
    task = get_object_or_404(
        Task.objects.only("pk", "job_id", "frame", "tile"), pk=task_id, job_id=job.pk
    )
    name = f"Frame {task.frame.normalize():f}"
    if task.tile is not None:
        name += f" tile {task.tile}"
    if rerun_tasks(tasks=Task.objects.filter(pk=task.pk)):
        return _done(request, job, f"{name} is queued again.")
    return _done(request, job, f"{name} is running: it was left alone.", changed=False)
