"""Job types: versioned Python code the agent runs for a job's tasks."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from farm.validators import length_error
from pyfarm_site.conf import (
    default_jobtype_batch_contiguous,
    default_jobtype_max_batch,
)

__all__ = ["JobType", "JobTypeSoftwareRequirement", "JobTypeVersion"]


class JobType(models.Model):
    """A kind of work (render, simulation, …) with per-type notification texts.

    The code lives in versions: a change of code or of software requirements
    makes a new `JobTypeVersion`, so running jobs keep the version they were
    submitted with.
    """

    name = models.CharField(max_length=64, unique=True)
    description = models.TextField(null=True, blank=True)
    success_subject = models.TextField(null=True, blank=True)
    success_body = models.TextField(null=True, blank=True)
    fail_subject = models.TextField(null=True, blank=True)
    fail_body = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "jobtypes"
        ordering = ["name"]
        verbose_name = "job type"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Enforce ``job_type_max_name_length`` and refuse blank names."""
        error = length_error("job_type_max_name_length", self.name)
        if not (self.name or "").strip():
            error = "must not be blank"
        if error:
            raise ValidationError({"name": error})


class JobTypeVersion(models.Model):
    """One version of a job type's code.

    ``max_batch`` caps how many tasks an agent gets at once; with
    ``batch_contiguous`` the frames of a batch must follow each other.
    ``supports_tiling`` says the code can split a frame into a job's
    ``num_tiles`` regions (a task's ``tile``).
    """

    jobtype = models.ForeignKey(
        JobType, on_delete=models.CASCADE, related_name="versions"
    )
    version = models.PositiveIntegerField()
    code = models.TextField(help_text="Python source defining the class below.")
    classname = models.CharField(max_length=64, null=True, blank=True)
    max_batch = models.PositiveIntegerField(
        null=True, blank=True, default=default_jobtype_max_batch
    )
    batch_contiguous = models.BooleanField(default=default_jobtype_batch_contiguous)
    no_automatic_start_time = models.BooleanField(
        default=False,
        help_text="The job type sets its tasks' start times itself.",
    )
    supports_tiling = models.BooleanField(
        default=False,
        help_text="The job type can render a frame in tiles (a job's num_tiles).",
    )

    class Meta:
        db_table = "jobtype_versions"
        ordering = ["jobtype_id", "-version"]
        verbose_name = "job type version"
        get_latest_by = "version"
        constraints = [
            models.UniqueConstraint(
                fields=["jobtype", "version"], name="unique_jobtype_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.jobtype_id and self.jobtype.name} v{self.version}"

    def clean(self) -> None:
        """Enforce the class name length and a positive batch size."""
        errors = {}
        error = length_error("job_type_max_class_name_length", self.classname)
        if error:
            errors["classname"] = error
        if self.max_batch is not None and self.max_batch < 1:
            errors["max_batch"] = "must be at least 1"
        if errors:
            raise ValidationError(errors)


class SoftwareRequirementBase(models.Model):
    """A required software, optionally bounded by a minimum and maximum version."""

    software = models.ForeignKey("farm.Software", on_delete=models.PROTECT)
    min_version = models.ForeignKey(
        "farm.SoftwareVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    max_version = models.ForeignKey(
        "farm.SoftwareVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        low = self.min_version.version if self.min_version else "*"
        high = self.max_version.version if self.max_version else "*"
        return f"{self.software} [{low}, {high}]"

    def clean(self) -> None:
        """Both bounds belong to the software, and min is not above max."""
        errors = {}
        for field in ("min_version", "max_version"):
            version = getattr(self, field)
            if version is not None and version.software_id != self.software_id:
                errors[field] = f"is a version of another software than {self.software}"
        if (
            not errors
            and self.min_version is not None
            and self.max_version is not None
            and self.min_version.rank > self.max_version.rank
        ):
            errors["max_version"] = "must not be lower than min_version"
        if errors:
            raise ValidationError(errors)


class JobTypeSoftwareRequirement(SoftwareRequirementBase):
    """A software every agent must have to run a job type version."""

    jobtype_version = models.ForeignKey(
        JobTypeVersion, on_delete=models.CASCADE, related_name="software_requirements"
    )

    class Meta:
        db_table = "jobtype_software_requirements"
        ordering = ["jobtype_version_id", "software_id"]
        verbose_name = "job type software requirement"
        constraints = [
            models.UniqueConstraint(
                fields=["jobtype_version", "software"],
                name="unique_jobtype_software_requirement",
            )
        ]
