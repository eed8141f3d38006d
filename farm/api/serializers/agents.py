"""Serializers of the agents API: what agents report, and how agents are shown.

Input and output have different shapes, so they have different serializers:
the ``*ReportSerializer`` classes check what an agent sends (R1/R2/R3 of
agent-protocol.md) and turn it into an `AgentReport` for the services; the
others render agents, their software and their tasks with the original's keys.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from farm.api.fields import (
    BIG_INTEGER_RANGE,
    ID_RANGE,
    INTEGER_RANGE,
    POSITIVE_INTEGER_RANGE,
    LegacyChoiceField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    StrictUUIDField,
)
from farm.api.serializers.base import StrictSerializerMixin
from farm.api.serializers.software import SOFTWARE_NAME_LENGTH, VERSION_LENGTH
from farm.choices import AgentState, OperatingSystem, UseAddress, WorkState
from farm.models import Agent, Job, SoftwareVersion, Task
from farm.services.agents import AgentDiskReport, AgentReport
from farm.validators import HOSTNAME_PATTERN
from pyfarm_site.conf import farm_config

# --- fields ------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "number",
        "format": "double",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 1,
    }
)
class AllocationField(StrictFloatField):
    """A share of an agent's RAM or CPUs: above 0, at most 1."""

    def to_internal_value(self, data: Any) -> float:
        """A JSON number in (0, 1]."""
        value = super().to_internal_value(data)
        if not 0 < value <= 1:
            raise serializers.ValidationError("must be greater than 0 and at most 1")
        return value


class AgentAddressField(StrictCharField):
    """An agent's IPv4 or IPv6 address (`Agent.clean` refuses unusable ones)."""


# Addresses no agent can be reached at (`agent_address_error`): unspecified,
# multicast and link-local; loopback too, unless allow_agents_from_loopback.
_UNUSABLE_IPV4 = r"^(0\.0\.0\.0|2(2[4-9]|3[0-9])\..*|169\.254\..*)$"
_LOOPBACK_IPV4 = r"^127\..*$"
_UNUSABLE_IPV6 = r"^(::|[fF][eE][89aAbB][0-9a-fA-F]?:.*|[fF][fF][0-9a-fA-F]{0,2}:.*)$"
_LOOPBACK_IPV6 = r"^::1$"


class AgentAddressFieldExtension(OpenApiSerializerFieldExtension):
    """An agent's address in the schema: IPv4 or IPv6, usable to reach it."""

    target_class = AgentAddressField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> Any:
        """IPv4 or IPv6, without the addresses the configuration refuses."""
        unusable = {"ipv4": [_UNUSABLE_IPV4], "ipv6": [_UNUSABLE_IPV6]}
        if not farm_config("allow_agents_from_loopback"):
            unusable["ipv4"].append(_LOOPBACK_IPV4)
            unusable["ipv6"].append(_LOOPBACK_IPV6)
        return {
            "type": "string",
            "anyOf": [
                {
                    "format": version,
                    "not": {"anyOf": [{"pattern": p} for p in patterns]},
                }
                for version, patterns in unusable.items()
            ],
        }


# --- what agents report --------------------------------------------------------

HOSTNAME = RegexValidator(HOSTNAME_PATTERN, "not a valid hostname")


class AgentDiskSerializer(StrictSerializerMixin, serializers.Serializer):
    """One disk of an agent: mount point (or drive letter), bytes total and free."""

    mountpoint = StrictCharField(max_length="max_mountpoint_length")
    size = StrictIntegerField(bounds=(0, BIG_INTEGER_RANGE[1]), help_text="bytes")
    free = StrictIntegerField(bounds=(0, BIG_INTEGER_RANGE[1]), help_text="bytes")


class AgentReportSerializer(StrictSerializerMixin, serializers.Serializer):
    """What an agent may say about itself; every key optional (a merge).

    The values' ranges and lengths are the model's to check (`Agent.clean`
    follows the configured ranges); this only checks the JSON types.
    ``current_assignments`` is accepted and ignored: the master reconciles
    assignments by polling the agent, not from its reports.
    """

    hostname = StrictCharField(
        required=False, max_length="max_hostname_length", validators=[HOSTNAME]
    )
    port = StrictIntegerField(
        required=False, bounds=("agent_min_port", "agent_max_port")
    )
    remote_ip = AgentAddressField(required=False)
    use_address = LegacyChoiceField(UseAddress, required=False)
    state = LegacyChoiceField(AgentState, required=False)
    cpus = StrictIntegerField(
        required=False, bounds=("agent_min_cpus", "agent_max_cpus")
    )
    ram = StrictIntegerField(
        required=False, bounds=("agent_min_ram", "agent_max_ram"), help_text="MB"
    )
    free_ram = StrictIntegerField(
        required=False, bounds=POSITIVE_INTEGER_RANGE, help_text="MB"
    )
    ram_allocation = AllocationField(required=False)
    cpu_allocation = AllocationField(required=False)
    time_offset = StrictIntegerField(
        required=False, bounds=INTEGER_RANGE, help_text="seconds"
    )
    version = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=Agent._meta.get_field("version").max_length,
    )
    os_class = LegacyChoiceField(OperatingSystem, required=False, allow_null=True)
    os_fullname = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length="max_osname_length",
    )
    cpu_name = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length="max_cpuname_length",
    )
    mac_addresses = serializers.ListField(
        child=StrictCharField(allow_blank=True), required=False
    )
    disks = AgentDiskSerializer(many=True, required=False)
    gpus = serializers.ListField(
        child=StrictCharField(allow_blank=True, max_length="max_gpu_name_length"),
        required=False,
    )
    current_assignments = serializers.DictField(required=False)
    farm_name = StrictCharField(required=False, allow_blank=True)

    def to_report(self, *, peer_address: str | None = None) -> AgentReport:
        """The validated data as a report; ``peer_address`` fills a missing IP."""
        data: dict[str, Any] = dict(self.validated_data)
        data.pop("id", None)
        data.pop("current_assignments", None)
        mac_addresses = data.pop("mac_addresses", None)
        disks = data.pop("disks", None)
        gpus = data.pop("gpus", None)
        farm_name = data.pop("farm_name", None)
        if peer_address and "remote_ip" not in data:
            data["remote_ip"] = peer_address
        return AgentReport(
            fields=data,
            mac_addresses=mac_addresses,
            disks=None if disks is None else [AgentDiskReport(**d) for d in disks],
            gpus=gpus,
            farm_name=farm_name,
        )


class AgentRegistrationReportSerializer(AgentReportSerializer):
    """The agent's registration (``POST /agents/``, R1).

    ``id`` is the UUID the agent chose; without one a new UUID is made.
    ``remote_ip`` defaults to the address the request came from.
    """

    id = StrictUUIDField(required=False)
    hostname = StrictCharField(max_length="max_hostname_length", validators=[HOSTNAME])
    port = StrictIntegerField(bounds=("agent_min_port", "agent_max_port"))
    cpus = StrictIntegerField(bounds=("agent_min_cpus", "agent_max_cpus"))
    ram = StrictIntegerField(bounds=("agent_min_ram", "agent_max_ram"), help_text="MB")
    free_ram = StrictIntegerField(bounds=POSITIVE_INTEGER_RANGE, help_text="MB")
    state = LegacyChoiceField(AgentState, required=False, default=AgentState.ONLINE)


# --- how agents are shown --------------------------------------------------------


class AgentListSerializer(serializers.ModelSerializer):
    """An agent in ``GET /agents/``: id, host name, address and port."""

    class Meta:
        model = Agent
        fields = ["id", "hostname", "port", "remote_ip"]
        read_only_fields = fields


# Every column of the original's Agent model (its Models section), in the
# order the single-agent answers list them; relations are not rendered.
AGENT_COLUMNS = [
    "id",
    "hostname",
    "port",
    "remote_ip",
    "use_address",
    "state",
    "cpus",
    "ram",
    "free_ram",
    "ram_allocation",
    "cpu_allocation",
    "time_offset",
    "os_class",
    "os_fullname",
    "cpu_name",
    "version",
    "upgrade_to",
    "restart_requested",
    "last_heard_from",
    "last_polled",
    "last_success_on",
    "notes",
]


class AgentSerializer(serializers.ModelSerializer):
    """An agent: every column of its model, as the original's ``to_dict``.

    Registration (``POST /agents/``), ``GET``/``POST /agents/<id>`` answer it.
    """

    use_address = LegacyChoiceField(UseAddress, read_only=True)
    state = LegacyChoiceField(AgentState, read_only=True)
    os_class = LegacyChoiceField(OperatingSystem, read_only=True, allow_null=True)

    class Meta:
        model = Agent
        fields = AGENT_COLUMNS
        read_only_fields = fields


class TaskAgentSerializer(serializers.ModelSerializer):
    """An agent inside a task: how to reach it."""

    ip = serializers.IPAddressField(source="remote_ip", read_only=True, allow_null=True)

    class Meta:
        model = Agent
        fields = ["id", "hostname", "port", "ip"]
        read_only_fields = fields


# --- an agent's software -----------------------------------------------------------


class AgentSoftwareSerializer(StrictSerializerMixin, serializers.Serializer):
    """A software version an agent has (R15), by software name and version."""

    software = StrictCharField(max_length=SOFTWARE_NAME_LENGTH)
    version = StrictCharField(max_length=VERSION_LENGTH)


class AgentSoftwareVersionSerializer(serializers.ModelSerializer):
    """A software version of an agent as listed: ``{"software", "version"}``."""

    software = serializers.CharField(source="software.software", read_only=True)

    class Meta:
        model = SoftwareVersion
        fields = ["software", "version"]
        read_only_fields = fields


# --- an agent's tasks -------------------------------------------------------------


class AgentTaskJobSerializer(serializers.ModelSerializer):
    """The job of a task in an agent's task list."""

    jobtype = serializers.CharField(source="jobtype_version.jobtype.name")
    jobtype_id = serializers.IntegerField(source="jobtype_version.jobtype_id")
    jobtype_version = serializers.IntegerField(source="jobtype_version.version")

    class Meta:
        model = Job
        fields = ["id", "title", "jobtype", "jobtype_id", "jobtype_version"]
        read_only_fields = fields


class _TaskFieldsSerializer(serializers.ModelSerializer):
    """Every column of a task, as the agent's task lists show it."""

    job_id = serializers.IntegerField(read_only=True)
    agent_id = serializers.UUIDField(read_only=True, allow_null=True)
    frame = serializers.FloatField(read_only=True)
    state = LegacyChoiceField(WorkState, read_only=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "job_id",
            "agent_id",
            "frame",
            "tile",
            "state",
            "priority",
            "hidden",
            "attempts",
            "failures",
            "progress",
            "sent_to_agent",
            "last_error",
            "time_submitted",
            "time_started",
            "time_finished",
        ]
        read_only_fields = fields


class AgentTaskSerializer(_TaskFieldsSerializer):
    """A task in ``GET /agents/<id>/tasks/``, with its job and job type."""

    job = AgentTaskJobSerializer(read_only=True)

    class Meta(_TaskFieldsSerializer.Meta):
        fields = [*_TaskFieldsSerializer.Meta.fields, "job"]
        read_only_fields = fields


class AssignedJobSerializer(serializers.ModelSerializer):
    """The job of a task that was just given to an agent."""

    class Meta:
        model = Job
        fields = ["id", "title"]
        read_only_fields = fields


class AssignedTaskSerializer(_TaskFieldsSerializer):
    """A task just given to an agent (``POST /agents/<id>/tasks/``)."""

    job = AssignedJobSerializer(read_only=True)
    agent = TaskAgentSerializer(read_only=True)

    class Meta(_TaskFieldsSerializer.Meta):
        fields = [*_TaskFieldsSerializer.Meta.fields, "job", "agent"]
        read_only_fields = fields


class TaskAssignmentSerializer(StrictSerializerMixin, serializers.Serializer):
    """``{"id": <task id>}``: the task to give to the agent."""

    id = StrictIntegerField(bounds=ID_RANGE)
