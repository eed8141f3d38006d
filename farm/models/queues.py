"""Job queues: a tree that divides the farm's agents between groups of jobs."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.functions import Concat, Substr

from farm.validators import length_error, priority_error
from pyfarm_site.conf import default_queue_priority, default_queue_weight

__all__ = ["JobQueue"]

PATH_SEPARATOR = "/"


class JobQueue(models.Model):
    """A node of the queue tree.

    Agents are divided between the jobs and sub-queues of a queue by priority
    first and then in proportion to weight; ``minimum_agents`` is honoured
    before anything else and ``maximum_agents`` caps the whole subtree.
    ``fullpath`` ("root/child") is kept up to date on save, for this queue and
    every queue below it. Names are unique among siblings.
    """

    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        db_column="parent_jobqueue_id",
    )
    name = models.CharField(max_length=255)
    fullpath = models.CharField(max_length=1024, editable=False, db_index=True)
    priority = models.IntegerField(default=default_queue_priority)
    weight = models.PositiveIntegerField(default=default_queue_weight)
    minimum_agents = models.PositiveIntegerField(null=True, blank=True)
    maximum_agents = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        db_table = "job_queues"
        ordering = ["fullpath"]
        verbose_name = "job queue"
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name"], name="unique_jobqueue_name_in_parent"
            ),
            # NULL parents are distinct to a plain unique constraint.
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(parent__isnull=True),
                name="unique_top_level_jobqueue_name",
            ),
        ]

    def __str__(self) -> str:
        return self.fullpath or self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, then rewrite the paths below this queue if its own path moved."""
        old_path = self.fullpath
        self.fullpath = self.build_fullpath()
        with transaction.atomic():
            super().save(*args, **kwargs)
            if old_path and old_path != self.fullpath:
                prefix = old_path + PATH_SEPARATOR
                JobQueue.objects.filter(fullpath__startswith=prefix).update(
                    fullpath=Concat(
                        models.Value(self.fullpath + PATH_SEPARATOR),
                        Substr("fullpath", len(prefix) + 1),
                        output_field=models.CharField(),
                    )
                )

    def build_fullpath(self) -> str:
        """The path from the root of the tree to this queue."""
        parent = self.parent if self.parent_id is not None else None
        if parent is None:
            return self.name
        return f"{parent.fullpath}{PATH_SEPARATOR}{self.name}"

    def clean(self) -> None:
        """Names without separators, bounded ranges, and no cycles in the tree."""
        errors: dict[str, str] = {}
        name_error = length_error("max_queue_name_length", self.name)
        if not (self.name or "").strip():
            name_error = "must not be blank"
        elif PATH_SEPARATOR in self.name:
            name_error = f"must not contain {PATH_SEPARATOR!r}"
        if name_error:
            errors["name"] = name_error
        if error := priority_error(self.priority):
            errors["priority"] = error
        if (
            self.minimum_agents is not None
            and self.maximum_agents is not None
            and self.minimum_agents > self.maximum_agents
        ):
            errors["maximum_agents"] = "must not be lower than minimum_agents"
        if self.parent_id is not None and self.pk is not None:
            ancestor: JobQueue | None = self.parent
            while ancestor is not None:
                if ancestor.pk == self.pk:
                    errors["parent"] = "a queue cannot be placed below itself"
                    break
                ancestor = ancestor.parent
        if not errors and self.name:
            path_error = length_error("max_queue_path_length", self.build_fullpath())
            if path_error:
                errors["name"] = f"the queue's full path {path_error}"
        if errors:
            raise ValidationError(errors)
