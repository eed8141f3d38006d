"""The rows a job submission names, found by their names and ids.

A submission names its job type, queue, group, parents, owner, notified
users, tags and software; the API's serializers turn the lists into the
specs below. Unknown names raise the model's ``DoesNotExist`` naming them
(unknown tags are created instead), and a name listed twice `ConflictError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from farm.models import (
    Job,
    JobGroup,
    JobNotifiedUser,
    JobQueue,
    JobSoftwareRequirement,
    JobType,
    JobTypeVersion,
    Software,
    SoftwareVersion,
    Tag,
)
from farm.services.errors import ConflictError
from farm.services.tags import find_or_create_tags
from pyfarm_site.conf import farm_config


@dataclass(frozen=True)
class TagRequirementSpec:
    """A tag an agent must have (or, with ``negate``, must not have), by name."""

    tag: str
    negate: bool = False


@dataclass(frozen=True)
class SoftwareRequirementSpec:
    """A required software by name, with optional version bounds by name."""

    software: str
    min_version: str | None = None
    max_version: str | None = None


@dataclass(frozen=True)
class NotifiedUserSpec:
    """A user to tell about a job's success, failure or deletion, by username."""

    username: str
    on_success: bool = True
    on_failure: bool = True
    on_deletion: bool = False


def _refuse_duplicates(names: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConflictError(f"{what} {name!r} is listed more than once")
        seen.add(name)


def find_jobtype_version(*, jobtype: str, version: int | None = None) -> JobTypeVersion:
    """The named job type's ``version``, or its latest version when None.

    Raises ``JobTypeVersion.DoesNotExist`` naming what is unknown.
    """
    versions = JobTypeVersion.objects.select_related("jobtype").filter(
        jobtype__name=jobtype
    )
    if version is None:
        found = versions.order_by("-version").first()
    else:
        found = versions.filter(version=version).first()
    if found is not None:
        return found
    if not JobType.objects.filter(name=jobtype).exists():
        raise JobTypeVersion.DoesNotExist(f"jobtype {jobtype!r} not found")
    if version is None:
        raise JobTypeVersion.DoesNotExist(f"jobtype {jobtype!r} has no versions")
    raise JobTypeVersion.DoesNotExist(
        f"version {version} of jobtype {jobtype!r} not found"
    )


def find_jobqueue(*, name: str) -> JobQueue:
    """A job queue by its full path ("render/lighting") or its unique name.

    Raises ``JobQueue.DoesNotExist`` when unknown, and ValidationError when
    several queues share the name (their full path tells them apart).
    """
    queue = JobQueue.objects.filter(fullpath=name).first()
    if queue is not None:
        return queue
    matches = list(JobQueue.objects.filter(name=name)[:2])
    if not matches:
        raise JobQueue.DoesNotExist(f"job queue {name!r} not found")
    if len(matches) > 1:
        raise ValidationError(
            {"jobqueue": f"several queues are named {name!r}; give the full path"}
        )
    return matches[0]


def find_jobgroup(*, jobgroup_id: int) -> JobGroup:
    """A job group by id; raises ``JobGroup.DoesNotExist`` when unknown."""
    group = JobGroup.objects.filter(pk=jobgroup_id).first()
    if group is None:
        raise JobGroup.DoesNotExist(f"job group {jobgroup_id} not found")
    return group


def find_parent_jobs(*, ids: Iterable[int]) -> list[Job]:
    """Jobs by id, in the given order; raises ``Job.DoesNotExist`` for a gap."""
    wanted = list(dict.fromkeys(ids))
    jobs = Job.objects.in_bulk(wanted)
    for pk in wanted:
        if pk not in jobs:
            raise Job.DoesNotExist(f"parent job {pk} not found")
    return [jobs[pk] for pk in wanted]


def find_users(*, usernames: Iterable[str], autocreate: bool = False) -> dict[str, Any]:
    """Users by username; with ``autocreate`` the unknown ones are created.

    Created users have no usable password and the email address that the
    ``autocreate_user_email`` template gives ("{username}@example.com"), or
    none. Without ``autocreate`` an unknown user raises ``DoesNotExist``.
    """
    user_model = get_user_model()
    wanted = list(dict.fromkeys(usernames))
    if not wanted:
        return {}
    users = {
        user.username: user for user in user_model.objects.filter(username__in=wanted)
    }
    missing = [name for name in wanted if name not in users]
    if missing and not autocreate:
        raise user_model.DoesNotExist(f"user {missing[0]!r} not found")
    template = farm_config("autocreate_user_email")
    for username in missing:
        user = user_model(
            username=username,
            email=template.format(username=username) if template else "",
        )
        user.set_unusable_password()
        try:
            user.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as error:
            raise ValidationError(
                f"cannot create user {username!r}: {'; '.join(error.messages)}"
            ) from None
        try:
            # A concurrent submission may create the same user first.
            with transaction.atomic():
                user.save()
        except IntegrityError:
            user = user_model.objects.get(username=username)
        users[username] = user
    return users


def build_software_requirements(
    specs: Sequence[SoftwareRequirementSpec],
) -> list[JobSoftwareRequirement]:
    """Unsaved requirement rows for software and versions named in ``specs``.

    Two queries whatever the count. Raises ``DoesNotExist`` for an unknown
    software or version, ConflictError for a software listed twice and
    ValidationError when a minimum version is above the maximum.
    """
    names = [spec.software for spec in specs]
    _refuse_duplicates(names, "software")
    if not names:
        return []
    software = {
        item.software: item for item in Software.objects.filter(software__in=names)
    }
    for name in names:
        if name not in software:
            raise Software.DoesNotExist(f"software {name!r} not found")
    version_names = {
        version
        for spec in specs
        for version in (spec.min_version, spec.max_version)
        if version is not None
    }
    versions = {
        (version.software_id, version.version): version
        for version in SoftwareVersion.objects.filter(
            software__in=software.values(), version__in=version_names
        )
    }

    def version_of(item: Software, name: str | None) -> SoftwareVersion | None:
        if name is None:
            return None
        version = versions.get((item.pk, name))
        if version is None:
            raise SoftwareVersion.DoesNotExist(
                f"version {name!r} of software {item.software!r} not found"
            )
        return version

    rows = []
    for spec in specs:
        item = software[spec.software]
        row = JobSoftwareRequirement(
            software=item,
            min_version=version_of(item, spec.min_version),
            max_version=version_of(item, spec.max_version),
        )
        row.clean()
        rows.append(row)
    return rows


def tag_requirement_rows(
    specs: Sequence[TagRequirementSpec],
) -> list[tuple[Tag, bool]]:
    """``(tag, negate)`` pairs for `create_job`; unknown tags are created."""
    _refuse_duplicates((spec.tag for spec in specs), "tag requirement")
    tags = find_or_create_tags(names=[spec.tag for spec in specs])
    return [(tag, spec.negate) for tag, spec in zip(tags, specs, strict=True)]


def notified_user_rows(
    specs: Sequence[NotifiedUserSpec], *, autocreate: bool
) -> list[JobNotifiedUser]:
    """Unsaved subscriptions for `create_job`; users created with ``autocreate``."""
    _refuse_duplicates((spec.username for spec in specs), "notified user")
    users = find_users(
        usernames=[spec.username for spec in specs], autocreate=autocreate
    )
    return [
        JobNotifiedUser(
            user=users[spec.username],
            on_success=spec.on_success,
            on_failure=spec.on_failure,
            on_deletion=spec.on_deletion,
        )
        for spec in specs
    ]
