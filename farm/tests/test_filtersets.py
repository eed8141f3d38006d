"""FilterSets of the API's list endpoints: each legacy query parameter."""

from __future__ import annotations

import pytest

from farm.filtersets import AgentFilterSet
from farm.models import Agent
from farm.tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


def _hostnames(params: dict[str, str]) -> list[str]:
    filterset = AgentFilterSet(params, queryset=Agent.objects.all())
    assert filterset.is_valid(), filterset.errors
    return sorted(agent.hostname for agent in filterset.qs)


@pytest.fixture
def agents() -> None:
    AgentFactory.create(
        hostname="small", ram=2048, cpus=2, port=50000, remote_ip="10.0.0.1"
    )
    AgentFactory.create(
        hostname="medium", ram=8192, cpus=8, port=50001, remote_ip="10.0.0.2"
    )
    AgentFactory.create(
        hostname="large", ram=65536, cpus=32, port=50002, remote_ip="fd00::3"
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"min_ram": "8192"}, ["large", "medium"]),
        ({"max_ram": "8192"}, ["medium", "small"]),
        ({"min_cpus": "8"}, ["large", "medium"]),
        ({"max_cpus": "8"}, ["medium", "small"]),
        ({"hostname": "medium"}, ["medium"]),
        ({"hostname": "MEDIUM"}, ["medium"]),
        ({"remote_ip": "10.0.0.1"}, ["small"]),
        ({"remote_ip": "fd00:0:0::3"}, ["large"]),
        ({"port": "50002"}, ["large"]),
        ({"min_ram": "4096", "min_cpus": "4"}, ["large", "medium"]),
        ({}, ["large", "medium", "small"]),
    ],
)
def test_agent_filters(agents, params, expected) -> None:
    assert _hostnames(params) == expected


def test_agent_hostname_filter_matches_whole_names(agents) -> None:
    assert _hostnames({"hostname": "med"}) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_ram": "lots"}, "min_ram"),
        ({"max_ram": "1.5"}, "max_ram"),
        ({"min_cpus": "x"}, "min_cpus"),
        ({"port": "http"}, "port"),
        ({"remote_ip": "10.0.0"}, "remote_ip"),
    ],
)
def test_agent_filters_refuse_values_that_do_not_parse(params, field) -> None:
    filterset = AgentFilterSet(params, queryset=Agent.objects.all())
    assert not filterset.is_valid()
    assert set(filterset.errors) == {field}


def test_agent_filters_ignore_empty_values(agents) -> None:
    assert _hostnames({"max_cpus": "", "hostname": ""}) == ["large", "medium", "small"]


@pytest.mark.parametrize("hostname", ["!", "a b", "-render", "x" * 256, "a..b"])
def test_agent_hostname_filter_refuses_what_no_agent_could_be_named(
    hostname,
) -> None:
    filterset = AgentFilterSet({"hostname": hostname}, queryset=Agent.objects.all())
    assert not filterset.is_valid()
    assert set(filterset.errors) == {"hostname"}


def test_agent_hostname_filter_accepts_netbios_names_and_a_final_dot(agents) -> None:
    assert _hostnames({"hostname": "medium."}) == []
    assert _hostnames({"hostname": "RENDER_01"}) == []
