"""Agent workflows: registration and reports, state, software, update packages.

Also enabling, disabling and restarting agents, and taking back their work.
"""

from __future__ import annotations

import functools
import logging
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connections, router, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from farm.choices import (
    ACTIVE_WORK_STATES,
    AVAILABLE_AGENT_STATES,
    AgentState,
    WorkState,
)
from farm.models import (
    GPU,
    Agent,
    AgentDisk,
    AgentMacAddress,
    SoftwareVersion,
    Task,
)
from farm.models.agents import AgentQuerySet
from farm.services.jobs import refresh_job_states
from farm.services.tags import find_or_create_tags
from farm.signals import notify_work_changed
from farm.validators import agent_update_package_error, length_error
from pyfarm_site.conf import farm_config

logger = logging.getLogger(__name__)


def enable_agents(*, agents: AgentQuerySet) -> int:
    """Bring disabled agents back as online; returns how many changed."""
    enabled = agents.filter(state=AgentState.DISABLED).update(state=AgentState.ONLINE)
    if enabled:
        notify_work_changed("agents enabled")
    return enabled


def disable_agents(*, agents: AgentQuerySet) -> int:
    """Take agents out of the farm; returns how many changed.

    Their running tasks finish; the scheduler gives them nothing new.
    """
    return agents.set_state(AgentState.DISABLED)


def request_agent_restart(*, agents: AgentQuerySet) -> int:
    """Flag agents to restart the next time the master talks to them."""
    return agents.filter(restart_requested=False).update(restart_requested=True)


def requeue_agent_tasks(*, agent_ids: list, offline: bool = True) -> int:
    """Give the open tasks of lost agents back to the queue.

    With ``offline`` the agents are marked offline as well (disabled agents
    stay disabled). Returns the number of tasks requeued.
    """
    with transaction.atomic():
        tasks = Task.objects.filter(
            agent_id__in=agent_ids, state__in=ACTIVE_WORK_STATES
        )
        job_ids = list(tasks.values_list("job_id", flat=True).distinct())
        count = tasks.requeue()
        if offline:
            Agent.objects.filter(pk__in=agent_ids).exclude(
                state=AgentState.DISABLED
            ).set_state(AgentState.OFFLINE)
        refresh_job_states(job_ids=job_ids)
        notify_work_changed("agent tasks requeued")
    return count


# --- what agents report about themselves (the API's R1, R2 and R3) ----------

# Columns of `Agent` that a registration or an update may set. ``state`` is
# applied separately, because a disabled agent stays disabled.
AGENT_REPORT_FIELDS = frozenset(
    {
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
        "version",
        "os_class",
        "os_fullname",
        "cpu_name",
    }
)


@dataclass(frozen=True)
class AgentDiskReport:
    """One disk as the agent reports it: mount point, size and free bytes."""

    mountpoint: str
    size: int
    free: int


@dataclass(frozen=True)
class AgentReport:
    """What an agent says about itself, already checked for JSON types.

    ``fields`` holds `Agent` columns (names from `AGENT_REPORT_FIELDS`). The
    lists are None when the agent did not send them, which leaves the stored
    ones alone; a list, even empty, replaces them.
    """

    fields: Mapping[str, Any]
    mac_addresses: Sequence[str] | None = None
    disks: Sequence[AgentDiskReport] | None = None
    gpus: Sequence[str] | None = None
    farm_name: str | None = None


def check_farm_name(farm_name: str | None) -> None:
    """Refuse an agent of another farm when this master has a ``farm_name``."""
    expected = farm_config("farm_name")
    if expected and farm_name is not None and farm_name != expected:
        raise ValidationError(
            {
                "farm_name": (
                    f"this master serves the farm {expected!r}, not {farm_name!r}"
                )
            }
        )


def _validate_agent(agent: Agent, changed: Iterable[str] | None) -> None:
    """Validate the agent, reporting only errors about the ``changed`` columns.

    A heartbeat must not be refused because of a value stored earlier under a
    different configuration (e.g. a loopback address that was allowed then).
    ``None`` reports every error (a new agent).
    """
    # Columns that did not change are left out of the field checks (their
    # errors would be dropped anyway); `Agent.clean` checks them all.
    exclude = (
        None
        if changed is None
        else [f.name for f in Agent._meta.concrete_fields if f.name not in changed]
    )
    try:
        agent.full_clean(
            exclude=exclude, validate_unique=False, validate_constraints=False
        )
    except ValidationError as error:
        relevant = None if changed is None else {*changed, NON_FIELD_ERRORS}
        errors = {
            field: messages
            for field, messages in error.message_dict.items()
            if relevant is None or field in relevant
        }
        if errors:
            raise ValidationError(errors) from None


def _normalized_mac_addresses(addresses: Sequence[str]) -> list[str]:
    """Canonical, unique MAC addresses; unparsable ones are dropped and logged.

    The agent never retries a refused registration, so a strange interface
    address must not keep it out of the farm (the original dropped them too).
    """
    normalized: dict[str, None] = {}
    for address in addresses:
        try:
            normalized[AgentMacAddress.normalize(address)] = None
        except ValueError:
            logger.warning("ignoring MAC address %r: not a MAC address", address)
    return list(normalized)


def _checked_disks(agent: Agent, disks: Sequence[AgentDiskReport]) -> list[AgentDisk]:
    """Unsaved disk rows, validated; a mount point sent twice keeps its last."""
    by_mountpoint = {disk.mountpoint: disk for disk in disks}
    rows = [
        AgentDisk(
            agent=agent, mountpoint=disk.mountpoint, size=disk.size, free=disk.free
        )
        for disk in by_mountpoint.values()
    ]
    errors: dict[str, list[str]] = {}
    for row in rows:
        try:
            row.full_clean(exclude=["agent"], validate_unique=False)
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                errors.setdefault(f"disks.{field}", []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return rows


def _checked_gpus(gpus: Sequence[str]) -> list[str]:
    """Unique GPU names, each within ``max_gpu_name_length``."""
    names = list(dict.fromkeys(name.strip() for name in gpus if name.strip()))
    for name in names:
        if error := length_error("max_gpu_name_length", name):
            raise ValidationError({"gpus": f"{name[:40]!r}…: {error}"})
    return names


def _apply_report(agent: Agent, report: AgentReport, *, created: bool) -> None:
    """Write a validated report to ``agent`` and its MAC addresses, disks, GPUs.

    Runs inside the caller's transaction; everything is validated before the
    first write.
    """
    fields = dict(report.fields)
    unknown = set(fields) - AGENT_REPORT_FIELDS
    if unknown:
        raise ValueError(f"not agent report fields: {sorted(unknown)}")
    state = fields.pop("state", None)
    if agent.upgrade_to and fields.get("version") == agent.upgrade_to:
        # The agent runs the version an admin asked for: the upgrade is done.
        fields["upgrade_to"] = None
    for name, value in fields.items():
        setattr(agent, name, value)
    if created and state is not None:
        agent.state = state
    agent.last_heard_from = timezone.now()
    _validate_agent(agent, None if created else fields)
    disks = _checked_disks(agent, report.disks) if report.disks is not None else None
    gpus = _checked_gpus(report.gpus) if report.gpus is not None else None

    if created:
        agent.save(force_insert=True)
    else:
        changes: dict[str, Any] = {**fields, "last_heard_from": agent.last_heard_from}
        if state is not None:
            # Conditional on the stored state, in the same statement: an
            # admin's "disabled" wins over whatever the agent reports, even
            # when both happen at once. One UPDATE keeps the row locked for
            # the shortest time; heartbeats of one agent queue up on it.
            changes["state"] = Case(
                When(state=AgentState.DISABLED, then=F("state")),
                default=Value(state),
            )
        Agent.objects.filter(pk=agent.pk).update(**changes)
        if state is not None:
            agent.refresh_from_db(fields=["state"])

    if report.mac_addresses is not None:
        addresses = _normalized_mac_addresses(report.mac_addresses)
        agent.mac_addresses.exclude(mac_address__in=addresses).delete()
        AgentMacAddress.objects.bulk_create(
            [AgentMacAddress(agent=agent, mac_address=mac) for mac in addresses],
            ignore_conflicts=True,
        )
    if disks is not None:
        agent.disks.all().delete()
        AgentDisk.objects.bulk_create(disks)
    if gpus is not None:
        GPU.objects.bulk_create(
            [GPU(fullname=name) for name in gpus], ignore_conflicts=True
        )
        agent.gpus.set(GPU.objects.filter(fullname__in=gpus))


def register_agent(
    *, agent_id: uuid.UUID | None, report: AgentReport
) -> tuple[Agent, bool]:
    """Register an agent (the agent's startup request); returns it and whether new.

    A known id is updated in place: its columns, and its MAC addresses, disks
    and GPUs replaced by those sent. A disabled agent stays disabled. Without
    an id a new agent with a fresh UUID is created. Raises ValidationError for
    another farm's agent or values the model refuses (a loopback address
    unless ``allow_agents_from_loopback``, values outside the configured
    ranges).
    """
    check_farm_name(report.farm_name)
    with transaction.atomic():
        agent = None
        if agent_id is not None:
            agent = Agent.objects.select_for_update().filter(pk=agent_id).first()
        created = agent is None
        if agent is None:
            agent = Agent(id=agent_id or uuid.uuid4())
        _apply_report(agent, report, created=created)
        notify_work_changed("agent registered")
    return agent, created


def _has_lists(report: AgentReport) -> bool:
    """Whether the report replaces MAC addresses, disks or GPUs (other tables)."""
    return any(
        value is not None for value in (report.mac_addresses, report.disks, report.gpus)
    )


@functools.lru_cache(maxsize=128)
def _report_sql(
    alias: str, columns: tuple[str, ...], *, version: bool, state: bool, online: bool
) -> str:
    """The ``UPDATE ... RETURNING`` of a report: written once per shape, cached.

    Sets ``columns`` (then ``upgrade_to`` when a ``version`` is reported and
    ``state`` when one is) of the agent whose id is the next parameter,
    ``online`` adding "unless offline". Returns every column of the row, so
    that the answer needs no second statement (PostgreSQL; SQLite 3.35 and
    later). Parameters: the columns' values, the version, "disabled" and the
    state, the id, "offline". Compiling the equivalent queryset took longer
    than the rest of a heartbeat; the SQL is the ORM's, written out.
    """
    quote = connections[alias].ops.quote_name
    sets = [f"{quote(column)} = %s" for column in columns]
    upgrade_to, state_ = quote("upgrade_to"), quote("state")
    if version:
        # The agent runs the version an admin asked for: the upgrade is done.
        sets.append(
            f"{upgrade_to} = CASE WHEN {upgrade_to} = %s THEN NULL "
            f"ELSE {upgrade_to} END"
        )
    if state:
        # Conditional on the stored state, in the same statement: an admin's
        # "disabled" wins over whatever the agent reports, even when both
        # happen at once.
        sets.append(f"{state_} = CASE WHEN {state_} = %s THEN {state_} ELSE %s END")
    where = f"{quote(Agent._meta.pk.column)} = %s"
    if online:
        where += f" AND {state_} <> %s"
    returning = ", ".join(quote(field.column) for field in Agent._meta.concrete_fields)
    return (
        f"UPDATE {quote(Agent._meta.db_table)} SET {', '.join(sets)} "
        f"WHERE {where} RETURNING {returning}"
    )


def _update_returning(
    agent_id: uuid.UUID,
    columns: Mapping[str, Any],
    *,
    version: str | None,
    state: str | None,
    online: bool,
) -> Agent | None:
    """Set ``columns`` of the agent (see `_report_sql`); the row, None if none."""
    alias = router.db_for_write(Agent)
    connection = connections[alias]
    fields = [Agent._meta.get_field(name) for name in columns]
    sql = _report_sql(
        alias,
        tuple(field.column for field in fields),  # type: ignore[union-attr]
        version=bool(version),
        state=state is not None,
        online=online,
    )
    params: list[Any] = [
        field.get_db_prep_save(value, connection)  # type: ignore[union-attr]
        for field, value in zip(fields, columns.values(), strict=True)
    ]
    if version:
        params.append(version)
    if state is not None:
        params += [AgentState.DISABLED, state]
    params.append(Agent._meta.pk.get_db_prep_value(agent_id, connection))
    if online:
        params.append(AgentState.OFFLINE)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        # All rows (there is one at most): SQLite ends the statement then.
        rows = cursor.fetchall()
    if not rows:
        return None
    # The returned values made Python ones, as a query would.
    values = list(rows[0])
    for index, column, convert in _converters(alias):
        values[index] = convert(values[index], column, connection)
    return Agent.from_db(alias, _ATTNAMES, values)


_ATTNAMES = [field.attname for field in Agent._meta.concrete_fields]


@functools.lru_cache(maxsize=8)
def _converters(alias: str) -> list[tuple[int, Any, Any]]:
    """(index, column, converter) of the columns `_report_sql` returns."""
    connection = connections[alias]
    converters = []
    for index, field in enumerate(Agent._meta.concrete_fields):
        column = field.get_col(Agent._meta.db_table)
        for convert in [
            *connection.ops.get_db_converters(column),
            *column.get_db_converters(connection),
        ]:
            converters.append((index, column, convert))
    return converters


def _report_columns(agent_id: uuid.UUID, fields: Mapping[str, Any]) -> Agent | None:
    """Merge column values into the agent ``agent_id``; the agent, None if unknown.

    The heartbeat's path (no lists): validated without loading the agent
    (every check of `Agent.clean` and of its fields looks at one column's
    value only), then one conditional ``UPDATE ... RETURNING`` on agents that
    are not offline. An offline agent (or an unknown one) takes a second
    UPDATE, after which an agent back online sends `work_changed`.
    """
    fields = dict(fields)
    unknown = set(fields) - AGENT_REPORT_FIELDS
    if unknown:
        raise ValueError(f"not agent report fields: {sorted(unknown)}")
    state = fields.pop("state", None)
    _validate_agent(Agent(**fields), fields)
    update = functools.partial(
        _update_returning,
        agent_id,
        {**fields, "last_heard_from": timezone.now()},
        version=fields.get("version"),
        state=state,
    )
    agent = update(online=True)
    if agent is not None:
        return agent
    agent = update(online=False)
    if agent is not None and agent.state in AVAILABLE_AGENT_STATES:
        notify_work_changed("agent back online")
    return agent


def report_agent(*, agent_id: uuid.UUID, report: AgentReport) -> Agent | None:
    """Merge a report into the agent ``agent_id`` (R2, R3); None when unknown.

    As `update_agent`, without loading the agent first: a plain heartbeat
    is one statement (two when the agent was offline).
    """
    check_farm_name(report.farm_name)
    if _has_lists(report):
        agent = Agent.objects.filter(pk=agent_id).first()
        return None if agent is None else update_agent(agent=agent, report=report)
    return _report_columns(agent_id, report.fields)


def update_agent(*, agent: Agent, report: AgentReport) -> Agent:
    """Merge a report into a known agent (heartbeats, shutdown, admin edits).

    Only what the report contains changes; ``last_heard_from`` is now. A
    disabled agent stays disabled whatever state it reports. ``agent`` is
    updated in place.
    """
    check_farm_name(report.farm_name)
    if not _has_lists(report):
        updated = _report_columns(agent.pk, report.fields)
        if updated is None:
            raise Agent.DoesNotExist(f"agent {agent.pk} no longer exists")
        for field in Agent._meta.concrete_fields:
            setattr(agent, field.attname, getattr(updated, field.attname))
        return agent
    # A report with MAC addresses, disks or GPUs writes several tables.
    was_offline = agent.state == AgentState.OFFLINE
    with transaction.atomic():
        _apply_report(agent, report, created=False)
    if was_offline and agent.state in AVAILABLE_AGENT_STATES:
        notify_work_changed("agent back online")
    return agent


def delete_agent(*, agent_id: uuid.UUID) -> bool:
    """Delete an agent after giving its open tasks back to the queue.

    Returns whether the agent existed.
    """
    with transaction.atomic():
        requeue_agent_tasks(agent_ids=[agent_id], offline=False)
        deleted, _ = Agent.objects.filter(pk=agent_id).delete()
    return bool(deleted)


# --- software an agent has ---------------------------------------------------


def add_agent_software(*, agent: Agent, software: str, version: str) -> SoftwareVersion:
    """Record that the agent has this version of a software.

    Raises SoftwareVersion.DoesNotExist when the master does not know it.
    """
    found = (
        SoftwareVersion.objects.select_related("software")
        .filter(software__software=software, version=version)
        .first()
    )
    if found is None:
        raise SoftwareVersion.DoesNotExist(
            f"software {software!r} has no version {version!r}"
        )
    agent.software_versions.add(found)
    return found


def remove_agent_software(*, agent: Agent, software: str, version: str) -> int:
    """Record that the agent lacks this software version; returns rows removed."""
    through = Agent.software_versions.through
    deleted, _ = through.objects.filter(
        agent=agent,
        softwareversion__software__software=software,
        softwareversion__version=version,
    ).delete()
    return deleted


# --- tasks given to an agent by hand -------------------------------------------


def assign_task_to_agent(*, agent: Agent, task: Task) -> bool:
    """Give a queued task to an agent; the scheduler then sends it there.

    Returns False, changing nothing, when the task is not queued or was
    already sent to another agent: moving it would run it twice.
    """
    if task.state == WorkState.QUEUED and task.agent_id == agent.pk:
        return True
    updated = Task.objects.filter(
        pk=task.pk, state=WorkState.QUEUED, sent_to_agent=False
    ).update(agent=agent)
    task.refresh_from_db()
    return bool(updated)


# --- agent update packages ------------------------------------------------------

#: What an agent update's version may be (the API's schema states it too):
#: one path component, no separators, no "..", no leading dot.
UPDATE_VERSION_PATTERN = r"^(?!.*\.\.)[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$"
_UPDATE_VERSION = re.compile(UPDATE_VERSION_PATTERN)


def agent_update_filename(version: str) -> str:
    """The package's file name; ValidationError for versions unfit for a path."""
    if not _UPDATE_VERSION.fullmatch(version):
        raise ValidationError(
            {
                "version": (
                    f"{version!r} is not an acceptable version: use letters, "
                    "digits, '.', '+', '_' and '-' (no path separators or '..')"
                )
            }
        )
    return f"pyfarm-agent-{version}.zip"


def agent_update_path(version: str) -> Path:
    """Where the update package of ``version`` is (or would be) stored."""
    return Path(farm_config("agent_updates_dir")) / agent_update_filename(version)


def store_agent_update(*, version: str, package: IO[bytes]) -> bool:
    """Store an uploaded update package; returns whether it is a new version.

    The package must be a zip archive the agent can install
    (`agent_update_package_error`). It is written next to its final name
    first and then renamed, so agents never download half a file.
    """
    path = agent_update_path(version)
    if error := agent_update_package_error(
        package, max_size=farm_config("max_upload_size")
    ):
        raise ValidationError(error)
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    package.seek(0)
    with tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as partial:
        shutil.copyfileobj(package, partial)
    Path(partial.name).replace(path)
    return created


# --- what farm admins write about an agent -------------------------------------


def set_agent_notes(*, agent: Agent, notes: str) -> bool:
    """Replace the agent's notes; returns whether they changed.

    One UPDATE of that column only, so it never writes back stale values of
    the columns the agent's reports keep changing.
    """
    notes = notes.replace("\r\n", "\n")
    changed = Agent.objects.filter(pk=agent.pk).exclude(notes=notes).update(notes=notes)
    agent.notes = notes
    return bool(changed)


def set_agent_tags(*, agent: Agent, names: Iterable[str]) -> list[str]:
    """Make ``names`` the agent's tags exactly, creating unknown tags.

    Blank names are ignored; raises ValidationError for names the tag model
    refuses (too long), before anything changes. Returns the tag names set.
    """
    wanted = [name.strip() for name in names if name.strip()]
    with transaction.atomic():
        tags = find_or_create_tags(names=wanted)
        agent.tags.set(tags)
    if tags:
        notify_work_changed("agent tags changed")
    return [tag.tag for tag in tags]
