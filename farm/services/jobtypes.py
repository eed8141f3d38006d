"""Job type workflows: versions, software requirements, deletions.

A job type's code and software requirements never change in place: every
change makes a new `JobTypeVersion` numbered one above the latest, so jobs
keep running the version they were submitted with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from farm.models import (
    JobType,
    JobTypeSoftwareRequirement,
    JobTypeVersion,
    Software,
    SoftwareVersion,
)
from farm.services.errors import ConflictError
from farm.services.software import url_segment_error
from pyfarm_site.conf import (
    default_jobtype_batch_contiguous,
    default_jobtype_max_batch,
)

# Columns of JobType (the rest of a definition belongs to the version).
_JOBTYPE_FIELDS = (
    "description",
    "success_subject",
    "success_body",
    "fail_subject",
    "fail_body",
)


@dataclass(frozen=True)
class JobTypeDefinition:
    """Everything a client says about a job type apart from its name.

    Fields left out take their defaults: a new definition replaces the old
    one as a whole.
    """

    code: str
    description: str | None = None
    classname: str | None = None
    max_batch: int | None = field(default_factory=default_jobtype_max_batch)
    batch_contiguous: bool = field(default_factory=default_jobtype_batch_contiguous)
    no_automatic_start_time: bool = False
    supports_tiling: bool = False
    success_subject: str | None = None
    success_body: str | None = None
    fail_subject: str | None = None
    fail_body: str | None = None


@dataclass(frozen=True)
class Requirement:
    """A software a job type version needs, optionally between two versions."""

    software: Software
    min_version: SoftwareVersion | None = None
    max_version: SoftwareVersion | None = None


def _check_name(name: str, *, exclude_pk: int | None = None) -> None:
    error = url_segment_error(name)
    if error:
        raise ValidationError({"name": error})
    others = JobType.objects.filter(name=name)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    if others.exists():
        raise ConflictError(f"jobtype {name!r} already exists")


def _check_requirements(requirements: Sequence[Requirement]) -> None:
    names = [requirement.software.software for requirement in requirements]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValidationError(
            {"software_requirements": f"listed twice: {', '.join(duplicates)}"}
        )


def _apply_jobtype_fields(jobtype: JobType, definition: JobTypeDefinition) -> None:
    for name in _JOBTYPE_FIELDS:
        setattr(jobtype, name, getattr(definition, name))
    jobtype.full_clean(validate_unique=False)


def _save_version(
    jobtype: JobType,
    number: int,
    definition: JobTypeDefinition,
    requirements: Sequence[Requirement],
) -> JobTypeVersion:
    """Validate and save version ``number`` with its requirements."""
    version = JobTypeVersion(
        jobtype=jobtype,
        version=number,
        code=definition.code,
        classname=definition.classname,
        max_batch=definition.max_batch,
        batch_contiguous=definition.batch_contiguous,
        no_automatic_start_time=definition.no_automatic_start_time,
        supports_tiling=definition.supports_tiling,
    )
    version.full_clean(validate_unique=False, validate_constraints=False)
    rows = [
        JobTypeSoftwareRequirement(
            jobtype_version=version,
            software=requirement.software,
            min_version=requirement.min_version,
            max_version=requirement.max_version,
        )
        for requirement in requirements
    ]
    for row in rows:
        row.full_clean(
            exclude=["jobtype_version"],
            validate_unique=False,
            validate_constraints=False,
        )
    version.save()
    for row in rows:
        row.jobtype_version = version
    JobTypeSoftwareRequirement.objects.bulk_create(rows)
    return version


def _current_requirements(version: JobTypeVersion | None) -> list[Requirement]:
    if version is None:
        return []
    return [
        Requirement(
            software=row.software,
            min_version=row.min_version,
            max_version=row.max_version,
        )
        for row in version.software_requirements.select_related(
            "software", "min_version", "max_version"
        )
    ]


def _latest(jobtype: JobType) -> JobTypeVersion | None:
    return jobtype.versions.order_by("-version").first()


def _lock(jobtype: JobType) -> JobType:
    """The job type's row, locked until the transaction ends.

    Every new version is numbered "latest + 1" under this lock, so two
    concurrent changes of one job type cannot both make the same number.
    """
    return JobType.objects.select_for_update().get(pk=jobtype.pk)


def create_jobtype(
    *,
    name: str,
    definition: JobTypeDefinition,
    requirements: Sequence[Requirement] = (),
) -> JobTypeVersion:
    """Create a job type with its first version (number 1).

    Raises ConflictError when the name is taken, ValidationError for a bad
    name, definition or requirement.
    """
    _check_name(name)
    _check_requirements(requirements)
    jobtype = JobType(name=name)
    _apply_jobtype_fields(jobtype, definition)
    try:
        with transaction.atomic():
            jobtype.save()
            version = _save_version(jobtype, 1, definition, requirements)
    except IntegrityError:
        raise ConflictError(f"jobtype {name!r} already exists") from None
    return version


def add_jobtype_version(
    *,
    jobtype: JobType,
    definition: JobTypeDefinition,
    name: str | None = None,
    requirements: Sequence[Requirement] | None = None,
) -> JobTypeVersion:
    """Give a job type a new version (latest + 1) with a new definition.

    ``name`` renames the job type. Without ``requirements`` the new version
    keeps the software requirements of the latest one.
    """
    if name is not None:
        _check_name(name, exclude_pk=jobtype.pk)
    if requirements is not None:
        _check_requirements(requirements)
    try:
        with transaction.atomic():
            jobtype = _lock(jobtype)
            latest = _latest(jobtype)
            if requirements is None:
                requirements = _current_requirements(latest)
            if name is not None:
                jobtype.name = name
            _apply_jobtype_fields(jobtype, definition)
            jobtype.save()
            number = latest.version + 1 if latest else 1
            return _save_version(jobtype, number, definition, requirements)
    except IntegrityError:
        raise ConflictError(
            f"jobtype {jobtype.name!r} was changed concurrently; try again"
        ) from None


def _definition_of(version: JobTypeVersion) -> JobTypeDefinition:
    jobtype = version.jobtype
    return JobTypeDefinition(
        code=version.code,
        classname=version.classname,
        max_batch=version.max_batch,
        batch_contiguous=version.batch_contiguous,
        no_automatic_start_time=version.no_automatic_start_time,
        supports_tiling=version.supports_tiling,
        **{name: getattr(jobtype, name) for name in _JOBTYPE_FIELDS},
    )


def set_jobtype_software_requirements(
    *, jobtype: JobType, requirements: Sequence[Requirement]
) -> JobTypeVersion:
    """A new version (latest + 1) with the latest's code and these requirements.

    Raises ValidationError when the job type has no version to start from.
    """
    _check_requirements(requirements)
    with transaction.atomic():
        jobtype = _lock(jobtype)
        latest = _latest(jobtype)
        if latest is None:
            raise ValidationError(f"jobtype {jobtype.name!r} has no versions")
        return _save_version(
            jobtype, latest.version + 1, _definition_of(latest), requirements
        )


def add_jobtype_software_requirement(
    *, jobtype: JobType, requirement: Requirement
) -> JobTypeSoftwareRequirement:
    """Require one more software, in a new version of the job type.

    Raises ConflictError when the latest version already requires that
    software.
    """
    with transaction.atomic():
        jobtype = _lock(jobtype)
        current = _current_requirements(_latest(jobtype))
        if any(r.software.pk == requirement.software.pk for r in current):
            raise ConflictError(
                f"jobtype {jobtype.name!r} already requires software "
                f"{requirement.software.software!r}"
            )
        version = set_jobtype_software_requirements(
            jobtype=jobtype, requirements=[*current, requirement]
        )
    return version.software_requirements.select_related(
        "software", "min_version", "max_version", "jobtype_version__jobtype"
    ).get(software=requirement.software)


def remove_jobtype_software_requirement(
    *, jobtype: JobType, software: Software
) -> JobTypeVersion | None:
    """Drop the requirement of ``software``, in a new version of the job type.

    Returns the new version, or None (and changes nothing) when the latest
    version does not require that software.
    """
    with transaction.atomic():
        jobtype = _lock(jobtype)
        current = _current_requirements(_latest(jobtype))
        remaining = [r for r in current if r.software.pk != software.pk]
        if len(remaining) == len(current):
            return None
        return set_jobtype_software_requirements(
            jobtype=jobtype, requirements=remaining
        )


def delete_jobtype(*, jobtype: JobType) -> None:
    """Delete a job type with all its versions; ConflictError while jobs use it."""
    try:
        with transaction.atomic():
            jobtype.delete()
    except ProtectedError:
        raise ConflictError(
            f"jobtype {jobtype.name!r} is still used by jobs or job groups"
        ) from None


def delete_jobtype_version(*, version: JobTypeVersion) -> None:
    """Delete one version of a job type; ConflictError while jobs use it."""
    try:
        with transaction.atomic():
            version.delete()
    except ProtectedError:
        raise ConflictError(
            f"version {version.version} of jobtype {version.jobtype.name!r} is "
            "still used by jobs"
        ) from None


def update_jobtype_notification_templates(
    *,
    jobtype: JobType,
    success_subject: str | None,
    success_body: str | None,
    fail_subject: str | None,
    fail_body: str | None,
) -> JobType:
    """Replace the job type's notification texts, without a new version.

    The texts belong to the job type, not to a version: jobs already running
    tell their users with the new texts. Blank texts are stored as None, as
    the API stores texts left out. A subject is one line of an email header,
    so a line break in one is a ValidationError.
    """
    texts = {
        "success_subject": success_subject,
        "success_body": success_body,
        "fail_subject": fail_subject,
        "fail_body": fail_body,
    }
    texts = {
        name: (value if value and value.strip() else None)
        for name, value in texts.items()
    }
    errors = {
        name: "must be a single line"
        for name in ("success_subject", "fail_subject")
        if any(mark in (texts[name] or "") for mark in "\r\n")
    }
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = _lock(jobtype)
        for name, value in texts.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(texts))
    return locked
