"""Admin of agents, their MAC addresses, disks and GPUs."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from farm.admin.base import FarmModelAdmin, count_of
from farm.choices import WorkState
from farm.models import GPU, Agent, AgentDisk, AgentMacAddress, Task
from farm.models.agents import AgentQuerySet
from farm.services import disable_agents, enable_agents, request_agent_restart
from scheduling.software import request_software_check


class AgentMacAddressInline(admin.TabularInline):
    """The MAC addresses of an agent (edited here only: not on the admin's index)."""

    model = AgentMacAddress
    extra = 0


class AgentDiskInline(admin.TabularInline):
    """The disks of an agent (edited here only: not on the admin's index)."""

    model = AgentDisk
    extra = 0


@admin.register(Agent)
class AgentAdmin(FarmModelAdmin):
    """The farm's machines: what they report, their state, and admin actions.

    The state follows the agents' own reports; admins take an agent out of the
    farm and bring it back with the enable/disable actions.
    """

    list_display = (
        "hostname",
        "port",
        "state",
        "running_tasks",
        "remote_ip",
        "cpus",
        "ram",
        "free_ram",
        "os_class",
        "version",
        "last_heard_from",
        "restart_requested",
    )
    list_filter = ("state", "os_class", "use_address", "restart_requested")
    search_fields = ("hostname", "remote_ip", "cpu_name", "os_fullname", "=id")
    list_select_related = ()
    readonly_fields = (
        "id",
        "state",
        "last_heard_from",
        "last_polled",
        "last_success_on",
    )
    autocomplete_fields = ("tags", "software_versions", "gpus")
    inlines = (AgentMacAddressInline, AgentDiskInline)
    actions = ("enable", "disable", "request_restart", "check_software")
    save_changed_fields_only = True
    fieldsets = (
        (None, {"fields": ("id", "hostname", "port", "state", "notes")}),
        (
            "Address",
            {"fields": ("remote_ip", "use_address")},
        ),
        (
            "Resources",
            {
                "fields": (
                    "cpus",
                    "ram",
                    "free_ram",
                    "cpu_allocation",
                    "ram_allocation",
                    "cpu_name",
                    "os_class",
                    "os_fullname",
                    "gpus",
                )
            },
        ),
        ("Capabilities", {"fields": ("tags", "software_versions")}),
        (
            "Contact",
            {
                "fields": (
                    "last_heard_from",
                    "last_polled",
                    "last_success_on",
                    "time_offset",
                    "version",
                    "upgrade_to",
                    "restart_requested",
                )
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        """Agents with their number of running tasks, in the same query (`count_of`)."""
        return (
            super()
            .get_queryset(request)
            .annotate(
                running_task_count=count_of(
                    Task.objects.filter(state=WorkState.RUNNING), pointing_at="agent"
                )
            )
        )

    @admin.display(description="running tasks", ordering="running_task_count")
    def running_tasks(self, agent: Agent) -> int:
        """How many tasks the agent is running (annotated by `get_queryset`)."""
        return agent.running_task_count  # type: ignore[attr-defined]

    @admin.action(description="Enable selected agents", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: AgentQuerySet) -> None:
        """Bring disabled agents back into the farm."""
        count = enable_agents(agents=queryset)
        self.report(
            request,
            count,
            "Enabled %(count)d agent.",
            "Enabled %(count)d agents.",
            nothing="No agent was enabled: only disabled agents can be.",
        )

    @admin.action(description="Disable selected agents", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: AgentQuerySet) -> None:
        """Take agents out of the farm; their running tasks finish."""
        count = disable_agents(agents=queryset)
        self.report(
            request,
            count,
            "Disabled %(count)d agent.",
            "Disabled %(count)d agents.",
            nothing="No agent was disabled: they all were already.",
        )

    @admin.action(
        description="Request a restart of selected agents", permissions=["change"]
    )
    def request_restart(self, request: HttpRequest, queryset: AgentQuerySet) -> None:
        """Ask agents to restart the next time the master talks to them."""
        count = request_agent_restart(agents=queryset)
        self.report(
            request,
            count,
            "Requested a restart of %(count)d agent.",
            "Requested a restart of %(count)d agents.",
            nothing="No restart was requested: every agent already had one pending.",
        )

    @admin.action(
        description="Check software of selected agents", permissions=["change"]
    )
    def check_software(self, request: HttpRequest, queryset: AgentQuerySet) -> None:
        """Ask agents to check every software version of the catalog.

        Queued for a worker; each agent's dashboard page shows the outcome.
        """
        count = request_software_check(agent_ids=queryset.values_list("pk", flat=True))
        self.report(
            request,
            count,
            "Asked %(count)d agent to check its software.",
            "Asked %(count)d agents to check their software.",
            nothing="No agent was asked.",
        )


@admin.register(GPU)
class GPUAdmin(FarmModelAdmin):
    """Makes and models of graphics cards that agents have."""

    list_display = ("fullname",)
    # One column: there is nothing to filter by.
    list_filter = ()
    search_fields = ("fullname",)
    list_select_related = ()
