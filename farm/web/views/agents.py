"""Agents: the list (live), an agent's page, and farm admins' actions.

Every user reads; only farm admins act (`farm_admin_required`), through the
services the API and the admin use (`farm.services.agents`,
`scheduling.software`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from farm.models import Agent, SoftwareVersion
from farm.services.agents import (
    add_agent_software,
    delete_agent,
    disable_agents,
    enable_agents,
    remove_agent_software,
    request_agent_restart,
    set_agent_notes,
    set_agent_tags,
)
from farm.web.access import back, farm_admin_required, is_farm_admin
from farm.web.actions import service_action
from farm.web.filters_agents import AgentListFilterSet
from farm.web.forms_agents import (
    AGENT_ACTIONS,
    AgentActionForm,
    AgentNotesForm,
    AgentSoftwareForm,
    AgentTagsForm,
    BulkAgentsForm,
)
from farm.web.queries_agents import (
    agent_current_tasks,
    agent_detail,
    agent_recent_tasks,
    agent_rows,
    ordered,
    sort_columns,
    url_pattern,
)
from scheduling.software import last_software_check, request_software_check

PAGE_SIZE = 100
REFUSAL = "Only farm admins may change agents."


def _form_errors(form: object) -> str:
    errors = getattr(form, "errors", {})
    return " ".join(str(message) for field in errors.values() for message in field)


@login_required
def agent_list(request: HttpRequest) -> HttpResponse:
    """``/agents/``: agents filtered, sorted and paginated by the query string.

    The htmx refresh every few seconds asks for the rows only, passing the
    ticked agents so that they stay ticked.
    """
    filterset = AgentListFilterSet(request.GET, queryset=Agent.objects.all())
    agents = agent_rows(ordered(filterset.qs))
    page = Paginator(agents, PAGE_SIZE).get_page(request.GET.get("page"))
    filters = request.GET.copy()
    filters.pop("page", None)
    filters.pop("agent", None)
    context = {
        "filterset": filterset,
        "page": page,
        "columns": sort_columns(request.GET),
        "is_admin": is_farm_admin(request.user),
        "selected": set(request.GET.getlist("agent")),
        "actions": AGENT_ACTIONS,
        "filters": filters.urlencode(),
        "agent_url": url_pattern("web:agent", "agent_id", uuid.UUID(int=0)),
        "job_url": url_pattern("web:job", "job_id", 987654321),
    }
    if getattr(request, "htmx", False):  # django-htmx sets it
        return render(request, "web/agents/list.html#rows", context)
    return render(request, "web/agents/list.html", context)


#: The actions on agents' state: service, what it did (``{count}`` of
#: ``{n}``), what to say when it changed none.
STATE_ACTIONS: dict[str, tuple[Callable[..., int], str, str]] = {
    "enable": (
        enable_agents,
        "Enabled {count} of {n} agent(s).",
        "Nothing to enable: only disabled agents can be enabled.",
    ),
    "disable": (
        disable_agents,
        "Disabled {count} of {n} agent(s).",
        "Nothing to disable: the agent(s) already were.",
    ),
    "restart": (
        request_agent_restart,
        "Asked {count} agent(s) to restart when they are next idle.",
        "A restart was already pending.",
    ),
}


def _act(
    request: HttpRequest, action: str, ids: Sequence[uuid.UUID], version_id: int | None
) -> None:
    """Apply ``action`` to the agents ``ids`` through their service; say what it did."""
    agents = Agent.objects.filter(pk__in=ids)
    found = list(agents.values_list("pk", flat=True))
    if not found:
        messages.error(request, "No such agent: it may have been deleted.")
        return
    n = len(found)
    if action in STATE_ACTIONS:
        service, did, nothing = STATE_ACTIONS[action]
        count = service(agents=agents)
        text = did.format(count=count, n=n) if count else nothing
    elif action == "check_software":
        count = request_software_check(agent_ids=found, version_id=version_id)
        text = f"Asked {count} agent(s) to check their software; see each agent's page."
    else:  # delete
        count = sum(delete_agent(agent_id=agent_id) for agent_id in found)
        text = f"Deleted {count} agent(s); their open tasks went back to the queue."
    messages.success(request, text)


@farm_admin_required(REFUSAL)
def agents_bulk(request: HttpRequest) -> HttpResponse:
    """POST: enable, disable, restart, check software or delete ticked agents."""
    if request.method != "POST":
        return redirect("web:agents")
    form = BulkAgentsForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return back(request, "web:agents")
    version = form.cleaned_data.get("version")
    _act(
        request,
        form.cleaned_data["action"],
        form.cleaned_data["agent"],
        version.pk if version else None,
    )
    return back(request, "web:agents")


def _agent_or_404(agent_id: uuid.UUID) -> Agent:
    agent = agent_detail(agent_id).first()
    if agent is None:
        raise Http404("No such agent: it may have been deleted.")
    return agent


@login_required
def agent_page(request: HttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    """``/agents/<id>/``: every field, tasks, software, GPUs, disks, notes."""
    agent = _agent_or_404(agent_id)
    is_admin = is_farm_admin(request.user)
    context = {
        "agent": agent,
        "is_admin": is_admin,
        "current_tasks": agent_current_tasks(agent),
        "recent_tasks": agent_recent_tasks(agent),
        "software_check": last_software_check(agent.pk),
    }
    if is_admin:
        context["catalog"] = SoftwareVersion.objects.select_related(
            "software"
        ).order_by("software__software", "rank")
        context["tags_text"] = ", ".join(tag.tag for tag in agent.tags.all())
    return render(request, "web/agents/agent.html", context)


def _to_agent(agent_id: uuid.UUID) -> HttpResponse:
    return redirect("web:agent", agent_id=agent_id)


@farm_admin_required(REFUSAL)
def agent_action(request: HttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    """POST: enable, disable, restart, check software or delete one agent."""
    if request.method != "POST":
        return _to_agent(agent_id)
    form = AgentActionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _to_agent(agent_id)
    action = form.cleaned_data["action"]
    version = form.cleaned_data.get("version")
    _act(request, action, [agent_id], version.pk if version else None)
    if action == "delete":
        return redirect("web:agents")
    return _to_agent(agent_id)


@farm_admin_required(REFUSAL)
def agent_notes(request: HttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    """POST: replace the agent's notes."""
    agent = _agent_or_404(agent_id)
    if request.method != "POST":
        return _to_agent(agent_id)
    form = AgentNotesForm(request.POST)
    return service_action(
        request,
        lambda: set_agent_notes(agent=agent, notes=form.cleaned_data["notes"]),
        form=form,
        done="Notes saved.",
        failed="Notes not saved: {}",
        to="web:agent",
        agent_id=agent_id,
    )


@farm_admin_required(REFUSAL)
def agent_tags(request: HttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    """POST: make the listed tags the agent's tags (new ones are created)."""
    agent = _agent_or_404(agent_id)
    if request.method != "POST":
        return _to_agent(agent_id)
    form = AgentTagsForm(request.POST)
    return service_action(
        request,
        lambda: set_agent_tags(agent=agent, names=form.cleaned_data["tags"]),
        form=form,
        done=lambda names: f"Tags saved: {', '.join(names) or 'none'}.",
        failed="Tags not saved: {}",
        refusals=(ValidationError,),
        to="web:agent",
        agent_id=agent_id,
    )


@farm_admin_required(REFUSAL)
def agent_software(
    request: HttpRequest, agent_id: uuid.UUID, change: str
) -> HttpResponse:
    """POST: record that the agent has (``add``) or lacks (``remove``) a version."""
    agent = _agent_or_404(agent_id)
    form = AgentSoftwareForm(request.POST or None)
    if request.method != "POST":
        return _to_agent(agent_id)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _to_agent(agent_id)
    version: SoftwareVersion = form.cleaned_data["version"]
    names = {"software": version.software.software, "version": version.version}
    if change == "add":
        add_agent_software(agent=agent, **names)
        messages.success(request, f"Added {version}.")
    elif remove_agent_software(agent=agent, **names):
        messages.success(request, f"Removed {version}.")
    else:
        messages.warning(request, f"The agent did not have {version}.")
    return redirect(reverse("web:agent", kwargs={"agent_id": agent_id}) + "#software")
