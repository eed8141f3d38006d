# ruff: noqa: F811, T201
"""Issue #12 baseline: SQL statements of one heartbeat and one task update.

Not collected by default (no ``test_`` prefix); run it by name with ``-s``.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from farm.tests.test_agent_protocol import (  # noqa: F401 (fixtures)
    AGENT_ID,
    Agent086,
    _assign,
    _register,
    agent,
    farm,
)

pytestmark = pytest.mark.django_db


def _count(label: str, send: Any, *, warm: bool = True) -> None:
    if warm:
        send()  # warm up: first-request caches
    with CaptureQueriesContext(connection) as ctx:
        response = send()
    assert response.status_code == 200, response.content
    print(f"\n### {label}: {len(ctx.captured_queries)} statements")
    for number, query in enumerate(ctx.captured_queries, 1):
        print(f"{number}. {query['sql']}")


def test_count(agent: Agent086, farm: Any, farm_config: Any) -> None:
    farm_config(login_disabled=False)
    _register(agent)
    first, _second = _assign(farm["job"])
    base = f"/jobs/{farm['job'].pk}/tasks"
    _count(
        "heartbeat POST /agents/<id>",
        lambda: agent.post(
            f"/agents/{AGENT_ID}",
            {"state": "online", "free_ram": 60000, "current_assignments": {}},
        ),
    )
    _count(
        "task update POST /jobs/<j>/tasks/<t> {progress}",
        lambda: agent.post(f"{base}/{first.pk}", {"progress": 0.5}),
    )
    _count(
        "task update POST /jobs/<j>/tasks/<t> {state: running}",
        lambda: agent.post(f"{base}/{first.pk}", {"state": "running"}),
        warm=False,
    )
    _count(
        "task update POST /jobs/<j>/tasks/<t> {state: done} (running, not the last)",
        lambda: agent.post(f"{base}/{first.pk}", {"state": "done"}),
        warm=False,
    )


def test_count_login_disabled(agent: Agent086, farm: Any, farm_config: Any) -> None:
    farm_config(login_disabled=True)
    _register(agent)
    _count(
        "heartbeat POST /agents/<id> with login_disabled",
        lambda: agent.post(
            f"/agents/{AGENT_ID}",
            {"state": "online", "free_ram": 60000, "current_assignments": {}},
        ),
    )
