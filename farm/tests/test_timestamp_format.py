"""``timestamp_format`` decides how the dashboard shows full timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.test import override_settings

from pyfarm_site.config import as_date_format

MOMENT = datetime(2026, 11, 30, 14, 5, 9, tzinfo=UTC)


def _render(value: datetime | None) -> str:
    template = Template("{% load dashboard %}{{ value|timestamp }}")
    return template.render(Context({"value": value}))


@override_settings(TIME_ZONE="UTC")
def test_the_shipped_format_shows_seconds() -> None:
    assert _render(MOMENT) == "2026-11-30 14:05:09"


@override_settings(
    TIME_ZONE="UTC", TIMESTAMP_FORMAT=as_date_format("k", "DD.MM.YYYY h:mm A")
)
def test_another_format_is_used_everywhere_the_filter_is() -> None:
    assert _render(MOMENT) == "30.11.2026 2:05 PM"


@override_settings(TIME_ZONE="Europe/Berlin")
def test_timestamps_are_shown_in_the_current_time_zone() -> None:
    assert _render(MOMENT) == "2026-11-30 15:05:09"


@pytest.mark.parametrize("value", [None, ""])
def test_no_time_shows_nothing(value: datetime | None) -> None:
    assert _render(value) == ""
