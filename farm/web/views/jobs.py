"""The jobs list (``/jobs/``) and the bulk actions on its checked jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import ngettext

from farm.models import Job
from farm.models.jobs import JobQuerySet
from farm.services.job_settings import (
    add_tag_requirement_to_jobs,
    add_tag_to_jobs,
    move_jobs_to_queue,
    remove_tag_from_jobs,
    remove_tag_requirement_from_jobs,
    set_jobs_priority_and_weight,
)
from farm.services.jobs import (
    mark_jobs_for_deletion,
    pause_jobs,
    rerun_jobs,
    unpause_jobs,
)
from farm.web.access import back, is_farm_admin, refuse
from farm.web.filtersets_jobs import JobListFilterSet
from farm.web.forms_jobs import BULK_ACTIONS, JobBulkForm, PriorityWeightForm, QueueForm
from farm.web.queries_jobs import (
    SORTS,
    job_rows,
    order_jobs,
    paginate_jobs,
    parse_sort,
    state_counts,
)

__all__ = ["job_list", "jobs_bulk"]


def _url(request: HttpRequest, **changes: str | list[str] | None) -> str:
    """This page's query string with ``changes`` (None drops a key); no page."""
    query = request.GET.copy()
    query.pop("page", None)
    for key, value in changes.items():
        query.pop(key, None)
        if isinstance(value, list):
            query.setlist(key, value)
        elif value is not None:
            query[key] = value
    return f"?{query.urlencode()}" if query else "?"


def _sort_links(request: HttpRequest, sort: str) -> dict[str, dict[str, str]]:
    """Per sortable column: the link that sorts by it (again: the other way)."""
    links = {}
    for key in SORTS:
        current = sort.removeprefix("-") == key
        descending = sort.startswith("-")
        target = key if current and descending else f"-{key}"
        if not current and key in ("title", "queue", "jobtype", "user"):
            target = key  # names read best A to Z first
        links[key] = {
            "url": _url(request, sort=target),
            "css": ("sorted desc" if descending else "sorted") if current else "",
        }
    return links


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    """``/jobs/``: the visible jobs with filters, sorting, counts and bulk actions.

    An htmx request (the page's refresh every few seconds) gets the rows and
    the counts only.
    """
    admin = is_farm_admin(request.user)
    filterset = JobListFilterSet(
        request.GET or None,
        queryset=Job.objects.visible(),
        request=request,
    )
    jobs = filterset.without_state()
    counts = state_counts(jobs)
    states = filterset.states
    if states:
        jobs = jobs.filter(state__in=states)
    total = sum(
        count for state, count in counts.items() if not states or state in states
    )
    sort = parse_sort(request.GET.get("sort"))
    page, page_jobs = paginate_jobs(
        order_jobs(jobs, sort), total=total, number=request.GET.get("page")
    )
    user_pk = request.user.pk
    rows = job_rows(page_jobs, may_change=lambda job: admin or job.user_id == user_pk)
    context: dict[str, Any] = {
        "rows": rows,
        "page_obj": page,
        "total": total,
        "states": states,
        "counts": [
            {
                "state": state,
                "count": count,
                "url": _url(request, state=state),
                "current": states == [state],
            }
            for state, count in counts.items()
        ],
        "all_states_url": _url(request, state=None),
        "all_count": sum(counts.values()),
        "refresh_url": request.get_full_path(),
    }
    if getattr(request, "htmx", False):  # django-htmx's middleware
        return render(request, "web/jobs/list_live.html", context)
    mine = filterset.only_mine
    context.update(
        filterset=filterset,
        filter_errors=filterset.errors if filterset.is_bound else {},
        sort_links=_sort_links(request, sort),
        mine=mine,
        mine_url=_url(request, mine=None if mine else "1"),
        may_change_any=admin or any(row.may_change for row in rows),
        is_admin=admin,
        # Every action's values are optional in the page: the server checks them.
        queue_form=QueueForm(auto_id="bulk_%s", use_required_attribute=False),
        priority_form=PriorityWeightForm(auto_id="bulk_%s"),
        actions=BULK_ACTIONS,
    )
    return render(request, "web/jobs/list.html", context)


@dataclass(frozen=True)
class _BulkAction:
    """How a bulk action runs and what it says afterwards."""

    run: Callable[[JobQuerySet, dict[str, Any]], int]
    singular: str
    plural: str
    nothing: str


def _tag(data: dict[str, Any]) -> str:
    return str(data["tag"])


_ACTIONS: dict[str, _BulkAction] = {
    "pause": _BulkAction(
        lambda jobs, data: pause_jobs(jobs=jobs),
        "Paused %(count)d job.",
        "Paused %(count)d jobs.",
        "No job was paused: only queued or running jobs can be.",
    ),
    "unpause": _BulkAction(
        lambda jobs, data: unpause_jobs(jobs=jobs),
        "Unpaused %(count)d job.",
        "Unpaused %(count)d jobs.",
        "No job was unpaused: none of them was paused.",
    ),
    "rerun": _BulkAction(
        lambda jobs, data: rerun_jobs(jobs=jobs),
        "Queued %(count)d task again (tasks of dependent jobs included).",
        "Queued %(count)d tasks again (tasks of dependent jobs included).",
        "No task was queued again: they are all running.",
    ),
    "rerun_failed": _BulkAction(
        lambda jobs, data: rerun_jobs(jobs=jobs, failed_only=True),
        "Queued %(count)d failed task again (tasks of dependent jobs included).",
        "Queued %(count)d failed tasks again (tasks of dependent jobs included).",
        "No task was queued again: none of them had failed.",
    ),
    "delete": _BulkAction(
        lambda jobs, data: mark_jobs_for_deletion(jobs=jobs),
        "Marked %(count)d job for deletion.",
        "Marked %(count)d jobs for deletion.",
        "No job was marked for deletion: they all were already.",
    ),
    "move": _BulkAction(
        lambda jobs, data: move_jobs_to_queue(jobs=jobs, queue=data["queue"]),
        "Moved %(count)d job to queue %(queue)s.",
        "Moved %(count)d jobs to queue %(queue)s.",
        "No job was moved: they were all in queue %(queue)s already.",
    ),
    "set_priority": _BulkAction(
        lambda jobs, data: set_jobs_priority_and_weight(
            jobs=jobs, priority=data.get("priority"), weight=data.get("weight")
        ),
        "Changed the priority or weight of %(count)d job.",
        "Changed the priority or weight of %(count)d jobs.",
        "No job was changed: they all had that priority and weight already.",
    ),
    "add_tag": _BulkAction(
        lambda jobs, data: add_tag_to_jobs(jobs=jobs, name=_tag(data)),
        "Tagged %(count)d job with “%(tag)s”.",
        "Tagged %(count)d jobs with “%(tag)s”.",
        "No job was changed: they all had the tag “%(tag)s” already.",
    ),
    "remove_tag": _BulkAction(
        lambda jobs, data: remove_tag_from_jobs(jobs=jobs, name=_tag(data)),
        "Removed the tag “%(tag)s” from %(count)d job.",
        "Removed the tag “%(tag)s” from %(count)d jobs.",
        "No job was changed: none of them had the tag “%(tag)s”.",
    ),
    "add_tag_requirement": _BulkAction(
        lambda jobs, data: add_tag_requirement_to_jobs(
            jobs=jobs, name=_tag(data), negate=bool(data.get("negate"))
        ),
        "Added the tag requirement %(requirement)s to %(count)d job.",
        "Added the tag requirement %(requirement)s to %(count)d jobs.",
        "No job was changed: they all had the tag requirement %(requirement)s.",
    ),
    "remove_tag_requirement": _BulkAction(
        lambda jobs, data: remove_tag_requirement_from_jobs(jobs=jobs, name=_tag(data)),
        "Removed the requirement of the tag “%(tag)s” from %(count)d job.",
        "Removed the requirement of the tag “%(tag)s” from %(count)d jobs.",
        "No job was changed: none of them required or forbade the tag “%(tag)s”.",
    ),
}


def _job_list(ids: list[int]) -> str:
    shown = ", ".join(str(pk) for pk in ids[:10])
    return shown + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")


@login_required
def jobs_bulk(request: HttpRequest) -> HttpResponse:
    """``POST /jobs/bulk/``: run a bulk action on the checked jobs.

    A farm admin acts on every checked job; another user only on their own
    jobs: the others are left unchanged and the message says how many. An
    unknown action, an id that is no job (any more) or a bad value changes
    nothing and says why. A GET leads back to the list.
    """
    if request.method != "POST":
        return redirect("web:jobs")
    form = JobBulkForm(request.POST)
    if not form.is_valid():
        return refuse(request, f"{form.error_text()} Nothing was changed.")
    data = form.cleaned_data
    ids: list[int] = data["job"]
    found = dict(Job.objects.visible().filter(pk__in=ids).values_list("pk", "user_id"))
    missing = [pk for pk in ids if pk not in found]
    if missing:
        return refuse(
            request,
            f"Job {_job_list(missing)} does not exist (any more). Nothing was changed."
            if len(missing) == 1
            else f"Jobs {_job_list(missing)} do not exist (any more). "
            "Nothing was changed.",
        )
    if is_farm_admin(request.user):
        permitted = ids
    else:
        permitted = [pk for pk in ids if found[pk] == request.user.pk]
    refused = len(ids) - len(permitted)
    if not permitted:
        return refuse(
            request,
            "You may not change "
            + ("this job" if refused == 1 else "these jobs")
            + ": only a job's owner or a farm admin may. Nothing was changed.",
        )
    action = _ACTIONS[data["action"]]
    jobs = Job.objects.filter(pk__in=permitted)
    try:
        count = action.run(jobs, data)
    except ValidationError as error:
        return refuse(request, f"{' '.join(error.messages)} Nothing was changed.")
    values = {
        "count": count,
        "queue": data.get("queue"),
        "tag": data.get("tag"),
        "requirement": f"{'not ' if data.get('negate') else ''}“{data.get('tag')}”",
    }
    if count:
        messages.success(
            request, ngettext(action.singular, action.plural, count) % values
        )
    else:
        messages.warning(request, action.nothing % values)
    if refused:
        messages.warning(
            request,
            f"{refused} of the selected jobs {'was' if refused == 1 else 'were'} "
            "left unchanged: only a job's owner or a farm admin may change it.",
        )
    return back(request)
