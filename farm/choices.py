"""Enumerations of the farm: work states, agent states, addressing, OS classes.

Values are stored as readable strings. The original master stored integers;
`LEGACY_CODES` keeps those codes so that the API can accept them too
(`parse_choice`). The original stored a queued work state as NULL: here it is
the explicit value ``"queued"``.
"""

from __future__ import annotations

from django.db import models


class WorkState(models.TextChoices):
    """State of a job or a task."""

    QUEUED = "queued", "Queued"
    PAUSED = "paused", "Paused"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


# Work that may still be picked up or is in progress.
ACTIVE_WORK_STATES = frozenset({WorkState.QUEUED, WorkState.RUNNING})
# Work that ended; done and failed close an attempt of a task.
TERMINAL_WORK_STATES = frozenset({WorkState.DONE, WorkState.FAILED})


class AgentState(models.TextChoices):
    """State of an agent."""

    ONLINE = "online", "Online"
    RUNNING = "running", "Running"
    OFFLINE = "offline", "Offline"
    DISABLED = "disabled", "Disabled"


# Agents the scheduler may give work to.
AVAILABLE_AGENT_STATES = frozenset({AgentState.ONLINE, AgentState.RUNNING})


class UseAddress(models.TextChoices):
    """Which address the master uses to reach an agent."""

    LOCAL = "local", "Local"
    REMOTE = "remote", "Remote"
    HOSTNAME = "hostname", "Hostname"
    PASSIVE = "passive", "Passive (never contacted)"


class OperatingSystem(models.TextChoices):
    """Operating system family of an agent."""

    LINUX = "linux", "Linux"
    WINDOWS = "windows", "Windows"
    MAC = "mac", "macOS"
    BSD = "bsd", "BSD"
    OTHER = "other", "Other"


# The integer codes of the original master (pyfarm.core.enums).
LEGACY_CODES: dict[type[models.TextChoices], dict[int, str]] = {
    WorkState: {
        100: WorkState.PAUSED,
        105: WorkState.RUNNING,
        106: WorkState.DONE,
        107: WorkState.FAILED,
    },
    AgentState: {
        200: AgentState.DISABLED,
        201: AgentState.OFFLINE,
        202: AgentState.ONLINE,
        203: AgentState.RUNNING,
    },
    UseAddress: {
        310: UseAddress.LOCAL,
        311: UseAddress.REMOTE,
        312: UseAddress.HOSTNAME,
        313: UseAddress.PASSIVE,
    },
    OperatingSystem: {
        300: OperatingSystem.LINUX,
        301: OperatingSystem.WINDOWS,
        302: OperatingSystem.MAC,
        303: OperatingSystem.OTHER,
        304: OperatingSystem.BSD,
    },
}


def legacy_code(enum: type[models.TextChoices], value: str) -> int | None:
    """Return the original integer code of ``value`` (None for "queued")."""
    for code, name in LEGACY_CODES[enum].items():
        if name == value:
            return code
    return None


def parse_choice(enum: type[models.TextChoices], value: object) -> str:
    """Accept a choice by name (any case) or by its original integer code.

    Raises ValueError naming the allowed values when ``value`` is neither.
    ``None`` means "queued" for work states, as in the original.
    """
    if value is None and enum is WorkState:
        return WorkState.QUEUED
    if isinstance(value, int) and not isinstance(value, bool):
        if value in LEGACY_CODES[enum]:
            return LEGACY_CODES[enum][value]
    elif isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in enum.values:
            return lowered
        if lowered.isdigit() and int(lowered) in LEGACY_CODES[enum]:
            return LEGACY_CODES[enum][int(lowered)]
    allowed = ", ".join(enum.values)
    raise ValueError(f"{value!r} is not one of: {allowed}")
