"""Where a user's SIP requests may go: the SIP servers of the setting ``sip_allowed_servers``.

A browser user must not turn the gateway into an open SIP client: register at a registrar of
their own, call any SIP address around the PBX (no category, no CDR), or probe hosts of the
internal network. Every request a user makes leave (REGISTER, INVITE, MESSAGE, the Refer-To
of a REFER), and the dialog of an incoming call our in-dialog requests will follow, must name
only allowed servers:

- the Request-URI's host and port, a ``maddr`` in it, the outbound proxy (the request's first
  hop), the registrar;
- entries are ``host`` (the SIP default ports, 5060 and 5061), ``host:port`` or ``host:*``
  (any port), with an optional ``sip:`` in front; a host may be a network (``10.1.2.0/24``:
  phones a proxy that does not Record-Route lets call us directly); hosts are compared as
  written (names
  case-insensitively, IP addresses in their canonical form), never resolved: a name that is not
  listed is refused whatever it resolves to, so ``localhost`` or ``pbx.attacker.example``
  pointing at an internal address cannot stand in for a listed address;
- the default is the gateway's ``sip_registrar`` and ``sip_outbound_proxy`` (the PBX);
  a webphone login (``type: "webfon"``) adds what the PBX gave that account (its registrar
  and SIP domain).

The same servers are the only ones whose requests outside a call reach an account (an INVITE,
MESSAGE, NOTIFY or OPTIONS from anywhere else gets 403, :class:`Sources`): nobody but the PBX
rings a browser with a caller name of their choosing or writes to it. A request's source is
compared by address only (a TCP connection's port is the peer's choice); a listed name is
resolved for this, as the administrator wrote it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

from webfon.sip import ParseError, SipURI

DEFAULT_PORTS = frozenset({5060, 5061})


def canonical_host(host: str) -> str:
    """Lower-case name, or an IP address in its canonical text (IPv6 without brackets)."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        return bare.lower()


@dataclass(frozen=True)
class Server:
    """One allowed SIP server: a host (or an IP network) and its ports (None: any port)."""

    host: str
    ports: frozenset[int] | None = DEFAULT_PORTS

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        return ipaddress.ip_network(self.host, strict=False) if "/" in self.host else None

    @classmethod
    def parse(cls, text: str) -> Server:
        """``host``, ``host:port``, ``host:*``, ``[v6]:port`` or a ``sip:``/``sips:`` URI."""
        value = text.strip()
        if not value:
            raise ValueError("empty SIP server")
        if value.lower().startswith(("sip:", "sips:")):
            if value.endswith(":*"):
                return cls(cls.parse(value[:-2]).host, None)
            try:
                uri = SipURI.parse(value)
            except (ParseError, ValueError):
                raise ValueError(f"not a SIP server: {text!r}") from None
            host, port = uri.host_port
            return cls(canonical_host(host), frozenset({port}) if uri.port else DEFAULT_PORTS)
        host, port_text = value, ""
        if value.startswith("["):
            end = value.find("]")
            if end < 0:
                raise ValueError(f"not a SIP server: {text!r}")
            host, rest = value[:end + 1], value[end + 1:]
            if rest and not rest.startswith(":"):
                raise ValueError(f"not a SIP server: {text!r}")
            port_text = rest[1:]
        elif value.count(":") == 1:
            host, port_text = value.split(":")
        elif ":" in value:  # a bare IPv6 address
            host = value
        if not host or any(c in host for c in "@;? ") or host.startswith(":"):
            raise ValueError(f"not a SIP server: {text!r}")
        if "/" in host:
            try:
                host = str(ipaddress.ip_network(host.strip("[]"), strict=False))
            except ValueError:
                raise ValueError(f"not a network: {text!r}") from None
        if port_text == "*":
            return cls(canonical_host(host), None)
        if port_text:
            if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
                raise ValueError(f"bad port in SIP server {text!r}")
            return cls(canonical_host(host), frozenset({int(port_text)}))
        return cls(canonical_host(host), DEFAULT_PORTS)

    @classmethod
    def of_uri(cls, uri: SipURI) -> Server:
        """The server a URI names, exactly (its host and its port)."""
        host, port = uri.host_port
        return cls(canonical_host(host), frozenset({port}))

    def allows(self, host: str, port: int) -> bool:
        if self.ports is not None and port not in self.ports:
            return False
        network = self.network
        if network is None:
            return host == self.host
        try:
            return ipaddress.ip_address(host) in network
        except ValueError:  # a name: never taken for an address of the network
            return False

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.ports is None:
            return f"{host}:*"
        if self.ports == DEFAULT_PORTS:
            return host
        return ",".join(f"{host}:{p}" for p in sorted(self.ports))


class DestinationRefused(Exception):
    """A request would go to (or name) a host that is not an allowed SIP server."""

    def __init__(self, what: str, where: str) -> None:
        super().__init__(f"{what} not allowed ({where}): this gateway only reaches its "
                         "SIP servers")
        self.what = what
        self.where = where


@dataclass(frozen=True)
class Destinations:
    """The allowed SIP servers (the setting's, plus an account's own)."""

    servers: tuple[Server, ...] = ()

    @classmethod
    def from_settings(cls, allowed: Iterable[str], registrar: str = "",
                      outbound_proxy: str = "") -> Destinations:
        """``sip_allowed_servers``; when empty, the registrar and outbound proxy settings."""
        entries = [e for e in allowed if e.strip()]
        if not entries:
            entries = [e for e in (registrar, outbound_proxy) if e.strip()]
        return cls(tuple(Server.parse(e) for e in entries))

    def plus(self, *servers: Server) -> Destinations:
        return Destinations(self.servers + tuple(s for s in servers if s not in self.servers))

    def allows(self, host: str, port: int) -> bool:
        host = canonical_host(host)
        return any(server.allows(host, port) for server in self.servers)

    def check(self, uri: SipURI, what: str) -> None:
        """Raise :class:`DestinationRefused` unless ``uri`` names an allowed server (its host
        and port, and a ``maddr`` in it) and carries no headers (a Route or Replaces smuggled
        in a URI)."""
        host, port = uri.host_port
        where = f"{host}:{port}"
        if uri.headers:
            raise DestinationRefused(what, f"{where} with headers")
        if not self.allows(host, port):
            raise DestinationRefused(what, where)
        maddr = uri.params.get("maddr")
        if maddr is not None and not self.allows(maddr, port):
            raise DestinationRefused(what, f"maddr {maddr}:{port}")

    def describe(self) -> list[str]:
        return [str(s) for s in self.servers]


class Sources:
    """Whether a request comes from one of the allowed SIP servers: a listed address, an
    address of a listed network, or one a listed name resolves to (cached ``ttl_s``)."""

    MAX_NAMES = 256

    def __init__(self, ttl_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self._resolved: dict[str, tuple[float, frozenset[str]]] = {}

    async def allows(self, servers: Destinations, source_ip: str) -> bool:
        ip = canonical_host(source_ip)
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        names: list[str] = []
        for server in servers.servers:
            network = server.network
            if network is not None:
                if address in network:
                    return True
            elif server.host == ip:
                return True
            elif not _is_address(server.host):
                names.append(server.host)
        for name in names:
            if ip in await self._resolve(name):
                return True
        return False

    async def _resolve(self, name: str) -> frozenset[str]:
        now = time.monotonic()
        cached = self._resolved.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(name, None,
                                                                 type=socket.SOCK_DGRAM)
            addresses = frozenset(canonical_host(str(info[4][0])) for info in infos)
        except (OSError, UnicodeError):
            addresses = frozenset()
        if len(self._resolved) >= self.MAX_NAMES:
            self._resolved.clear()
        self._resolved[name] = (now + self.ttl_s, addresses)
        return addresses


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
