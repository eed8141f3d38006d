"""The validation helpers of farm/validators.py that models and views share."""

from __future__ import annotations

from decimal import Decimal

import pytest

from farm.validators import (
    MAX_ID_DIGITS,
    archive_member_error,
    frame_count,
    hostname_error,
    job_size_error,
    parse_id,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0), ("7", 7), ("0042", 42), ("9" * MAX_ID_DIGITS, int("9" * MAX_ID_DIGITS))],
)
def test_parse_id_reads_ascii_digits(value: str, expected: int) -> None:
    assert parse_id(value) == expected


@pytest.mark.parametrize("value", ["", "abc", "1.5", "-1", "+1", " 1", "1 ", "1e3"])
def test_parse_id_refuses_what_is_not_a_number(value: str) -> None:
    assert parse_id(value) is None


@pytest.mark.parametrize("value", ["²", "1²", "١٢", "\uff11\uff12"])
def test_parse_id_refuses_digits_that_are_not_ascii(value: str) -> None:
    assert parse_id(value) is None


def test_parse_id_refuses_numbers_too_long_for_an_id() -> None:
    assert parse_id("1" * (MAX_ID_DIGITS + 1)) is None


@pytest.mark.parametrize(
    "value",
    ["render01", "render01.example.com.", "RENDER_01.studio.local", "_srv.local"],
)
def test_hostname_error_accepts_host_names(value: str) -> None:
    assert hostname_error(value) is None


@pytest.mark.parametrize(
    "value",
    ["", "bad host", "-leading.local", "trailing-.local", "a..b", "a" * 64 + ".local"],
)
def test_hostname_error_refuses_what_rfc_1123_refuses(value: str) -> None:
    assert hostname_error(value) == f"{value!r} is not a valid hostname"


def test_hostname_error_checks_the_configured_length(farm_config) -> None:
    farm_config(max_hostname_length=10)
    assert hostname_error("render_0001.local") == "must be at most 10 characters long"


# --- the size of a job ----------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "by", "frames"),
    [
        (1, 10, 1, 10),
        (5, 5, 1, 1),
        (1, 10, 4, 3),
        (1, 2, Decimal("0.1"), 11),
        (0, 99.9999, Decimal("0.0001"), 1_000_000),
        (1, 10**9, 1, 10**9),
    ],
)
def test_frame_count_is_arithmetic(start, end, by, frames) -> None:
    assert frame_count(start, end, by) == frames


@pytest.mark.parametrize(
    ("start", "end", "by"),
    [
        (5, 1, 1),
        (1, 5, 0),
        (1, 5, -1),
        (None, 5, 1),
        (1, float("inf"), 1),
        (1, 1e40, 1),
    ],
)
def test_frame_count_leaves_bad_ranges_to_the_model(start, end, by) -> None:
    assert frame_count(start, end, by) is None


def test_jobs_up_to_the_maximum_are_fine(farm_config) -> None:
    farm_config(max_tasks_per_job=1_000_000)
    assert job_size_error(1, 1000, 1, 1000) is None
    assert job_size_error(1, 1_000_000, 1, None) is None


def test_billions_of_tiles_are_refused_by_arithmetic(farm_config) -> None:
    farm_config(max_tasks_per_job=1_000_000)
    assert job_size_error(1, 1, 1, 2_147_483_647) == (
        "num_tiles",
        "the job would have 2147483647 tasks (1 frames x 2147483647 tiles), "
        "more than max_tasks_per_job (1000000)",
    )
    assert job_size_error(1, 10**6, 1, 10**30) is not None


def test_too_many_frames_are_refused_on_the_end(farm_config) -> None:
    farm_config(max_tasks_per_job=10)
    field, message = job_size_error(1, 11, 1, None) or ("", "")
    assert field == "end"
    assert "11 frames" in message
    assert "max_tasks_per_job (10)" in message


def test_the_maximum_is_configurable(farm_config) -> None:
    farm_config(max_tasks_per_job=2_000_000)
    assert job_size_error(1, 1_500_000, 1, None) is None
    farm_config(max_tasks_per_job=100)
    assert job_size_error(1, 10, 1, 11) is not None


# --- names inside agent update packages ------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["pyfarm/agent/__init__.py", "entrypoints/main.py", "pyfarm/", "a..b/c.py"],
)
def test_archive_member_names_inside_the_package_are_safe(name: str) -> None:
    assert archive_member_error(name) is None


@pytest.mark.parametrize(
    "name",
    ["", "/abs.py", "../x.py", "a/../../x.py", "a/..", "c:x.py", "a\\b.py", "a\nb"],
)
def test_archive_member_names_that_leave_the_package_are_refused(name: str) -> None:
    assert archive_member_error(name) is not None
