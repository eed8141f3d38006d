"""The address a request comes from, for trust decisions and agent addresses.

Every place that trusts a request for its address (the agent networks) or
stores an agent's address takes it from `client_address`, never from
``REMOTE_ADDR`` directly.

Without a reverse proxy the client is the TCP peer (``REMOTE_ADDR``). Behind
one, the peer is the proxy; when it is in ``trusted_proxies``, the client is
read from ``X-Forwarded-For``: the right-most address that is not itself a
trusted proxy (each proxy appends the address it saw, so the entries to the
left of the last untrusted one were written by whoever sent the request and
prove nothing). A peer outside ``trusted_proxies`` is the client, whatever
headers it sends. When the header is missing, malformed, or names trusted
proxies only, the client is unknown (None): it is trusted as nothing.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

import netaddr
from django.core.exceptions import ImproperlyConfigured

from pyfarm_site.conf import farm_config

if TYPE_CHECKING:
    from django.http import HttpRequest
    from rest_framework.request import Request

FORWARDED_FOR = "HTTP_X_FORWARDED_FOR"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=16)
def network_set(key: str, networks: tuple[str, ...]) -> netaddr.IPSet:
    """The networks of configuration key ``key`` as a set (cached per value)."""
    try:
        return netaddr.IPSet(networks)
    except (netaddr.AddrFormatError, ValueError, TypeError) as error:
        raise ImproperlyConfigured(f"{key}: {error}") from None


def _configured(key: str) -> tuple[str, ...]:
    """The networks configuration key ``key`` (a list of CIDRs) names, as text."""
    value = farm_config(key) or []
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ImproperlyConfigured(f"{key}: expected a list of networks")
    return tuple(str(item) for item in value)


def configured_networks(key: str) -> netaddr.IPSet:
    """The networks a configuration key (a list of CIDRs) names."""
    return network_set(key, _configured(key))


def parse_address(value: str | None) -> IPAddress | None:
    """An IP address as a proxy or the WSGI server writes it, or None.

    Accepts ``192.0.2.1``, ``2001:db8::1``, ``[2001:db8::1]``, and either
    with a port (``192.0.2.1:8080``, ``[2001:db8::1]:8080``), which some
    proxies add. An IPv4 address mapped into IPv6 (``::ffff:192.0.2.1``, as a
    dual-stack socket reports IPv4 peers) is the IPv4 address; a zone
    (``%eth0``) is dropped. Anything else is None.
    """
    if not value:
        return None
    text = value.strip()
    if text.startswith("["):
        host, bracket, _port = text[1:].partition("]")
        if not bracket:
            return None
        text = host
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    text = text.partition("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _in(address: IPAddress, networks: netaddr.IPSet) -> bool:
    return netaddr.IPAddress(str(address)) in networks


def client_ip(meta: dict[str, str]) -> IPAddress | None:
    """The client's address from a WSGI environ (see the module docstring)."""
    return _client_ip(
        meta.get("REMOTE_ADDR"), meta.get(FORWARDED_FOR), _configured("trusted_proxies")
    )


def _client_ip(
    remote_addr: str | None, forwarded: str | None, trusted: tuple[str, ...]
) -> IPAddress | None:
    """The client's address from the peer's and the forwarding header's."""
    peer = parse_address(remote_addr)
    if peer is None:
        return None
    proxies = network_set("trusted_proxies", trusted)
    if not proxies or not _in(peer, proxies):
        return peer
    if not forwarded:
        return None
    for hop in reversed(forwarded.split(",")):
        address = parse_address(hop)
        if address is None:
            return None
        if not _in(address, proxies):
            return address
    return None


def client_address(request: HttpRequest | Request) -> str | None:
    """The address the request comes from, as text, or None when unknown."""
    address = client_ip(request.META)
    return None if address is None else str(address)


def is_agent_address(address: str | None) -> bool:
    """Whether ``address`` is in one of the configured ``agent_networks``."""
    ip = parse_address(address)
    return ip is not None and _in(ip, configured_networks("agent_networks"))


def is_from_agent_network(request: HttpRequest | Request) -> bool:
    """Whether the request's client (`client_address`) is in ``agent_networks``.

    Every agent request asks, from the same few addresses: the answer is
    cached per peer, forwarding header and configured networks.
    """
    meta = request.META
    return _from_agent_network(
        meta.get("REMOTE_ADDR"),
        meta.get(FORWARDED_FOR),
        _configured("trusted_proxies"),
        _configured("agent_networks"),
    )


@functools.lru_cache(maxsize=4096)
def _from_agent_network(
    remote_addr: str | None,
    forwarded: str | None,
    trusted: tuple[str, ...],
    agent_networks: tuple[str, ...],
) -> bool:
    """`is_from_agent_network` of a request's addresses and the configuration."""
    address = _client_ip(remote_addr, forwarded, trusted)
    return address is not None and _in(
        address, network_set("agent_networks", agent_networks)
    )
