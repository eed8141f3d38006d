"""Validation rules of models.yml, shared by the models' ``clean()`` methods.

Each helper returns an error message (or None) so that callers can collect the
errors of several fields into one ``ValidationError`` keyed by field name.
"""

from __future__ import annotations

import re
import stat
import zipfile
import zlib
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import IO

import netaddr

from pyfarm_site.conf import farm_config

# RFC 1123 host names: dot-separated labels of letters, digits and inner
# hyphens, plus underscores: Windows agents register their NetBIOS names,
# which may contain them, and an agent never retries a refused registration.
_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
# A whole host name by the same rules, for the API's schema and validation.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
HOSTNAME_PATTERN = rf"\A{_LABEL}(?:\.{_LABEL})*\.?\Z"
# Longer numbers are no ids: they would overflow a 64-bit primary key.
MAX_ID_DIGITS = 18
# Frames are stored with four decimal places (NUMERIC(10, 4)).
FRAME_QUANTUM = Decimal("0.0001")


def parse_id(value: str) -> int | None:
    """``value`` as a row id, or None when it is not one.

    Ids in URLs and searches are ASCII digits only, at most `MAX_ID_DIGITS`
    of them: ``str.isdigit()`` alone also accepts "²" (which ``int()``
    refuses) and the digits of other scripts.
    """
    if value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS:
        return int(value)
    return None


def range_error(key: str, value: int | float | None) -> str | None:
    """Check ``value`` against ``<key>_min``/``<key>_max``-style config bounds.

    ``key`` names the pair in models.yml without its prefix, e.g. ``"cpus"``
    for agent_min_cpus/agent_max_cpus.
    """
    if value is None:
        return None
    low = farm_config(f"agent_min_{key}")
    high = farm_config(f"agent_max_{key}")
    if not low <= value <= high:
        return f"must be between {low} and {high}"
    return None


def priority_error(value: int | None) -> str | None:
    """Check a queue or job priority against queue_min/max_priority."""
    if value is None:
        return None
    low = farm_config("queue_min_priority")
    high = farm_config("queue_max_priority")
    if not low <= value <= high:
        return f"must be between {low} and {high}"
    return None


def length_error(key: str, value: str | None) -> str | None:
    """Check a string against a max_*_length key of models.yml."""
    limit = farm_config(key)
    if value is not None and len(value) > limit:
        return f"must be at most {limit} characters long"
    return None


def hostname_error(value: str) -> str | None:
    """Check that ``value`` is a valid host name (RFC 1123, optional final dot).

    Underscores are accepted in labels, as in Windows (NetBIOS) host names.
    """
    error = length_error("max_hostname_length", value)
    if error:
        return error
    labels = value[:-1].split(".") if value.endswith(".") else value.split(".")
    if not value or not all(_HOSTNAME_LABEL.match(label) for label in labels):
        return f"{value!r} is not a valid hostname"
    return None


def agent_address_error(value: str | None) -> str | None:
    """Check that an agent's address can be used to reach it.

    Loopback addresses are refused unless ``allow_agents_from_loopback`` is
    set; unspecified, multicast and link-local addresses are never usable.
    """
    if value is None:
        return None
    try:
        address = netaddr.IPAddress(value)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return f"{value!r} is not an IP address"
    if address.is_loopback() and not farm_config("allow_agents_from_loopback"):
        return (
            f"{value} is a loopback address; agents from loopback addresses are "
            "refused unless allow_agents_from_loopback is set"
        )
    if address.is_multicast() or address.is_link_local() or int(address) == 0:
        return f"{value} cannot be used to reach an agent"
    return None


def max_tasks_per_job() -> int:
    """The most tasks a job may have (``max_tasks_per_job`` of models.yml)."""
    return int(farm_config("max_tasks_per_job"))


def frame_count(
    start: Decimal | float | None,
    end: Decimal | float | None,
    by: Decimal | float | None,
) -> int | None:
    """How many frames ``start`` to ``end`` in steps of ``by`` has, by arithmetic.

    Frames are counted as `farm.services.jobs.frame_range` builds them (with
    four decimal places). None when the range is no range (a missing,
    non-finite or unrepresentable bound, a step of 0 or less, an end before
    the start): the model's validation names those.
    """
    if start is None or end is None or by is None:
        return None
    try:
        start_d, end_d, by_d = (
            Decimal(str(value)).quantize(FRAME_QUANTUM) for value in (start, end, by)
        )
        if by_d <= 0 or end_d < start_d:
            return None
        return int(((end_d - start_d) / by_d).to_integral_value(ROUND_FLOOR)) + 1
    except (InvalidOperation, ValueError, OverflowError):
        return None


def job_size_error(
    start: Decimal | float | None,
    end: Decimal | float | None,
    by: Decimal | float | None,
    num_tiles: int | None,
) -> tuple[str, str] | None:
    """``(field, message)`` when the job would have over `max_tasks_per_job` tasks.

    Frames times tiles, computed before anything is built, so that a job of
    two billion tiles costs a multiplication, not the memory of its tasks.
    """
    frames = frame_count(start, end, by)
    if frames is None:
        return None
    tiles = num_tiles if num_tiles and num_tiles > 0 else 1
    limit = max_tasks_per_job()
    if frames * tiles <= limit:
        return None
    if tiles > 1:
        return (
            "num_tiles",
            f"the job would have {frames * tiles} tasks ({frames} frames x "
            f"{tiles} tiles), more than max_tasks_per_job ({limit})",
        )
    return (
        "end",
        f"the range has {frames} frames, more than max_tasks_per_job ({limit})",
    )


# --- agent update packages ------------------------------------------------------

# The agent's supervisor (pyfarm-agent's ``pyfarm-supervisor``) deletes its
# ``--agent-package-dir``, extracts ``pyfarm-agent.zip`` into it with
# Python 2.7's zipfile, and runs ``pyfarm-agent`` (the module
# ``pyfarm.agent.entrypoints.main``). The package is therefore the agent's
# code as that directory holds it: either the ``pyfarm/agent`` package
# (the directory is on the agent's sys.path) or that package's content (the
# directory is ``.../pyfarm/agent`` itself).
AGENT_PACKAGE_LAYOUTS = (
    ("pyfarm/agent/__init__.py", "pyfarm/agent/entrypoints/main.py"),
    ("__init__.py", "entrypoints/main.py"),
)
# What Python 2.7's zipfile can extract.
_AGENT_COMPRESSIONS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
_LOCAL_HEADER = b"PK\x03\x04"
_END_RECORD = b"PK\x05\x06"
_END_RECORD_SIZE = 22
_DRIVE = re.compile(r"^[A-Za-z]:")


def archive_member_error(name: str) -> str | None:
    """Why ``name`` cannot be extracted safely anywhere, or None.

    Absolute paths, drive letters, ``..`` components, backslashes (a
    separator on Windows agents) and control characters are refused.
    """
    if not name or name.startswith("/") or _DRIVE.match(name):
        return f"{name!r} is not a relative path"
    if "\\" in name or any(ord(char) < 32 or ord(char) == 127 for char in name):
        return f"{name!r} contains a backslash or a control character"
    if ".." in name.split("/"):
        return f"{name!r} leaves the directory it is extracted to"
    return None


def agent_update_package_error(package: IO[bytes], *, max_size: int) -> str | None:
    """Why ``package`` is no update the agent can install, or None.

    It must be a plain zip archive: starting with its first member (no data
    prefixed, such as a shell script with a zip appended) and ending with
    its end record (no data appended), with at least one member, every
    member's name safe to extract, stored or deflated and not encrypted,
    at most ``max_size`` bytes in all once extracted, every CRC right
    (zipfile's ``testzip``), and the agent's code in one of the
    `AGENT_PACKAGE_LAYOUTS`. Leaves the file's position at its start.
    """
    try:
        return _package_error(package, max_size=max_size)
    finally:
        package.seek(0)


def _package_error(package: IO[bytes], *, max_size: int) -> str | None:
    package.seek(0)
    if package.read(len(_LOCAL_HEADER)) != _LOCAL_HEADER:
        return "the update package is not a zip archive starting with its first file"
    package.seek(0)
    try:
        with zipfile.ZipFile(package) as archive:
            members = archive.infolist()
            comment = archive.comment
            if error := _members_error(members, max_size=max_size):
                return error
            package.seek(-(_END_RECORD_SIZE + len(comment)), 2)
            if package.read(len(_END_RECORD)) != _END_RECORD:
                return "the update package has data after its zip archive"
            if min(member.header_offset for member in members) != 0:
                return "the update package has data before its zip archive"
            if (broken := archive.testzip()) is not None:
                return f"the update package is damaged: {broken!r} fails its CRC"
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as error:
        return f"the update package is not a valid zip archive: {error}"
    names = {member.filename for member in members}
    if not any(set(layout) <= names for layout in AGENT_PACKAGE_LAYOUTS):
        expected = " or ".join(" and ".join(layout) for layout in AGENT_PACKAGE_LAYOUTS)
        return f"the update package holds no pyfarm-agent code ({expected})"
    return None


def _members_error(members: list[zipfile.ZipInfo], *, max_size: int) -> str | None:
    if not members:
        return "the update package is an empty zip archive"
    seen: set[str] = set()
    total = 0
    for member in members:
        name = member.filename
        if error := archive_member_error(name):
            return f"the update package cannot be extracted safely: {error}"
        if name in seen:
            return f"the update package holds {name!r} twice"
        seen.add(name)
        if stat.S_ISLNK(member.external_attr >> 16):
            return f"the update package holds a symbolic link: {name!r}"
        if member.flag_bits & 0x1:
            return f"the update package is encrypted: {name!r}"
        if member.compress_type not in _AGENT_COMPRESSIONS:
            return (
                f"the update package compresses {name!r} in a way the agent "
                "cannot extract (use stored or deflated)"
            )
        total += member.file_size
    if total > max_size:
        return (
            f"the update package extracts to {total} bytes, "
            f"more than max_upload_size ({max_size})"
        )
    return None
