"""Fixtures of the scheduling tests: a stand-in agent and agents pointing at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from farm.models import Agent
from farm.tests.factories import AgentFactory
from scheduling.tests.fake_agent import FakeAgent, serve_fake_agent


@pytest.fixture
def fake_agent() -> Iterator[FakeAgent]:
    """An HTTP server on 127.0.0.1 and a random port, acting as the agent."""
    with serve_fake_agent() as fake:
        yield fake


@pytest.fixture
def make_agent(fake_agent: FakeAgent) -> Callable[..., Agent]:
    """Create an agent reachable at the stand-in agent (version 0.8.6)."""

    def make(**fields: Any) -> Agent:
        values = {"remote_ip": "127.0.0.1", "port": fake_agent.port, "version": "0.8.6"}
        return AgentFactory.create(**{**values, **fields})

    return make
