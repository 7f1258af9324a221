"""The client's IP address: the TCP peer, or ``X-Forwarded-For`` when the peer is a trusted proxy.

``X-Forwarded-For`` is read right to left: each hop that is itself a trusted proxy is skipped,
and the first address that is not becomes the client. A header sent by a peer that is not a
trusted proxy is ignored entirely, so it cannot be used to pose as a trusted network. An entry
that is not an IP address stops the walk at the last address known to be genuine.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from aiohttp import web

from sercen.settings import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:          # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1 and "." in text:        # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(address: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def resolve_client_ip(peer: str | None, forwarded_for: Sequence[str],
                      trusted_proxies: Sequence[IPNetwork]) -> IPAddress | None:
    """Client address from the peer and every ``X-Forwarded-For`` header value, in order."""
    current = _parse(peer or "")
    if current is None:
        return None
    if not in_networks(current, trusted_proxies):
        return current
    hops = [h for value in forwarded_for for h in value.split(",") if h.strip()]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            return current
        current = address
        if not in_networks(current, trusted_proxies):
            return current
    return current


def peer_address(request: web.Request) -> str | None:
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, tuple | list) and peer:
        return str(peer[0])
    return request.remote


def client_ip(request: web.Request, trusted_proxies: Sequence[IPNetwork]) -> IPAddress | None:
    return resolve_client_ip(peer_address(request),
                             request.headers.getall("X-Forwarded-For", []), trusted_proxies)
