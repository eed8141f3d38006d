"""The statistics page's filters: the time range and the queue."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from django import forms
from django.http import QueryDict
from django.utils import timezone

__all__ = ["ALL_QUEUES", "DEFAULT_RANGE", "NO_QUEUE", "RANGES", "StatisticsForm"]

# The ranges a user picks from, and how far back each reaches.
RANGES: dict[str, tuple[str, timedelta | None]] = {
    "1h": ("Last hour", timedelta(hours=1)),
    "6h": ("Last 6 hours", timedelta(hours=6)),
    "1d": ("Last day", timedelta(days=1)),
    "1w": ("Last week", timedelta(weeks=1)),
    "1m": ("Last month", timedelta(days=30)),
    "custom": ("From … to …", None),
}
DEFAULT_RANGE = "1d"
ALL_QUEUES = ""
NO_QUEUE = "none"
# datetime-local inputs send minutes (or seconds); people type dates too.
INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
# Dates outside these years are typing mistakes, and beyond what the
# databases' date arithmetic is comfortable with.
FIRST_YEAR, LAST_YEAR = 1970, 9998


class StatisticsForm(forms.Form):
    """``?range=1d`` or ``?range=custom&start=…&end=…``, and ``?queue=<id>``.

    ``queue`` is empty for all queues, ``none`` for jobs without a queue, or
    a queue's id. Dates are in the site's time zone.
    """

    range = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in RANGES.items()],
        required=False,
    )
    start = forms.DateTimeField(
        label="From",
        required=False,
        input_formats=INPUT_FORMATS,
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
        ),
    )
    end = forms.DateTimeField(
        label="To",
        required=False,
        input_formats=INPUT_FORMATS,
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
        ),
    )
    queue = forms.ChoiceField(required=False, label="Queue")

    def __init__(self, *args: Any, queues: list[tuple[int, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.queue_choices: list[tuple[str, str]] = [
            (ALL_QUEUES, "All queues"),
            (NO_QUEUE, "Jobs without a queue"),
            *((str(pk), path) for pk, path in queues),
        ]
        cast("forms.ChoiceField", self.fields["queue"]).choices = self.queue_choices

    @classmethod
    def from_query(
        cls, query: QueryDict, *, queues: list[tuple[int, str]]
    ) -> StatisticsForm:
        """The form bound to the query string, with its range filled in.

        Dates alone mean a custom range; nothing at all, the last day.
        """
        data = query.copy()
        if not data.get("range"):
            custom = data.get("start") or data.get("end")
            data["range"] = "custom" if custom else DEFAULT_RANGE
        return cls(data, queues=queues)

    def clean_start(self) -> datetime | None:
        return _within_years(self.cleaned_data.get("start"))

    def clean_end(self) -> datetime | None:
        return _within_years(self.cleaned_data.get("end"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["range"] = data.get("range") or DEFAULT_RANGE
        if data["range"] == "custom":
            start, end = data.get("start"), data.get("end")
            if start is None and "start" not in self.errors:
                self.add_error("start", "Give the start of the range.")
            if end is None and "end" not in self.errors:
                self.add_error("end", "Give the end of the range.")
            if start is not None and end is not None and start >= end:
                self.add_error("end", "The end must come after the start.")
        return data

    def period(self, now: datetime) -> tuple[datetime, datetime]:
        """The chosen range as (start, end); the last day if the form is invalid."""
        if not self.is_valid():
            return now - RANGES[DEFAULT_RANGE][1], now  # type: ignore[operator]
        data = self.cleaned_data
        reach = RANGES[data["range"]][1]
        if reach is None:
            return data["start"], data["end"]
        return now - reach, now

    def queue_label(self) -> str:
        """The chosen queue's name, for the page's heading."""
        choices = dict(self.queue_choices)
        if not self.is_valid():
            return choices[ALL_QUEUES]
        return choices.get(self.cleaned_data.get("queue") or ALL_QUEUES, "")

    def queue_filter(self) -> int | str | None:
        """None for all queues, `NO_QUEUE`, or a queue's id."""
        if not self.is_valid():
            return None
        value = self.cleaned_data.get("queue") or ALL_QUEUES
        if value == ALL_QUEUES:
            return None
        if value == NO_QUEUE:
            return NO_QUEUE
        return int(value)


def _within_years(value: datetime | None) -> datetime | None:
    """Refuse dates outside `FIRST_YEAR` .. `LAST_YEAR`; make them aware."""
    if value is None:
        return None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise forms.ValidationError(
            f"Give a date between the years {FIRST_YEAR} and {LAST_YEAR}."
        )
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value
