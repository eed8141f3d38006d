"""Forms of the bulk actions on jobs: the dashboard's and the admin's.

The value forms (queue, priority and weight, tag, tag requirement) are
shared: the dashboard's bulk bar and the admin's intermediate pages validate
the same way before calling the same services (`farm.services.job_settings`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from farm.models import JobQueue, Tag
from farm.services.job_settings import WEIGHT_RANGE, weight_error
from farm.validators import parse_id, priority_error
from farm.web.widgets import QuickSelect

__all__ = [
    "BULK_ACTIONS",
    "JobBulkForm",
    "PriorityWeightForm",
    "QueueForm",
    "TagForm",
    "TagRequirementForm",
]

#: The bulk actions of the jobs list: name -> label (the original's
#: ``*_multiple_jobs`` and ``*_on_jobs``).
BULK_ACTIONS = {
    "pause": "Pause",
    "unpause": "Unpause",
    "rerun": "Rerun",
    "rerun_failed": "Rerun failed",
    "delete": "Delete",
    "move": "Move to queue",
    "set_priority": "Set priority and weight",
    "add_tag": "Add tag",
    "remove_tag": "Remove tag",
    "add_tag_requirement": "Add tag requirement",
    "remove_tag_requirement": "Remove tag requirement",
}


class QueueForm(forms.Form):
    """The queue to move jobs to."""

    queue = forms.ModelChoiceField(
        widget=QuickSelect,
        queryset=JobQueue.objects.only("pk", "name", "fullpath"),
        empty_label="Choose a queue",
        error_messages={
            "required": "Choose the queue to move the jobs to.",
            "invalid_choice": "That queue does not exist (any more).",
        },
    )


class PriorityWeightForm(forms.Form):
    """A new priority and/or weight, checked as the API checks them."""

    priority = forms.IntegerField(required=False)
    weight = forms.IntegerField(
        required=False, min_value=WEIGHT_RANGE[0], max_value=WEIGHT_RANGE[1]
    )

    def clean_priority(self) -> int | None:
        """Within ``queue_min_priority``..``queue_max_priority``."""
        value: int | None = self.cleaned_data.get("priority")
        if error := priority_error(value):
            raise ValidationError(f"The priority {error}.")
        return value

    def clean_weight(self) -> int | None:
        """A positive 32-bit integer."""
        value: int | None = self.cleaned_data.get("weight")
        if error := weight_error(value):
            raise ValidationError(f"The weight {error}.")
        return value

    def clean(self) -> dict[str, Any]:
        """At least one of the two."""
        cleaned = super().clean() or {}
        if (
            not self.errors
            and cleaned.get("priority") is None
            and cleaned.get("weight") is None
        ):
            raise ValidationError("Give a priority, a weight or both.")
        return cleaned


class TagForm(forms.Form):
    """A tag by name (created when it is added and new)."""

    tag = forms.CharField(
        max_length=Tag._meta.get_field("tag").max_length,
        error_messages={"required": "Give the name of the tag."},
    )


class TagRequirementForm(TagForm):
    """A tag agents must have, or with ``negate`` must not have."""

    negate = forms.BooleanField(
        required=False, label="Negate (agents must not have the tag)"
    )


#: Which value form an action needs, if any.
VALUE_FORMS: dict[str, type[forms.Form]] = {
    "move": QueueForm,
    "set_priority": PriorityWeightForm,
    "add_tag": TagForm,
    "remove_tag": TagForm,
    "add_tag_requirement": TagRequirementForm,
    "remove_tag_requirement": TagForm,
}


class JobIdsField(forms.Field):
    """Several job ids (the checked boxes), each a plain positive number."""

    def to_python(self, value: Any) -> list[int]:
        """The ids, without repeats; an error for anything that is no id."""
        values = value if isinstance(value, list | tuple) else [value]
        ids: list[int] = []
        for item in values:
            if item in self.empty_values:
                continue
            pk = parse_id(str(item))
            if pk is None or pk < 1:
                raise ValidationError("The selection contains an invalid job id.")
            ids.append(pk)
        return list(dict.fromkeys(ids))

    def validate(self, value: list[int]) -> None:
        """At least one job."""
        if not value:
            raise ValidationError("Select at least one job.")


class JobBulkForm(forms.Form):
    """A bulk action on the checked jobs, with the value it needs.

    After `is_valid()`, ``cleaned_data`` has ``action``, ``jobs`` (ids) and
    the values of the action's own form (`VALUE_FORMS`).
    """

    action = forms.ChoiceField(
        choices=list(BULK_ACTIONS.items()),
        error_messages={
            "required": "Choose an action.",
            "invalid_choice": "Unknown action.",
        },
    )
    job = JobIdsField(widget=forms.MultipleHiddenInput)

    def clean(self) -> dict[str, Any]:
        """Validate the action's values with its own form."""
        cleaned = super().clean() or {}
        value_form_class = VALUE_FORMS.get(cleaned.get("action", ""))
        if value_form_class is not None:
            value_form = value_form_class(self.data)
            if value_form.is_valid():
                cleaned.update(value_form.cleaned_data)
            else:
                for errors in value_form.errors.values():
                    for error in errors:
                        self.add_error(None, error)
        return cleaned

    def error_text(self) -> str:
        """Every error in one sentence or so, for a message."""
        return " ".join(
            str(error) for errors in self.errors.values() for error in errors
        )
