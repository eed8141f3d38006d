"""System checks on the farm's configuration (run at start-up by Django)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from pyfarm_site.config import load_config

# Configured maximum lengths and the column each one bounds.
MAX_LENGTH_COLUMNS = {
    "max_tag_length": ("farm.Tag", "tag"),
    "max_hostname_length": ("farm.Agent", "hostname"),
    "max_jobgroup_name_length": ("farm.JobGroup", "title"),
    "max_osname_length": ("farm.Agent", "os_fullname"),
    "max_cpuname_length": ("farm.Agent", "cpu_name"),
    "jobtitle_max_length": ("farm.Job", "title"),
    "max_path_length": ("farm.PathMap", "path_linux"),
    "max_gpu_name_length": ("farm.GPU", "fullname"),
    "max_queue_name_length": ("farm.JobQueue", "name"),
    "max_queue_path_length": ("farm.JobQueue", "fullpath"),
    "job_type_max_name_length": ("farm.JobType", "name"),
    "job_type_max_class_name_length": ("farm.JobTypeVersion", "classname"),
    "max_username_length": ("accounts.User", "username"),
    "max_email_length": ("accounts.User", "email"),
    "max_role_length": ("accounts.Role", "name"),
    "max_mountpoint_length": ("farm.AgentDisk", "mountpoint"),
    "max_discovery_function_name_length": (
        "farm.SoftwareVersion",
        "discovery_function_name",
    ),
}


@register()
def check_table_names(**kwargs: Any) -> list[CheckMessage]:
    """Table names are fixed by the migrations: changed ``table_*`` keys are errors."""
    shipped = load_config(environ={})
    return [
        Error(
            f"{key} is {settings.PYFARM[key]!r}, but the table is {value!r}",
            hint="Table names are fixed by the migrations; remove this override.",
            id="farm.E001",
        )
        for key, value in shipped.items()
        if key.startswith("table_") and settings.PYFARM[key] != value
    ]


@register()
def check_max_lengths(**kwargs: Any) -> list[CheckMessage]:
    """A configured maximum length may lower a column's size, never exceed it."""
    messages: list[CheckMessage] = []
    for key, (model_label, field_name) in MAX_LENGTH_COLUMNS.items():
        column = apps.get_model(model_label)._meta.get_field(field_name)
        if settings.PYFARM[key] > column.max_length:
            messages.append(
                Error(
                    f"{key} is {settings.PYFARM[key]}, more than the "
                    f"{column.max_length} characters of {model_label}.{field_name}",
                    id="farm.E002",
                )
            )
    return messages


#: The oldest SQLite the scheduler's claim statements run on (UPDATE ... FROM,
#: RETURNING and MATERIALIZED common table expressions).
MIN_SQLITE_VERSION = (3, 35, 0)


def sqlite_version_errors(
    engine: str, sqlite_version: tuple[int, ...]
) -> list[CheckMessage]:
    """An error if ``engine`` is SQLite older than `MIN_SQLITE_VERSION`."""
    if engine != "django.db.backends.sqlite3" or sqlite_version >= MIN_SQLITE_VERSION:
        return []
    have = ".".join(map(str, sqlite_version))
    need = ".".join(map(str, MIN_SQLITE_VERSION))
    return [
        Error(
            f"SQLite {have} is too old for the scheduler; {need} or newer is needed",
            hint="Use a Python linked with a newer SQLite, or PostgreSQL.",
            id="farm.E003",
        )
    ]


@register(Tags.database)
def check_sqlite_version(**kwargs: Any) -> list[CheckMessage]:
    """On SQLite, the library Python links must be at least `MIN_SQLITE_VERSION`."""
    import sqlite3

    return sqlite_version_errors(
        settings.DATABASES["default"]["ENGINE"], sqlite3.sqlite_version_info
    )


@register(deploy=True)
def check_production_settings(**kwargs: Any) -> list[CheckMessage]:
    """Warn about development settings left on (``manage.py check --deploy``)."""
    messages: list[CheckMessage] = []
    if settings.PYFARM["secret_key"] == "pyfarm":
        messages.append(Warning("secret_key is the shipped default", id="farm.W001"))
    if settings.PYFARM["login_disabled"]:
        messages.append(
            Warning("login_disabled is on: everybody acts as admin", id="farm.W002")
        )
    if settings.PYFARM["allow_agents_from_loopback"]:
        messages.append(
            Warning("agents from loopback addresses are accepted", id="farm.W003")
        )
    if "*" in settings.PYFARM["allowed_hosts"]:
        messages.append(
            Warning(
                "allowed_hosts accepts any host name",
                hint="List the names agents and users reach the master by "
                "(PYFARM_ALLOWED_HOSTS).",
                id="farm.W004",
            )
        )
    broad = broad_agent_networks()
    if broad:
        messages.append(
            Warning(
                f"agent_networks holds the shipped default's whole private "
                f"range(s) {', '.join(broad)}: any host there may speak for "
                f"any agent and report on any task",
                hint="Narrow agent_networks (PYFARM_AGENT_NETWORKS) to the "
                "render nodes' networks.",
                id="farm.W005",
            )
        )
    return messages


def broad_agent_networks() -> list[str]:
    """The shipped default's private ranges that ``agent_networks`` wholly holds.

    Loopback is left out (``allow_agents_from_loopback``, farm.W003, is the
    key about local agents). None when ``agent_networks`` is invalid (farm.E004
    says so).
    """
    import netaddr

    from farm.api.client_address import configured_networks

    try:
        configured = configured_networks("agent_networks")
    except ImproperlyConfigured:
        return []
    shipped = load_config(environ={})["agent_networks"]
    return [
        network
        for network in shipped
        if not netaddr.IPNetwork(network).is_loopback()
        and netaddr.IPSet([network]).issubset(configured)
    ]


#: Configuration keys that list networks (CIDRs or single addresses).
NETWORK_KEYS = ("agent_networks", "trusted_proxies")


@register()
def check_networks(**kwargs: Any) -> list[CheckMessage]:
    """``agent_networks`` and ``trusted_proxies`` must be lists of networks."""
    from farm.api.client_address import configured_networks

    messages: list[CheckMessage] = []
    for key in NETWORK_KEYS:
        try:
            configured_networks(key)
        except ImproperlyConfigured as error:
            messages.append(
                Error(
                    str(error),
                    hint="Give networks as CIDRs, e.g. 10.0.0.0/8 or 192.0.2.1/32.",
                    id="farm.E004",
                )
            )
    return messages
