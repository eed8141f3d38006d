"""One test of "is this an API request", shared by every part that asks."""

from __future__ import annotations

import pytest

from farm.api import middleware
from farm.api.paths import is_api_path
from pyfarm_site import outages, urls


@pytest.mark.parametrize("path", ["/api/v1/jobs/", "api/v1/", "//api/v1/agents/x"])
def test_paths_under_the_prefix_are_the_apis(path: str) -> None:
    assert is_api_path(path)


@pytest.mark.parametrize("path", ["/admin/", "/api/v10/jobs/", "/apix/v1/", "/"])
def test_other_paths_are_not(path: str) -> None:
    assert not is_api_path(path)


def test_the_prefix_is_read_from_the_settings(settings) -> None:
    settings.API_PREFIX = "farm/api/"
    assert is_api_path("/farm/api/jobs/")
    assert not is_api_path("/api/v1/jobs/")


@pytest.mark.parametrize("module", [middleware, urls, outages])
def test_the_guard_the_error_handlers_and_outages_ask_the_same_test(module) -> None:
    assert module.is_api_path is is_api_path
