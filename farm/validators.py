"""Validation rules of models.yml, shared by the models' ``clean()`` methods.

Each helper returns an error message (or None) so that callers can collect the
errors of several fields into one ``ValidationError`` keyed by field name.
"""

from __future__ import annotations

import re

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
