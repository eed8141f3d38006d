"""The aggregated reads of the agents pages: per page, never per row."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import QueryDict
from django.urls import reverse

from farm.choices import ACTIVE_WORK_STATES, TERMINAL_WORK_STATES
from farm.models import Agent, SoftwareVersion, Tag, Task
from farm.web.filters_agents import SORTS

__all__ = [
    "agent_detail",
    "agent_recent_tasks",
    "agent_rows",
    "current_tasks",
    "sort_columns",
    "url_pattern",
]

# Tasks shown per agent: more than any agent runs at once.
CURRENT_TASKS_SHOWN = 200
RECENT_TASKS_SHOWN = 25


def current_tasks() -> QuerySet[Task]:
    """Open tasks with their job's title; filter them by agent (an index)."""
    return (
        Task.objects.filter(state__in=ACTIVE_WORK_STATES)
        .select_related("job")
        .only("id", "job_id", "agent_id", "frame", "tile", "state", "job__title")
        .order_by("job_id", "frame", "tile")
    )


def agent_rows(agents: QuerySet[Agent]) -> QuerySet[Agent]:
    """A page of agents with their tags and current tasks: two queries in all."""
    return agents.prefetch_related(
        Prefetch("tags", queryset=Tag.objects.order_by("tag"), to_attr="tag_list"),
        Prefetch("tasks", queryset=current_tasks(), to_attr="current_tasks"),
    )


def url_pattern(name: str, argument: str, sample: Any) -> tuple[str, str]:
    """The parts of a URL around its one argument, to build many links at once.

    Reversing a URL per row is a good part of a 100-row page's time; the
    template writes ``{{ prefix }}{{ id }}{{ suffix }}`` instead. ``sample``
    is any value the URL's converter takes.
    """
    url = reverse(name, kwargs={argument: sample})
    prefix, _, suffix = url.partition(str(sample))
    return prefix, suffix


def ordered(agents: QuerySet[Agent]) -> QuerySet[Agent]:
    """A total order, so that pages follow on: the chosen sort, then the name."""
    return agents.order_by(*agents.query.order_by, "hostname", "port", "pk")


def sort_columns(query: QueryDict) -> dict[str, dict[str, Any]]:
    """Per sortable column: the link that sorts by it, and whether it is sorted.

    A sorted column's link sorts the other way. Filters stay; the page resets.
    """
    current = query.get("sort", "")
    columns = {}
    for name in SORTS:
        params = query.copy()
        params.pop("page", None)
        sorted_by = current.lstrip("-") == name
        desc = sorted_by and current.startswith("-")
        params["sort"] = name if desc or not sorted_by else f"-{name}"
        columns[name] = {
            "href": "?" + params.urlencode(),
            "sorted": sorted_by,
            "desc": desc,
        }
    return columns


def agent_detail(agent_id: Any) -> QuerySet[Agent]:
    """One agent with everything its page lists, each in one query."""
    return Agent.objects.filter(pk=agent_id).prefetch_related(
        Prefetch("tags", queryset=Tag.objects.order_by("tag")),
        Prefetch(
            "software_versions",
            queryset=SoftwareVersion.objects.select_related("software").order_by(
                "software__software", "rank"
            ),
        ),
        "gpus",
        "disks",
        "mac_addresses",
    )


def agent_recent_tasks(agent: Agent) -> QuerySet[Task]:
    """The agent's last finished tasks, newest first."""
    return (
        Task.objects.filter(agent=agent, state__in=TERMINAL_WORK_STATES)
        .select_related("job")
        .order_by("-time_finished", "-pk")[:RECENT_TASKS_SHOWN]
    )


def agent_current_tasks(agent: Agent) -> QuerySet[Task]:
    """The tasks the agent holds now (running, or assigned and queued)."""
    return (
        current_tasks()
        .filter(agent=agent)
        .only(
            "id",
            "job_id",
            "agent_id",
            "frame",
            "tile",
            "state",
            "progress",
            "attempts",
            "time_started",
            "job__title",
        )[:CURRENT_TASKS_SHOWN]
    )
