"""Client address: TCP peer unless it is a trusted proxy; X-Forwarded-For right to left."""

from __future__ import annotations

import ipaddress

import pytest

from sercen.clientip import in_networks, resolve_client_ip
from sercen.settings import parse_network

PROXIES = [parse_network("127.0.0.1"), parse_network("10.0.0.0/8"), parse_network("::1")]


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(("peer", "xff", "expected"), [
    # untrusted peer: header ignored whatever it says
    ("198.51.100.7", ["172.25.1.9"], "198.51.100.7"),
    ("198.51.100.7", [], "198.51.100.7"),
    # trusted proxy: the rightmost address that is not a proxy
    ("127.0.0.1", ["172.25.1.9"], "172.25.1.9"),
    ("127.0.0.1", ["172.25.1.9, 10.1.2.3"], "172.25.1.9"),
    ("127.0.0.1", ["172.25.1.9", "10.1.2.3"], "172.25.1.9"),
    # a client forging a trusted address to the left is not believed
    ("127.0.0.1", ["172.25.1.9, 203.0.113.5"], "203.0.113.5"),
    ("127.0.0.1", ["172.25.1.9, 203.0.113.5, 10.9.9.9"], "203.0.113.5"),
    # no header: the proxy itself
    ("127.0.0.1", [], "127.0.0.1"),
    # garbage stops the walk at the last genuine address
    ("127.0.0.1", ["172.25.1.9, garbage"], "127.0.0.1"),
    ("127.0.0.1", ["garbage, 10.1.1.1"], "10.1.1.1"),
    # every hop a proxy: the leftmost
    ("127.0.0.1", ["10.0.0.1, 10.0.0.2"], "10.0.0.1"),
    # ports, IPv6 and IPv4-mapped forms
    ("127.0.0.1", ["203.0.113.5:4711"], "203.0.113.5"),
    ("::1", ["[2001:db8::5]:443"], "2001:db8::5"),
    ("::ffff:127.0.0.1", ["2001:db8::7"], "2001:db8::7"),
    ("::ffff:198.51.100.7", ["172.25.1.9"], "198.51.100.7"),
])
def test_resolve(peer: str, xff: list[str], expected: str) -> None:
    assert resolve_client_ip(peer, xff, PROXIES) == ip(expected)


def test_no_trusted_proxies_means_peer() -> None:
    assert resolve_client_ip("127.0.0.1", ["172.25.1.9"], []) == ip("127.0.0.1")


def test_unparsable_peer() -> None:
    assert resolve_client_ip(None, ["172.25.1.9"], PROXIES) is None
    assert resolve_client_ip("unix-socket", [], PROXIES) is None


def test_in_networks_mixed_versions() -> None:
    nets = [parse_network("172.25.0.0/255.255.0.0"), parse_network("2001:db8::/32")]
    assert in_networks(ip("172.25.1.9"), nets)
    assert in_networks(ip("2001:db8::1"), nets)
    assert not in_networks(ip("172.26.0.1"), nets)
    assert not in_networks(ip("::1"), nets)
