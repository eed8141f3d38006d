"""Software workflows: software with ranked versions, renames, deletions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Model, ProtectedError, Q

from farm.models import Software, SoftwareVersion
from farm.services.errors import ConflictError

# Ranks are 32-bit integers in the database; an explicit rank must fit, and so
# must the ranks given to versions that come after it.
MAX_RANK = 2**31 - 1
# The gap between automatically ranked versions, so that a version can later
# be slotted in between two others without renumbering them.
RANK_STEP = 100


@dataclass(frozen=True)
class VersionSpec:
    """One software version as a client describes it (rank optional)."""

    version: str
    rank: int | None = None
    default: bool = False
    discovery_code: str | None = None
    discovery_function_name: str | None = None


def url_segment_error(value: str | None) -> str | None:
    """Why ``value`` cannot be one segment of an API URL, or None.

    Names and versions of job types and software appear in URLs
    (``/software/<name>/versions/<version>``); one with a path separator or a
    ``..`` could never be addressed, or worse, address something else.
    """
    if value is None:
        return None
    if "/" in value or "\\" in value:
        return "must not contain path separators"
    if ".." in value:
        return "must not contain '..'"
    return None


def _check_segment(field: str, value: str | None) -> None:
    error = url_segment_error(value)
    if error:
        raise ValidationError({field: error})


def assign_ranks(specs: Sequence[VersionSpec], start: int) -> list[int]:
    """The rank of each of ``specs``, in order.

    A version without a rank is taken to be the newest so far: it ranks
    ``RANK_STEP`` above the highest rank before it (``start`` being the rank
    the first unranked version gets). Explicit ranks are kept.
    """
    ranks = []
    current = start
    for spec in specs:
        rank = current if spec.rank is None else spec.rank
        if not 0 <= rank <= MAX_RANK:
            raise ValidationError(
                {
                    "rank": f"version {spec.version!r} would get rank {rank}, "
                    f"outside 0..{MAX_RANK}"
                }
            )
        ranks.append(rank)
        current = max(rank, current) + RANK_STEP
    return ranks


def _check_specs(specs: Sequence[VersionSpec]) -> None:
    names = [spec.version for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValidationError({"versions": f"listed twice: {', '.join(duplicates)}"})
    for spec in specs:
        _check_segment("version", spec.version)


def _check_ranks_unique(specs: Sequence[VersionSpec], ranks: list[int]) -> None:
    seen: dict[int, str] = {}
    for spec, rank in zip(specs, ranks, strict=True):
        if rank in seen:
            raise ValidationError(
                {
                    "rank": f"versions {seen[rank]!r} and {spec.version!r} "
                    f"have the same rank {rank}"
                }
            )
        seen[rank] = spec.version


def _build_version(software: Software, spec: VersionSpec, rank: int) -> SoftwareVersion:
    version = SoftwareVersion(
        software=software,
        version=spec.version,
        rank=rank,
        default=spec.default,
        discovery_code=spec.discovery_code,
        discovery_function_name=spec.discovery_function_name,
    )
    version.full_clean(
        exclude=["software"], validate_unique=False, validate_constraints=False
    )
    return version


def _check_name(name: str, *, exclude_pk: int | None = None) -> None:
    _check_segment("software", name)
    others = Software.objects.filter(software=name)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    if others.exists():
        raise ConflictError(f"software {name!r} already exists")


def _single_default(specs: Sequence[VersionSpec]) -> None:
    defaults = [spec.version for spec in specs if spec.default]
    if len(defaults) > 1:
        raise ValidationError(
            {"default": f"only one version can be the default: {', '.join(defaults)}"}
        )


def create_software(*, name: str, versions: Sequence[VersionSpec] = ()) -> Software:
    """Create a software with its versions; unranked versions are ranked.

    Ranks start at 100 and grow by 100, each unranked version being the newest
    so far. Raises ConflictError when the name is taken, ValidationError for
    bad names, versions or ranks.
    """
    _check_name(name)
    _check_specs(versions)
    _single_default(versions)
    ranks = assign_ranks(versions, RANK_STEP)
    _check_ranks_unique(versions, ranks)
    software = Software(software=name)
    software.full_clean(validate_unique=False)
    rows = [
        _build_version(software, spec, rank)
        for spec, rank in zip(versions, ranks, strict=True)
    ]
    try:
        with transaction.atomic():
            software.save()
            for row in rows:
                row.software = software
            SoftwareVersion.objects.bulk_create(rows)
    except IntegrityError:
        # A concurrent request created the same name first.
        raise ConflictError(f"software {name!r} already exists") from None
    return software


def update_software(
    *, software: Software, name: str, versions: Sequence[VersionSpec] | None = None
) -> Software:
    """Rename a software and, when ``versions`` is given, replace its versions.

    Versions that keep their name keep their row (and so the requirements and
    agents that refer to them) and take the new rank and attributes; versions
    not listed are deleted, which a version still required by a job or job
    type prevents (ConflictError). Ranks are assigned as in `create_software`.
    """
    _check_name(name, exclude_pk=software.pk)
    specs = list(versions) if versions is not None else None
    if specs is not None:
        _check_specs(specs)
        _single_default(specs)
        ranks = assign_ranks(specs, RANK_STEP)
        _check_ranks_unique(specs, ranks)
    software.software = name
    software.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            software = Software.objects.select_for_update().get(pk=software.pk)
            software.software = name
            software.save(update_fields=["software"])
            if specs is not None:
                _replace_versions(software, specs, ranks)
    except ProtectedError:
        raise ConflictError(
            f"versions of software {name!r} that are not listed are still "
            "required by jobs or job types"
        ) from None
    except IntegrityError:
        raise ConflictError(f"software {name!r} already exists") from None
    return software


def _replace_versions(
    software: Software, specs: list[VersionSpec], ranks: list[int]
) -> None:
    existing = {row.version: row for row in software.versions.all()}
    wanted = {spec.version for spec in specs}
    SoftwareVersion.objects.filter(
        pk__in=[row.pk for name, row in existing.items() if name not in wanted]
    ).delete()
    kept = [existing[spec.version] for spec in specs if spec.version in existing]
    # Park the kept versions on negative ranks first: ranks are unique per
    # software and the new ranks may swap the old ones around.
    for index, row in enumerate(kept):
        SoftwareVersion.objects.filter(pk=row.pk).update(rank=-1 - index)
    for spec, rank in zip(specs, ranks, strict=True):
        row = _build_version(software, spec, rank)
        if spec.version in existing:
            row.pk = existing[spec.version].pk
        row.save()


def delete_software(*, software: Software) -> None:
    """Delete a software and its versions; ConflictError while required."""
    try:
        with transaction.atomic():
            software.delete()
    except ProtectedError:
        raise ConflictError(
            f"software {software.software!r} is still required by jobs or job types"
        ) from None


def add_software_version(*, software: Software, spec: VersionSpec) -> SoftwareVersion:
    """Add one version; without a rank it becomes the newest (highest + 100).

    A version made the default takes that role from the others. Raises
    ConflictError for a version or rank the software already has.
    """
    _check_specs([spec])
    with transaction.atomic():
        # The row lock serialises concurrent additions, which would otherwise
        # both compute the same "next" rank.
        software = Software.objects.select_for_update().get(pk=software.pk)
        versions = software.versions.all()
        if versions.filter(version=spec.version).exists():
            raise ConflictError(
                f"software {software.software!r} already has version {spec.version!r}"
            )
        highest = versions.aggregate(highest=Max("rank"))["highest"]
        (rank,) = assign_ranks([spec], (highest or 0) + RANK_STEP)
        if versions.filter(rank=rank).exists():
            raise ConflictError(
                f"software {software.software!r} already has a version of rank {rank}"
            )
        row = _build_version(software, spec, rank)
        if spec.default:
            versions.filter(default=True).update(default=False)
        row.save()
    return row


def delete_software_version(*, version: SoftwareVersion) -> None:
    """Delete one version; ConflictError while a job or job type requires it."""
    try:
        with transaction.atomic():
            version.delete()
    except ProtectedError:
        raise ConflictError(
            f"version {version.version!r} is still required by jobs or job types"
        ) from None


def _requirement_models() -> tuple[type[Model], ...]:
    from farm.models import JobSoftwareRequirement, JobTypeSoftwareRequirement

    return (JobSoftwareRequirement, JobTypeSoftwareRequirement)


def set_software_version_rank(
    *, version: SoftwareVersion, rank: int
) -> SoftwareVersion:
    """Give one version a new rank among the versions of its software.

    Raises ValidationError for a rank outside 0..MAX_RANK, ConflictError when
    another version of the software has that rank, or when the new rank would
    turn a requirement's bounds around (its minimum ranked above its maximum).
    """
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank <= MAX_RANK:
        raise ValidationError({"rank": f"must be a whole number in 0..{MAX_RANK}"})
    try:
        with transaction.atomic():
            # The software's row lock serialises changes of its versions' ranks.
            software = Software.objects.select_for_update().get(pk=version.software_id)
            siblings = SoftwareVersion.objects.filter(software=software)
            if siblings.filter(rank=rank).exclude(pk=version.pk).exists():
                raise ConflictError(
                    f"software {software.software!r} already has a version of "
                    f"rank {rank}"
                )
            for model in _requirement_models():
                crossed = model.objects.filter(  # type: ignore[attr-defined]
                    Q(min_version=version, max_version__rank__lt=rank)
                    | Q(max_version=version, min_version__rank__gt=rank)
                )
                if crossed.exists():
                    raise ConflictError(
                        f"rank {rank} would put version {version.version!r} on the "
                        "wrong side of a requirement's other bound"
                    )
            if not siblings.filter(pk=version.pk).update(rank=rank):
                raise SoftwareVersion.DoesNotExist(
                    f"version {version.version!r} no longer exists"
                )
    except IntegrityError:
        raise ConflictError(
            f"software {version.software.software!r} already has a version of "
            f"rank {rank}"
        ) from None
    version.rank = rank
    return version


def set_default_software_version(
    *, version: SoftwareVersion, default: bool = True
) -> SoftwareVersion:
    """Make ``version`` its software's default (taking it from the others), or not.

    With ``default=False`` the version stops being the default and the
    software has none.
    """
    with transaction.atomic():
        software = Software.objects.select_for_update().get(pk=version.software_id)
        siblings = SoftwareVersion.objects.filter(software=software)
        if default:
            siblings.filter(default=True).exclude(pk=version.pk).update(default=False)
        if not siblings.filter(pk=version.pk).update(default=default):
            raise SoftwareVersion.DoesNotExist(
                f"version {version.version!r} no longer exists"
            )
    version.default = default
    return version
