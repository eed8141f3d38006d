"""Software that agents provide and that jobs and job types may require."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from farm.validators import length_error

__all__ = ["Software", "SoftwareVersion"]


class Software(models.Model):
    """A piece of software, e.g. "blender"; its versions are ranked."""

    software = models.CharField("name", max_length=64, unique=True)

    class Meta:
        db_table = "software"
        ordering = ["software"]
        verbose_name = "software"
        verbose_name_plural = "software"

    def __str__(self) -> str:
        return self.software


class SoftwareVersion(models.Model):
    """One version of a software.

    ``rank`` orders the versions of one software (higher is newer) so that
    requirements can say "at least" and "at most". ``discovery_code`` is
    Python source the agent runs, calling ``discovery_function_name``, to find
    out whether it has this version.
    """

    software = models.ForeignKey(
        Software, on_delete=models.CASCADE, related_name="versions"
    )
    version = models.CharField(max_length=255)
    rank = models.IntegerField()
    default = models.BooleanField(
        default=False, help_text="Use this version when a requirement names none."
    )
    discovery_code = models.TextField(null=True, blank=True)
    discovery_function_name = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        db_table = "software_versions"
        ordering = ["software_id", "rank"]
        verbose_name = "software version"
        constraints = [
            models.UniqueConstraint(
                fields=["software", "version"], name="unique_software_version"
            ),
            models.UniqueConstraint(
                fields=["software", "rank"], name="unique_software_version_rank"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.software_id and self.software.software} {self.version}"

    def clean(self) -> None:
        """Discovery needs both the code and the name of the function to call."""
        errors = {}
        error = length_error(
            "max_discovery_function_name_length", self.discovery_function_name
        )
        if error:
            errors["discovery_function_name"] = error
        if bool(self.discovery_code) != bool(self.discovery_function_name):
            errors["discovery_function_name"] = (
                "discovery_code and discovery_function_name go together"
            )
        if errors:
            raise ValidationError(errors)
