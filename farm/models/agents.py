"""Agents (the farm's machines) and what they report about themselves."""

from __future__ import annotations

import uuid

import netaddr
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from farm.choices import AgentState, OperatingSystem, UseAddress
from farm.validators import (
    agent_address_error,
    hostname_error,
    length_error,
    range_error,
)
from pyfarm_site.conf import (
    default_agent_cpu_allocation,
    default_agent_ram_allocation,
    farm_config,
)

__all__ = ["GPU", "Agent", "AgentDisk", "AgentMacAddress"]


class AgentQuerySet(models.QuerySet["Agent"]):
    """Reusable filters over agents."""

    def available(self) -> AgentQuerySet:
        """Agents the scheduler may give work to (online or running)."""
        return self.filter(state__in=[AgentState.ONLINE, AgentState.RUNNING])

    def set_state(self, state: str) -> int:
        """Set the state of every agent in the query; returns the row count."""
        return self.exclude(state=state).update(state=state)


class GPU(models.Model):
    """A make and model of graphics card; agents may have several."""

    fullname = models.CharField(max_length=128, unique=True)

    class Meta:
        db_table = "gpus"
        ordering = ["fullname"]
        verbose_name = "GPU"

    def __str__(self) -> str:
        return self.fullname


class Agent(models.Model):
    """A machine of the farm that runs tasks.

    The agent chooses its own UUID and registers with it. States:

    - ``online``: idle and reachable; ``running``: working on tasks;
    - ``offline``: not reachable (it said so, or polling failed);
    - ``disabled``: an admin took it out of the farm; only an admin (``enable``)
      brings it back, an agent's own reports never do.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    hostname = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    remote_ip = models.GenericIPAddressField(null=True, blank=True)
    use_address = models.CharField(
        max_length=16, choices=UseAddress.choices, default=UseAddress.REMOTE
    )
    state = models.CharField(
        max_length=16, choices=AgentState.choices, default=AgentState.ONLINE
    )
    cpus = models.PositiveIntegerField()
    ram = models.PositiveIntegerField(help_text="Installed RAM in MB.")
    free_ram = models.PositiveIntegerField(help_text="RAM last reported free, MB.")
    ram_allocation = models.FloatField(default=default_agent_ram_allocation)
    cpu_allocation = models.FloatField(default=default_agent_cpu_allocation)
    os_class = models.CharField(
        max_length=16, choices=OperatingSystem.choices, null=True, blank=True
    )
    os_fullname = models.CharField(max_length=128, null=True, blank=True)
    cpu_name = models.CharField(max_length=128, null=True, blank=True)
    time_offset = models.IntegerField(
        default=0, help_text="Seconds the agent's clock is off an NTP server."
    )
    last_heard_from = models.DateTimeField(null=True, blank=True)
    last_polled = models.DateTimeField(null=True, blank=True)
    last_success_on = models.DateTimeField(
        null=True, blank=True, help_text="When the agent last finished a task."
    )
    notes = models.TextField(blank=True, default="")
    restart_requested = models.BooleanField(default=False)
    upgrade_to = models.CharField(max_length=16, null=True, blank=True)
    version = models.CharField(max_length=16, null=True, blank=True)
    tags = models.ManyToManyField(
        "farm.Tag", blank=True, related_name="agents", db_table="agent_tag_associations"
    )
    software_versions = models.ManyToManyField(
        "farm.SoftwareVersion",
        blank=True,
        related_name="agents",
        db_table="agent_software_version_associations",
    )
    gpus = models.ManyToManyField(
        GPU, blank=True, related_name="agents", db_table="gpu_agent_associations"
    )

    objects = AgentQuerySet.as_manager()

    class Meta:
        db_table = "agents"
        ordering = ["hostname", "port"]
        verbose_name = "agent"
        indexes = [
            # The planner's snapshot of idle agents, and agent lists by state.
            models.Index(fields=["state"], name="agent_state_idx"),
            # Lookups and searches by host name (API filter, admin search).
            models.Index(fields=["hostname"], name="agent_hostname_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.port}"

    def clean(self) -> None:
        """Validate ranges, names and the address as models.yml describes."""
        errors: dict[str, str] = {}
        checks = {
            "hostname": self.hostname is not None and hostname_error(self.hostname),
            "cpus": range_error("cpus", self.cpus),
            "ram": range_error("ram", self.ram),
            "port": range_error("port", self.port),
            "remote_ip": agent_address_error(self.remote_ip),
            "os_fullname": length_error("max_osname_length", self.os_fullname),
            "cpu_name": length_error("max_cpuname_length", self.cpu_name),
        }
        for field in ("ram_allocation", "cpu_allocation"):
            value = getattr(self, field)
            if value is not None and not 0 < value <= 1:
                checks[field] = "must be greater than 0 and at most 1"
        errors = {field: message for field, message in checks.items() if message}
        if errors:
            raise ValidationError(errors)

    def api_url(self) -> str:
        """Base URL of the agent's own API, following ``use_address``.

        Raises ValueError for passive agents, which are never contacted.
        """
        if self.use_address == UseAddress.PASSIVE:
            raise ValueError(f"agent {self} is passive and is never contacted")
        if self.use_address == UseAddress.HOSTNAME or not self.remote_ip:
            host = self.hostname
        else:
            host = self.remote_ip
        return farm_config("agent_api_url_template").format(host=host, port=self.port)

    def enable(self) -> bool:
        """Bring a disabled agent back as online; returns whether it changed."""
        updated = Agent.objects.filter(pk=self.pk, state=AgentState.DISABLED).update(
            state=AgentState.ONLINE
        )
        self.refresh_from_db(fields=["state"])
        return bool(updated)

    enable.alters_data = True  # type: ignore[attr-defined]

    def disable(self) -> bool:
        """Take the agent out of the farm; returns whether it changed."""
        updated = Agent.objects.filter(pk=self.pk).set_state(AgentState.DISABLED)
        self.refresh_from_db(fields=["state"])
        return bool(updated)

    disable.alters_data = True  # type: ignore[attr-defined]

    def request_restart(self) -> None:
        """Ask the agent to restart the next time the master talks to it."""
        Agent.objects.filter(pk=self.pk).update(restart_requested=True)
        self.restart_requested = True

    request_restart.alters_data = True  # type: ignore[attr-defined]

    def mark_heard_from(self) -> None:
        """Record that the agent just contacted the master."""
        now = timezone.now()
        Agent.objects.filter(pk=self.pk).update(last_heard_from=now)
        self.last_heard_from = now

    mark_heard_from.alters_data = True  # type: ignore[attr-defined]


class AgentMacAddress(models.Model):
    """A MAC address of an agent, stored in the canonical ``aa:bb:…`` form."""

    agent = models.ForeignKey(
        Agent, on_delete=models.CASCADE, related_name="mac_addresses"
    )
    mac_address = models.CharField(max_length=17)

    class Meta:
        db_table = "agent_mac_addresses"
        ordering = ["agent_id", "mac_address"]
        verbose_name = "agent MAC address"
        verbose_name_plural = "agent MAC addresses"
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "mac_address"], name="unique_agent_mac_address"
            )
        ]

    def __str__(self) -> str:
        return self.mac_address

    @staticmethod
    def normalize(value: str) -> str:
        """Return ``value`` as lower-case colon-separated hex; ValueError if invalid."""
        try:
            eui = netaddr.EUI(value, dialect=netaddr.mac_unix_expanded)
        except (netaddr.AddrFormatError, TypeError):
            raise ValueError(f"{value!r} is not a MAC address") from None
        return str(eui)

    def clean(self) -> None:
        """Normalise the address, refusing what is not a MAC address."""
        try:
            self.mac_address = self.normalize(self.mac_address)
        except ValueError as error:
            raise ValidationError({"mac_address": str(error)}) from None


class AgentDisk(models.Model):
    """A disk of an agent with its size and free space in bytes."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="disks")
    mountpoint = models.CharField(
        max_length=255, help_text="Mount point, or drive letter on Windows."
    )
    size = models.BigIntegerField()
    free = models.BigIntegerField()

    class Meta:
        db_table = "agent_disks"
        ordering = ["agent_id", "mountpoint"]
        verbose_name = "agent disk"
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "mountpoint"], name="unique_agent_disk_mountpoint"
            )
        ]

    def __str__(self) -> str:
        return f"{self.mountpoint} ({self.free}/{self.size} bytes free)"

    def clean(self) -> None:
        """Sizes are not negative and the free space fits the disk."""
        errors = {}
        error = length_error("max_mountpoint_length", self.mountpoint)
        if error:
            errors["mountpoint"] = error
        if self.size is not None and self.size < 0:
            errors["size"] = "must not be negative"
        if self.free is not None and self.free < 0:
            errors["free"] = "must not be negative"
        if errors:
            raise ValidationError(errors)
