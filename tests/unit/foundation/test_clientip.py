"""Client address: the TCP peer unless it is a configured proxy; X-Forwarded-For right to left;
an address behind a proxy nobody configured is unverified (never a trusted network)."""

from __future__ import annotations

import ipaddress

import pytest

from webfon.clientip import ClientAddress, TrustedProxies, in_networks, parse_address, resolve

PROXIES = TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8", "::1"])
XFF = "X-Forwarded-For"


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def run(peer: str | None, xff: list[str], proxies: TrustedProxies = PROXIES,
        **headers: str) -> ClientAddress:
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    if xff:
        hdrs[XFF] = ", ".join(xff)
    return resolve(peer, hdrs, xff, proxies)


@pytest.mark.parametrize(("peer", "xff", "expected"), [
    # trusted proxy: the rightmost address that is not a proxy
    ("127.0.0.1", ["172.25.1.9"], "172.25.1.9"),
    ("127.0.0.1", ["172.25.1.9, 10.1.2.3"], "172.25.1.9"),
    ("127.0.0.1", ["172.25.1.9", "10.1.2.3"], "172.25.1.9"),
    # a client forging a trusted address to the left is not believed
    ("127.0.0.1", ["172.25.1.9, 203.0.113.5"], "203.0.113.5"),
    ("127.0.0.1", ["172.25.1.9, 203.0.113.5, 10.9.9.9"], "203.0.113.5"),
    # every hop a proxy: the leftmost
    ("127.0.0.1", ["10.0.0.1, 10.0.0.2"], "10.0.0.1"),
    # ports, IPv6 and IPv4-mapped forms
    ("127.0.0.1", ["203.0.113.5:4711"], "203.0.113.5"),
    ("::1", ["[2001:db8::5]:443"], "2001:db8::5"),
    ("::ffff:127.0.0.1", ["2001:db8::7"], "2001:db8::7"),
])
def test_trusted_proxy_names_the_client(peer: str, xff: list[str], expected: str) -> None:
    assert run(peer, xff) == ClientAddress(ip(expected), True)


def test_direct_client_is_the_peer() -> None:
    assert run("198.51.100.7", []) == ClientAddress(ip("198.51.100.7"), True)
    assert run("::ffff:198.51.100.7", []) == ClientAddress(ip("198.51.100.7"), True)


@pytest.mark.parametrize("headers", [{"xff": ["172.25.1.9"]}, {"X_Real_IP": "172.25.1.9"},
                                     {"Forwarded": "for=172.25.1.9"}, {"Via": "1.1 edge"},
                                     {"X_Forwarded_Proto": "https"}])
def test_untrusted_proxy_is_the_peer_but_unverified(headers: dict) -> None:
    """A request forwarded by a peer nobody configured: its header is ignored and the peer,
    which is a proxy, is not taken for the client."""
    xff = headers.pop("xff", [])
    assert run("127.0.0.1", xff, TrustedProxies(), **headers) == \
        ClientAddress(ip("127.0.0.1"), False)


def test_trusted_proxy_without_a_client_or_with_garbage_is_unverified() -> None:
    assert run("127.0.0.1", []) == ClientAddress(ip("127.0.0.1"), False)
    assert run("127.0.0.1", ["172.25.1.9, garbage"]) == ClientAddress(ip("127.0.0.1"), False)
    assert run("127.0.0.1", ["garbage, 10.1.1.1"]) == ClientAddress(ip("10.1.1.1"), False)
    assert run("127.0.0.1", ["unknown"]) == ClientAddress(ip("127.0.0.1"), False)


def test_unverified_mark_from_a_trusted_front() -> None:
    assert run("127.0.0.1", ["127.0.0.1"], X_Webfon_Client="unverified") == \
        ClientAddress(ip("127.0.0.1"), False)
    # from anyone else the mark is just another forwarding header
    assert run("198.51.100.7", [], X_Webfon_Client="verified").verified is False


def test_unix_socket_peer() -> None:
    unix = TrustedProxies.parse(["unix"])
    assert run("", ["203.0.113.5"], unix) == ClientAddress(ip("203.0.113.5"), True)
    assert run("", ["127.0.0.1"], unix) == ClientAddress(ip("127.0.0.1"), True)
    assert run("", ["203.0.113.5"], PROXIES) == ClientAddress(None, False)
    assert run(None, ["203.0.113.5"], unix) == ClientAddress(None, False)


def test_only_verified_addresses_are_in_trusted_networks() -> None:
    nets = [ipaddress.ip_network("127.0.0.0/8")]
    assert ClientAddress(ip("127.0.0.1"), True).in_networks(nets)
    assert not ClientAddress(ip("127.0.0.1"), False).in_networks(nets)
    assert not ClientAddress(None, True).in_networks(nets)


def test_parsing() -> None:
    assert parse_address("unix-socket") is None
    assert parse_address('"[2001:db8::1]:80"') == ip("2001:db8::1")
    with pytest.raises(ValueError, match="not a network"):
        TrustedProxies.parse(["10.0.0.0/8", "nginx"])
    nets = [ipaddress.ip_network("172.25.0.0/16"), ipaddress.ip_network("2001:db8::/32")]
    assert in_networks(ip("172.25.1.9"), nets) and in_networks(ip("2001:db8::1"), nets)
    assert not in_networks(ip("172.26.0.1"), nets)
