"""Tags, which label agents and jobs, and path maps, which may apply per tag."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from farm.validators import length_error

__all__ = ["PathMap", "Tag"]


class Tag(models.Model):
    """A label put on agents and jobs; jobs may require or exclude agents by tag."""

    tag = models.CharField(max_length=64, unique=True)

    class Meta:
        db_table = "tags"
        ordering = ["tag"]
        verbose_name = "tag"

    def __str__(self) -> str:
        return self.tag

    def clean(self) -> None:
        """Enforce ``max_tag_length`` and refuse blank tags."""
        error = length_error("max_tag_length", self.tag)
        if not self.tag.strip():
            error = "must not be blank"
        if error:
            raise ValidationError({"tag": error})


class PathMap(models.Model):
    """Maps one path prefix across operating systems.

    A map with a tag applies to agents with that tag and overrides the
    untagged maps, which apply to every agent.
    """

    path_linux = models.CharField(max_length=512)
    path_windows = models.CharField(max_length=512)
    path_osx = models.CharField(max_length=512)
    tag = models.ForeignKey(
        Tag,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="path_maps",
    )

    class Meta:
        db_table = "path_maps"
        ordering = ["id"]
        verbose_name = "path map"

    def __str__(self) -> str:
        return f"{self.path_linux} | {self.path_windows} | {self.path_osx}"

    def clean(self) -> None:
        """Enforce ``max_path_length`` on each of the three paths."""
        errors = {
            field: error
            for field in ("path_linux", "path_windows", "path_osx")
            if (error := length_error("max_path_length", getattr(self, field)))
        }
        if errors:
            raise ValidationError(errors)
