"""Job groups and job types: lists, pages and the farm admins' changes.

Every user reads these pages; only farm admins change job types (through
`farm.services.jobtypes`). Software has its own module, `catalog_software`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from farm.models import (
    JobGroup,
    JobType,
    JobTypeSoftwareRequirement,
    JobTypeVersion,
    Software,
)
from farm.services.errors import ConflictError
from farm.services.jobtypes import (
    JobTypeDefinition,
    Requirement,
    add_jobtype_software_requirement,
    create_jobtype,
    delete_jobtype,
    remove_jobtype_software_requirement,
    update_jobtype_notification_templates,
)
from farm.web.access import farm_admin_required, is_farm_admin, refuse
from farm.web.actions import service_action
from farm.web.forms_catalog import (
    JobTypeCreateForm,
    NotificationTemplatesForm,
    RequirementForm,
)
from farm.web.queries_catalog import (
    job_counts_per_jobtype,
    latest_versions,
    state_counts_per_group,
    task_counts_per_job,
)

PER_PAGE = 50
ADMINS_ONLY = "Only farm admins can change job types."


def _jobtype_action(
    request: HttpRequest, jobtype_id: int, call: Callable[[], Any], **options: Any
) -> HttpResponse:
    """`service_action` on a job type's page: it leads back there (unless ``then``)."""
    return service_action(
        request, call, to="web:jobtype", jobtype_id=jobtype_id, **options
    )


def paginate(request: HttpRequest, rows: Any, per_page: int = PER_PAGE) -> Page:
    """The page of ``rows`` that ``?page=`` asks for (the last one if too high)."""
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


def add_service_errors(form: Any, error: ValidationError) -> None:
    """A service's ValidationError on the form: by field where the form has it."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, texts in error.message_dict.items():
        form.add_error(name if name in form.fields else None, texts)


# --- Job groups ---------------------------------------------------------------


@login_required
def jobgroups(request: HttpRequest) -> HttpResponse:
    """``/groups/``: the job groups, with their jobs counted by state."""
    page = paginate(
        request,
        JobGroup.objects.select_related("user", "main_jobtype").order_by("title", "id"),
    )
    counts = state_counts_per_group([group.pk for group in page])
    rows = [(group, counts.get(group.pk)) for group in page]
    return render(request, "web/catalog/jobgroups.html", {"page": page, "rows": rows})


@login_required
def jobgroup(request: HttpRequest, group_id: int) -> HttpResponse:
    """``/groups/<id>/``: a group's fields and its jobs with their progress."""
    group = get_object_or_404(
        JobGroup.objects.select_related("user", "main_jobtype"), pk=group_id
    )
    jobs = (
        group.jobs.visible()
        .select_related("user", "jobtype_version__jobtype")
        .order_by("-time_submitted", "-id")
    )
    page = paginate(request, jobs)
    tasks = task_counts_per_job([job.pk for job in page])
    rows = [(job, tasks.get(job.pk)) for job in page]
    totals = state_counts_per_group([group.pk]).get(group.pk)
    return render(
        request,
        "web/catalog/jobgroup.html",
        {"group": group, "page": page, "rows": rows, "totals": totals},
    )


# --- Job types ----------------------------------------------------------------


@login_required
def jobtypes(request: HttpRequest) -> HttpResponse:
    """``/jobtypes/``: the job types with their latest version and jobs."""
    page = paginate(request, JobType.objects.order_by("name"))
    ids = [jobtype.pk for jobtype in page]
    latest = latest_versions(ids)
    jobs = job_counts_per_jobtype(ids)
    rows = [
        (jobtype, latest.get(jobtype.pk), jobs.get(jobtype.pk, 0)) for jobtype in page
    ]
    return render(
        request,
        "web/catalog/jobtypes.html",
        {"page": page, "rows": rows, "may_change": is_farm_admin(request.user)},
    )


@cache
def _formatter() -> HtmlFormatter[str]:
    return HtmlFormatter(cssclass="highlight")


def highlighted(code: str) -> str:
    """``code`` as Python, highlighted by Pygments (``.highlight`` spans)."""
    return highlight(code, PythonLexer(), _formatter())


@login_required
def jobtype(request: HttpRequest, jobtype_id: int) -> HttpResponse:
    """``/jobtypes/<id>/``: versions, the code of one (``?version=N``), requirements.

    Without ``?version`` the latest version's code is shown; an unknown or
    malformed version number is a 404.
    """
    requirements = JobTypeSoftwareRequirement.objects.select_related(
        "software", "min_version", "max_version"
    )
    jobtype = get_object_or_404(
        JobType.objects.prefetch_related(
            Prefetch(
                "versions",
                queryset=JobTypeVersion.objects.order_by("-version").prefetch_related(
                    Prefetch("software_requirements", queryset=requirements)
                ),
            )
        ),
        pk=jobtype_id,
    )
    versions = list(jobtype.versions.all())
    latest = versions[0] if versions else None
    shown = latest
    if "version" in request.GET:
        wanted = request.GET["version"]
        shown = next((v for v in versions if str(v.version) == wanted), None)
        if shown is None:
            raise Http404("This job type has no such version.")
    may_change = is_farm_admin(request.user)
    context: dict[str, Any] = {
        "jobtype": jobtype,
        "versions": versions,
        "latest": latest,
        "shown": shown,
        "code": highlighted(shown.code) if shown else "",
        "jobs": job_counts_per_jobtype([jobtype.pk]).get(jobtype.pk, 0),
        "may_change": may_change,
    }
    if may_change:
        context["requirement_form"] = RequirementForm()
        context["notification_form"] = NotificationTemplatesForm(instance=jobtype)
    return render(request, "web/catalog/jobtype.html", context)


@farm_admin_required(ADMINS_ONLY)
def jobtype_create(request: HttpRequest) -> HttpResponse:
    """``/jobtypes/new/``: the form of a new job type (its version 1)."""
    form = JobTypeCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        definition = JobTypeDefinition(
            code=data["code"],
            description=data["description"] or None,
            classname=data["classname"] or None,
            max_batch=data["max_batch"],
            batch_contiguous=data["batch_contiguous"],
        )
        try:
            version = create_jobtype(name=data["name"], definition=definition)
        except ConflictError as error:
            form.add_error("name", str(error))
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Job type {data['name']} created.")
            return redirect("web:jobtype", jobtype_id=version.jobtype_id)
    return render(request, "web/catalog/jobtype_create.html", {"form": form})


@farm_admin_required(ADMINS_ONLY, post=True)
def jobtype_delete(request: HttpRequest, jobtype_id: int) -> HttpResponse:
    """Delete a job type with its versions, unless jobs or groups still use it."""
    jobtype = get_object_or_404(JobType, pk=jobtype_id)
    return _jobtype_action(
        request,
        jobtype_id,
        lambda: delete_jobtype(jobtype=jobtype),
        done=f"Job type {jobtype.name} deleted.",
        failed="Not deleted: {}.",
        refusals=(ConflictError,),
        then=lambda _: redirect("web:jobtypes"),
    )


@farm_admin_required(ADMINS_ONLY, post=True)
def jobtype_requirement_add(request: HttpRequest, jobtype_id: int) -> HttpResponse:
    """Require a software (in a new version of the job type)."""
    jobtype = get_object_or_404(JobType, pk=jobtype_id)
    form = RequirementForm(request.POST)

    def add() -> JobTypeSoftwareRequirement:
        return add_jobtype_software_requirement(
            jobtype=jobtype,
            requirement=Requirement(
                software=form.cleaned_data["software"],
                min_version=form.cleaned_data["min_version"],
                max_version=form.cleaned_data["max_version"],
            ),
        )

    return _jobtype_action(
        request,
        jobtype_id,
        add,
        form=form,
        done=lambda row: (
            f"{jobtype.name} now requires {form.cleaned_data['software'].software} "
            f"(version {row.jobtype_version.version})."
        ),
        failed="Not added: {}",
    )


@farm_admin_required(ADMINS_ONLY, post=True)
def jobtype_requirement_remove(
    request: HttpRequest, jobtype_id: int, software_id: int
) -> HttpResponse:
    """Drop a software requirement (in a new version of the job type)."""
    jobtype = get_object_or_404(JobType, pk=jobtype_id)
    software = get_object_or_404(Software, pk=software_id)
    version = remove_jobtype_software_requirement(jobtype=jobtype, software=software)
    if version is None:
        return refuse(
            request,
            f"{jobtype.name} does not require {software.software}.",
            "web:jobtype",
            jobtype_id=jobtype_id,
        )
    messages.success(
        request,
        f"{jobtype.name} no longer requires {software.software} "
        f"(version {version.version}).",
    )
    return redirect("web:jobtype", jobtype_id=jobtype_id)


@farm_admin_required(ADMINS_ONLY, post=True)
def jobtype_notifications(request: HttpRequest, jobtype_id: int) -> HttpResponse:
    """Change the job type's success and failure notification texts."""
    jobtype = get_object_or_404(JobType, pk=jobtype_id)
    form = NotificationTemplatesForm(request.POST, instance=jobtype)
    return _jobtype_action(
        request,
        jobtype_id,
        lambda: update_jobtype_notification_templates(
            jobtype=jobtype,
            **{name: form.cleaned_data[name] for name in form.Meta.fields},
        ),
        form=form,
        done="Notification templates saved.",
        failed="Not saved: {}",
        refusals=(ValidationError,),
    )
