"""Software: the list, a software's page, and the farm admins' changes.

Every user reads; farm admins add and remove software and versions, rank
versions and choose the default, through `farm.services.software`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from farm.models import Software, SoftwareVersion
from farm.services.errors import ConflictError
from farm.services.software import (
    VersionSpec,
    add_software_version,
    create_software,
    delete_software,
    delete_software_version,
    set_default_software_version,
    set_software_version_rank,
)
from farm.web.access import farm_admin_required, is_farm_admin
from farm.web.actions import service_action
from farm.web.forms_catalog import (
    SoftwareForm,
    SoftwareVersionForm,
    VersionDefaultForm,
    VersionRankForm,
)
from farm.web.queries_catalog import agents_per_version, jobtypes_requiring
from farm.web.views.catalog import paginate

ADMINS_ONLY = "Only farm admins can change software."


def _software_action(
    request: HttpRequest, software_id: int, call: Callable[[], Any], **options: Any
) -> HttpResponse:
    """`service_action` on a software's page: it leads back there (unless ``then``)."""
    return service_action(
        request, call, to="web:software", software_id=software_id, **options
    )


@login_required
def software_list(request: HttpRequest) -> HttpResponse:
    """``/software/``: every software with its versions by rank."""
    page = paginate(
        request,
        Software.objects.order_by("software").prefetch_related(
            Prefetch("versions", queryset=SoftwareVersion.objects.order_by("rank"))
        ),
    )
    return render(
        request,
        "web/catalog/software_list.html",
        {
            "page": page,
            "may_change": is_farm_admin(request.user),
            "form": SoftwareForm(),
        },
    )


@login_required
def software(request: HttpRequest, software_id: int) -> HttpResponse:
    """``/software/<id>/``: versions, the agents that have them, the job types."""
    item = get_object_or_404(Software, pk=software_id)
    agents = agents_per_version(item)
    versions = [
        (version, agents.get(version.pk, 0))
        for version in item.versions.order_by("-rank")
    ]
    return render(
        request,
        "web/catalog/software.html",
        {
            "software": item,
            "versions": versions,
            "agents_total": sum(agents.values()),
            "requirements": list(jobtypes_requiring(item)),
            "may_change": is_farm_admin(request.user),
            "version_form": SoftwareVersionForm(),
        },
    )


@farm_admin_required(ADMINS_ONLY, post=True)
def software_add(request: HttpRequest) -> HttpResponse:
    """Add a software (without versions)."""
    form = SoftwareForm(request.POST)
    return service_action(
        request,
        lambda: create_software(name=form.cleaned_data["name"]),
        form=form,
        done=lambda item: f"Software {item.software} added.",
        failed="Not added: {}",
        to="web:software_list",
        then=lambda item: redirect("web:software", software_id=item.pk),
    )


@farm_admin_required(ADMINS_ONLY, post=True)
def software_delete(request: HttpRequest, software_id: int) -> HttpResponse:
    """Remove a software and its versions, unless something requires it."""
    item = get_object_or_404(Software, pk=software_id)
    return _software_action(
        request,
        software_id,
        lambda: delete_software(software=item),
        done=f"Software {item.software} removed.",
        failed="Not removed: {}.",
        refusals=(ConflictError,),
        then=lambda _: redirect("web:software_list"),
    )


@farm_admin_required(ADMINS_ONLY, post=True)
def software_version_add(request: HttpRequest, software_id: int) -> HttpResponse:
    """Add a version; without a rank it ranks above every other."""
    item = get_object_or_404(Software, pk=software_id)
    form = SoftwareVersionForm(request.POST)
    return _software_action(
        request,
        software_id,
        lambda: add_software_version(
            software=item,
            spec=VersionSpec(
                version=form.cleaned_data["version"],
                rank=form.cleaned_data["rank"],
                default=form.cleaned_data["default"],
            ),
        ),
        form=form,
        done=lambda version: (
            f"Version {version.version} added with rank {version.rank}."
        ),
        failed="Not added: {}",
    )


def _version(software_id: int, version_id: int) -> SoftwareVersion:
    return get_object_or_404(
        SoftwareVersion.objects.select_related("software"),
        pk=version_id,
        software_id=software_id,
    )


@farm_admin_required(ADMINS_ONLY, post=True)
def software_version_delete(
    request: HttpRequest, software_id: int, version_id: int
) -> HttpResponse:
    """Remove a version, unless a job or job type requires it."""
    version = _version(software_id, version_id)
    return _software_action(
        request,
        software_id,
        lambda: delete_software_version(version=version),
        done=f"Version {version.version} removed.",
        failed="Not removed: {}.",
        refusals=(ConflictError,),
    )


@farm_admin_required(ADMINS_ONLY, post=True)
def software_version_rank(
    request: HttpRequest, software_id: int, version_id: int
) -> HttpResponse:
    """Give a version a new rank."""
    version = _version(software_id, version_id)
    form = VersionRankForm(request.POST)
    return _software_action(
        request,
        software_id,
        lambda: set_software_version_rank(
            version=version, rank=form.cleaned_data["rank"]
        ),
        form=form,
        done=lambda _: f"Version {version.version} now has rank {version.rank}.",
        failed="Rank not changed: {}",
        refusals=(ConflictError, ValidationError, SoftwareVersion.DoesNotExist),
    )


@farm_admin_required(ADMINS_ONLY, post=True)
def software_version_default(
    request: HttpRequest, software_id: int, version_id: int
) -> HttpResponse:
    """Make a version the default (``default=1``) or not (``default=0``)."""
    version = _version(software_id, version_id)
    form = VersionDefaultForm(request.POST)
    return _software_action(
        request,
        software_id,
        lambda: set_default_software_version(
            version=version, default=form.cleaned_data["default"]
        ),
        form=form,
        done=lambda _: (
            f"Version {version.version} is now the default."
            if version.default
            else f"Version {version.version} is no longer the default."
        ),
        failed="Default not changed: {}",
        refusals=(SoftwareVersion.DoesNotExist,),
    )
