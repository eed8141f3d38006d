"""The client address behind (trusted) reverse proxies: `client_address`."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from farm.api.client_address import (
    client_address,
    is_agent_address,
    is_from_agent_network,
    parse_address,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1 ", "192.0.2.1"),
        ("192.0.2.1:8080", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:8080", "2001:db8::1"),
        ("::ffff:10.1.2.3", "10.1.2.3"),
        ("fe80::1%eth0", "fe80::1"),
        ("", None),
        (None, None),
        ("unknown", None),
        ("[2001:db8::1", None),
        ("10.1", None),
        ("0x7f000001", None),
        ("999.1.1.1", None),
    ],
)
def test_addresses_are_parsed_as_proxies_write_them(text, expected) -> None:
    address = parse_address(text)
    assert (None if address is None else str(address)) == expected


def _client(remote: str, forwarded: str | None = None) -> str | None:
    extra = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    return client_address(RequestFactory().get("/", REMOTE_ADDR=remote, **extra))


def test_without_trusted_proxies_the_peer_is_the_client(farm_config) -> None:
    farm_config(trusted_proxies=[])
    assert _client("198.51.100.7", "10.1.2.3") == "198.51.100.7"


def test_the_peer_is_the_client_unless_it_is_a_trusted_proxy(farm_config) -> None:
    farm_config(trusted_proxies=["192.0.2.0/24"])
    assert _client("198.51.100.7", "10.1.2.3") == "198.51.100.7"


def test_a_trusted_proxy_forwards_the_right_most_untrusted_address(
    farm_config,
) -> None:
    farm_config(trusted_proxies=["198.51.100.0/24", "192.0.2.1/32"])
    assert _client("198.51.100.7", "10.9.9.9, 203.0.113.9, 192.0.2.1") == (
        "203.0.113.9"
    )


def test_forwarded_addresses_may_carry_ports_and_brackets(farm_config) -> None:
    farm_config(trusted_proxies=["198.51.100.0/24"])
    assert _client("198.51.100.7", "[2001:db8::5]:4711") == "2001:db8::5"
    assert _client("198.51.100.7", "10.1.2.3:4711") == "10.1.2.3"


@pytest.mark.parametrize(
    "forwarded", [None, "", "198.51.100.8", "10.1.2.3, garbage", "10.1.2.3,,"]
)
def test_a_trusted_proxy_without_a_usable_header_means_no_client(
    farm_config, forwarded
) -> None:
    farm_config(trusted_proxies=["198.51.100.0/24"])
    assert _client("198.51.100.7", forwarded) is None


def test_an_ipv4_peer_on_a_dual_stack_socket_is_its_ipv4_address(
    farm_config,
) -> None:
    farm_config(trusted_proxies=[])
    assert _client("::ffff:10.20.30.40") == "10.20.30.40"
    assert is_agent_address("::ffff:10.20.30.40")


def test_misconfigured_networks_name_their_key(farm_config) -> None:
    farm_config(trusted_proxies=["10.0.0.0/33"])
    with pytest.raises(ImproperlyConfigured, match="trusted_proxies"):
        _client("10.1.2.3")


def _from_agent_network(remote: str, forwarded: str | None = None) -> bool:
    extra = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    request = RequestFactory().get("/", REMOTE_ADDR=remote, **extra)
    return is_from_agent_network(request)


def test_the_agent_networks_answer_follows_the_configuration(farm_config) -> None:
    farm_config(agent_networks=["10.20.0.0/16"], trusted_proxies=[])
    assert _from_agent_network("10.20.30.40")
    farm_config(agent_networks=["192.0.2.0/24"])
    assert not _from_agent_network("10.20.30.40")
    farm_config(agent_networks=["192.0.2.0/24"], trusted_proxies=["10.20.30.40/32"])
    assert _from_agent_network("10.20.30.40", "192.0.2.7")
    assert not _from_agent_network("10.20.30.40", "198.51.100.7")
    farm_config(trusted_proxies=[])
    assert not _from_agent_network("10.20.30.40", "192.0.2.7")
