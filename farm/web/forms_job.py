"""Forms of a job's page: they check types and bounds; the services decide the rest.

The bounds keep every value inside its column (a number too large for the
database is a message, never a server error); the rules between fields
(minimum not above maximum, a frame range of at most ``max_tasks_per_job``
tasks) are the model's and the services', reported as messages.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from farm.choices import WorkState

# The largest value of a PositiveIntegerField / IntegerField column.
INT_MAX = 2_147_483_647
# The frame columns: DECIMAL(10, 4).
FRAME_LIMIT = Decimal("999999.9999")


def _count(
    label: str, *, minimum: int = 0, required: bool = True
) -> forms.IntegerField:
    return forms.IntegerField(
        label=label, min_value=minimum, max_value=INT_MAX, required=required
    )


class SchedulingForm(forms.Form):
    """Priority, weight, minimum and maximum agents, batch size."""

    priority = forms.IntegerField(min_value=-INT_MAX, max_value=INT_MAX)
    weight = _count("Weight")
    minimum_agents = _count("Minimum agents", required=False)
    maximum_agents = _count("Maximum agents", required=False)
    batch = _count("Batch", minimum=1)


class FrameRangeForm(forms.Form):
    """A new frame range: start, end, by."""

    start = forms.DecimalField(
        max_digits=10,
        decimal_places=4,
        min_value=-FRAME_LIMIT,
        max_value=FRAME_LIMIT,
    )
    end = forms.DecimalField(
        max_digits=10,
        decimal_places=4,
        min_value=-FRAME_LIMIT,
        max_value=FRAME_LIMIT,
    )
    by = forms.DecimalField(
        max_digits=10,
        decimal_places=4,
        min_value=Decimal("0.0001"),
        max_value=FRAME_LIMIT,
    )

    def clean(self) -> dict[str, Any]:
        """End not before start."""
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is not None and end is not None and end < start:
            self.add_error("end", "must not be lower than start")
        return cleaned


class NotesForm(forms.Form):
    """The job's free-text notes."""

    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))


class AutodeleteForm(forms.Form):
    """How long after it finished the job is deleted; all empty: never."""

    days = _count("Days", required=False)
    hours = _count("Hours", required=False)
    minutes = _count("Minutes", required=False)

    def seconds(self) -> int | None:
        """The delay in seconds, None for never (call after ``is_valid``)."""
        parts = [self.cleaned_data.get(name) for name in ("days", "hours", "minutes")]
        if all(part is None for part in parts):
            return None
        days, hours, minutes = (part or 0 for part in parts)
        return days * 86400 + hours * 3600 + minutes * 60

    def clean(self) -> dict[str, Any]:
        """The total must fit the column."""
        cleaned = super().clean() or {}
        if not self.errors and (self.seconds() or 0) > INT_MAX:
            raise forms.ValidationError("The delay is too long.")
        return cleaned


class NotifiedUserForm(forms.Form):
    """A user to tell about the job's end, and when."""

    username = forms.CharField(max_length=255)
    on_success = forms.BooleanField(required=False)
    on_failure = forms.BooleanField(required=False)
    on_deletion = forms.BooleanField(required=False)


class UsernameForm(forms.Form):
    """A user to stop notifying."""

    username = forms.CharField(max_length=255)


class TagForm(forms.Form):
    """A tag to add to the job, or to take off it."""

    OPERATIONS = (("add", "Add"), ("remove", "Remove"))

    tag = forms.CharField(max_length=255, strip=True)
    operation = forms.ChoiceField(choices=OPERATIONS, initial="add")


class TagRequirementForm(TagForm):
    """A tag the job's agents must have (or, negated, must not have)."""

    negate = forms.BooleanField(required=False)


class TaskStateForm(forms.Form):
    """The task table's filter: the tasks in one state."""

    task_state = forms.ChoiceField(
        choices=[("", "all"), *WorkState.choices], required=False
    )

    def state(self) -> str | None:
        """The state asked for, or None for every task (also for a bad value)."""
        if self.is_valid():
            return self.cleaned_data["task_state"] or None
        return None
