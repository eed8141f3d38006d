"""The validation helpers of farm/validators.py that models and views share."""

from __future__ import annotations

import pytest

from farm.validators import MAX_ID_DIGITS, hostname_error, parse_id


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
