"""The job admin's actions that need a value: queue, priority/weight, tags.

Each first shows an intermediate page with the value's form (the same forms
as the dashboard's bulk bar, `farm.web.forms_jobs`), then calls the same
service as the dashboard (`farm.services.job_settings`) on the selected jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from farm.models.jobs import JobQuerySet
from farm.services.job_settings import (
    add_tag_requirement_to_jobs,
    add_tag_to_jobs,
    move_jobs_to_queue,
    remove_tag_from_jobs,
    remove_tag_requirement_from_jobs,
    set_jobs_priority_and_weight,
)
from farm.web.forms_jobs import (
    PriorityWeightForm,
    QueueForm,
    TagForm,
    TagRequirementForm,
)

__all__ = [
    "JOB_SETTINGS_ACTIONS",
    "add_tag",
    "add_tag_requirement",
    "move_to_queue",
    "remove_tag",
    "remove_tag_requirement",
    "set_priority_and_weight",
]

TEMPLATE = "admin/farm/job/job_settings_form.html"
# Jobs named on the intermediate page; the rest are counted.
SHOWN_JOBS = 20

Apply = Callable[[JobQuerySet, dict[str, Any]], int]
Describe = Callable[[dict[str, Any]], tuple[str, str, str]]


def _literal(value: Any) -> str:
    """``value`` as text safe in the ``%`` formatting of `FarmModelAdmin.report`."""
    return str(value).replace("%", "%%")


def _with_value(
    modeladmin: Any,
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    form_class: type[forms.Form],
    title: str,
    apply: Apply,
    describe: Describe,
) -> TemplateResponse | None:
    """Ask for the value, then apply it to the jobs and report how many changed.

    ``describe`` gives the report's singular, plural and nothing-changed texts
    for the cleaned values. A value the service refuses shows the form again
    with its error.
    """
    form = form_class(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        try:
            count = apply(cast(JobQuerySet, queryset), form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            singular, plural, nothing = describe(form.cleaned_data)
            modeladmin.report(request, count, singular, plural, nothing=nothing)
            return None
    opts = modeladmin.model._meta
    total = queryset.count()
    return TemplateResponse(
        request,
        TEMPLATE,
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "opts": opts,
            "form": form,
            "action": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across") == "1",
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "shown_jobs": list(queryset.order_by("pk")[:SHOWN_JOBS]),
            "total": total,
            "more": max(total - SHOWN_JOBS, 0),
            "media": modeladmin.media + form.media,
        },
    )


Action = Callable[[Any, HttpRequest, QuerySet[Any]], TemplateResponse | None]


def _value_action(
    name: str,
    *,
    description: str,
    doc: str,
    form_class: type[forms.Form],
    title: str,
    apply: Apply,
    describe: Describe,
) -> Action:
    """An admin action called ``name`` that asks for a value, then applies it."""

    def action(
        modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]
    ) -> TemplateResponse | None:
        return _with_value(
            modeladmin,
            request,
            queryset,
            form_class=form_class,
            title=title,
            apply=apply,
            describe=describe,
        )

    action.__name__ = action.__qualname__ = name
    action.__doc__ = doc
    return cast(
        Action, admin.action(description=description, permissions=["change"])(action)
    )


def _tag(data: dict[str, Any]) -> str:
    return f"“{_literal(data['tag'])}”"


def _requirement(data: dict[str, Any]) -> str:
    return ("not " if data.get("negate") else "") + _tag(data)


move_to_queue = _value_action(
    "move_to_queue",
    description="Move selected jobs to a queue",
    doc="Put the jobs in the queue chosen on the next page.",
    form_class=QueueForm,
    title="Move jobs to a queue",
    apply=lambda jobs, data: move_jobs_to_queue(jobs=jobs, queue=data["queue"]),
    describe=lambda data: (
        f"Moved %(count)d job to queue {_literal(data['queue'])}.",
        f"Moved %(count)d jobs to queue {_literal(data['queue'])}.",
        "No job was moved: they were all in that queue already.",
    ),
)

set_priority_and_weight = _value_action(
    "set_priority_and_weight",
    description="Set priority and weight of selected jobs",
    doc="Give the jobs the priority and/or weight of the next page.",
    form_class=PriorityWeightForm,
    title="Set the priority and weight of jobs",
    apply=lambda jobs, data: set_jobs_priority_and_weight(
        jobs=jobs, priority=data.get("priority"), weight=data.get("weight")
    ),
    describe=lambda data: (
        "Changed the priority or weight of %(count)d job.",
        "Changed the priority or weight of %(count)d jobs.",
        "No job was changed: they all had that priority and weight already.",
    ),
)

add_tag = _value_action(
    "add_tag",
    description="Add a tag to selected jobs",
    doc="Tag the jobs (the tag is created when new).",
    form_class=TagForm,
    title="Add a tag to jobs",
    apply=lambda jobs, data: add_tag_to_jobs(jobs=jobs, name=data["tag"]),
    describe=lambda data: (
        f"Tagged %(count)d job with {_tag(data)}.",
        f"Tagged %(count)d jobs with {_tag(data)}.",
        "No job was changed: they all had that tag already.",
    ),
)

remove_tag = _value_action(
    "remove_tag",
    description="Remove a tag from selected jobs",
    doc="Take a tag off the jobs.",
    form_class=TagForm,
    title="Remove a tag from jobs",
    apply=lambda jobs, data: remove_tag_from_jobs(jobs=jobs, name=data["tag"]),
    describe=lambda data: (
        f"Removed the tag {_tag(data)} from %(count)d job.",
        f"Removed the tag {_tag(data)} from %(count)d jobs.",
        "No job was changed: none of them had that tag.",
    ),
)

add_tag_requirement = _value_action(
    "add_tag_requirement",
    description="Add a tag requirement to selected jobs",
    doc="Make the jobs require (or, negated, forbid) a tag of their agents.",
    form_class=TagRequirementForm,
    title="Add a tag requirement to jobs",
    apply=lambda jobs, data: add_tag_requirement_to_jobs(
        jobs=jobs, name=data["tag"], negate=bool(data.get("negate"))
    ),
    describe=lambda data: (
        f"Added the tag requirement {_requirement(data)} to %(count)d job.",
        f"Added the tag requirement {_requirement(data)} to %(count)d jobs.",
        "No job was changed: they all had that tag requirement already.",
    ),
)

remove_tag_requirement = _value_action(
    "remove_tag_requirement",
    description="Remove a tag requirement from selected jobs",
    doc="Drop the jobs' requirement (or prohibition) of a tag.",
    form_class=TagForm,
    title="Remove a tag requirement from jobs",
    apply=lambda jobs, data: remove_tag_requirement_from_jobs(
        jobs=jobs, name=data["tag"]
    ),
    describe=lambda data: (
        f"Removed the requirement of {_tag(data)} from %(count)d job.",
        f"Removed the requirement of {_tag(data)} from %(count)d jobs.",
        "No job was changed: none of them required or forbade that tag.",
    ),
)


#: The actions, in the order of the admin's action menu.
JOB_SETTINGS_ACTIONS = (
    move_to_queue,
    set_priority_and_weight,
    add_tag,
    remove_tag,
    add_tag_requirement,
    remove_tag_requirement,
)
