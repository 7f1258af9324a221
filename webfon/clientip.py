"""Who the client is: the TCP peer, or what a *configured* proxy says in ``X-Forwarded-For``.

Every hop of a deployment (nginx, the web front, sercen) resolves the client the same way and
tells the next hop only its result, so each hop needs to trust just the one in front of it:

* the peer is not a trusted proxy → the peer is the client. If its request carries forwarding
  headers (``X-Forwarded-For``, ``Forwarded``, ``X-Real-IP``, ``Via``, …) it came through a proxy
  nobody configured: the peer is then that proxy, the real client is unknown, and the address
  is marked *unverified*;
* the peer is a trusted proxy → ``X-Forwarded-For`` is read right to left, skipping hops that
  are themselves trusted proxies; the first other address is the client. A trusted proxy that
  names no client, names it with something that is not an address, or marks it unverified
  (``X-Webfon-Client: unverified``, how the front passes on the case above) gives an
  unverified address.

Only a verified address may open a door (a trusted network skipping the second factor); an
unverified one is still used for logs and brute-force counting. ``trusted_proxies`` entries are
networks (``10.0.0.0/8``, ``127.0.0.1``) or ``unix``: peers on a Unix socket, which only
processes of the service's own user can reach.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

UNIX = "unix"
"""``trusted_proxies`` entry for peers on a Unix socket."""

CLIENT_HEADER = "X-Webfon-Client"
UNVERIFIED = "unverified"

FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Forwarded-Host",
                      "X-Forwarded-Proto", "X-Forwarded-Port", "Via", "X-Client-IP",
                      "True-Client-IP", "CF-Connecting-IP", "X-Cluster-Client-IP",
                      CLIENT_HEADER)


@dataclass(frozen=True)
class TrustedProxies:
    """The peers whose forwarding headers are believed."""

    networks: tuple[IPNetwork, ...] = ()
    unix: bool = False

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TrustedProxies:
        """From ``["10.0.0.0/8", "127.0.0.1", "unix"]``; ValueError names a bad entry."""
        networks: list[IPNetwork] = []
        unix = False
        for entry in entries:
            text = entry.strip()
            if not text:
                continue
            if text.lower() == UNIX:
                unix = True
                continue
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise ValueError(f"not a network or 'unix': {text!r}") from None
        return cls(tuple(networks), unix)

    def __contains__(self, address: object) -> bool:
        return isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address) and \
            in_networks(address, self.networks)

    def trusts(self, peer: str | None) -> bool:
        """Whether a peer (an address, "" for a Unix socket, None if unknown) is one."""
        if peer is None:
            return False
        return self.unix if peer == "" else parse_address(peer) in self

    def __bool__(self) -> bool:
        return bool(self.networks) or self.unix


@dataclass(frozen=True)
class ClientAddress:
    """The client's address and whether it is known to be the real client's."""

    ip: IPAddress | None
    verified: bool

    def __str__(self) -> str:
        return str(self.ip) if self.ip is not None else "-"

    def in_networks(self, networks: Iterable[IPNetwork]) -> bool:
        """True only for a verified address inside ``networks``."""
        return self.verified and self.ip is not None and in_networks(self.ip, networks)


def parse_address(text: str) -> IPAddress | None:
    """An address from ``1.2.3.4``, ``1.2.3.4:80``, ``[v6]:443``, ``v6%zone``; None if not."""
    text = text.strip().strip('"')
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


def resolve(peer: str | None, headers: Mapping[str, str] | None, forwarded_for: Sequence[str],
            proxies: TrustedProxies) -> ClientAddress:
    """The client of a request from ``peer`` ("" for a Unix-socket peer, None if unknown) with
    these headers and ``X-Forwarded-For`` values (in order)."""
    headers = headers or {}
    if peer is None:
        return ClientAddress(None, False)
    unix_peer = peer == ""
    current = None if unix_peer else parse_address(peer)
    if not unix_peer and current is None:
        return ClientAddress(None, False)
    if not proxies.trusts(peer):
        proxied = any(name in headers for name in FORWARDING_HEADERS)
        return ClientAddress(current, not proxied)
    hops = [h for value in forwarded_for for h in value.split(",") if h.strip()]
    if not hops:
        return ClientAddress(current, False)            # a proxy that names no client
    verified = headers.get(CLIENT_HEADER, "").strip().lower() != UNVERIFIED
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return ClientAddress(current, False)
        current = address
        if current not in proxies:
            return ClientAddress(current, verified)
    return ClientAddress(current, verified)


def peer_address(request: web.Request) -> str | None:
    """The TCP peer's address; "" for a Unix-socket peer; None when unknown."""
    transport = request.transport
    if transport is None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is not None and getattr(sock, "family", None) == socket.AF_UNIX:
        return ""
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple | list) and peer:
        return str(peer[0])
    return None


_WARNED: dict[str, float] = {}
WARN_EVERY_S = 60.0


def note_unverified(logger: logging.Logger, address: ClientAddress, path: str = "") -> None:
    """Log (at most once a minute per address) that requests arrive through a proxy that is
    not a trusted one: its clients share one address and none counts as a trusted network."""
    key = str(address)
    now = time.monotonic()
    if now - _WARNED.get(key, -WARN_EVERY_S) < WARN_EVERY_S:
        return
    if len(_WARNED) > 1024:
        _WARNED.clear()
    _WARNED[key] = now
    logger.warning("request forwarded by a proxy that is not in trusted_proxies: its clients "
                   "share this address and none is on a trusted network",
                   extra={"proxy": key, "path": path[:200]})


def client_address(request: web.Request, proxies: TrustedProxies) -> ClientAddress:
    return resolve(peer_address(request), request.headers,
                   request.headers.getall("X-Forwarded-For", []), proxies)
