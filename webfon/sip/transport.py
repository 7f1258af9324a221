"""Network transports for SIP: UDP datagrams, TCP and TLS streams behind one small interface.

A transport delivers every complete message it reads to a ``receiver`` callback as
``receiver(data, source, transport, connection)``; framing of streams (Content-Length) is done
here, parsing is the endpoint's job. :class:`TlsTransport` is :class:`TcpTransport` with SSL
contexts (:mod:`webfon.sip.tls`): the framing and connection handling are the same.

Stream connections are reused (RFC 5923's idea, without its ``alias`` parameter): a
connection that a peer opened also carries what we send to the address that peer gives in its
Via (its listening port), when that address is the connection's own host. So a phone that
registered over TLS gets its calls over its own connection, needing no certificate to accept
one from us.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from .errors import ParseError, TransportError
from .message import MAX_MESSAGE_SIZE

log = logging.getLogger("webfon.sip.transport")

Address = tuple[str, int]
Receiver = Callable[[bytes, Address, "Transport", Any], None]


class Transport(ABC):
    """What the endpoint needs from a transport."""

    name: str = ""
    """Lowercase transport name: ``udp``, ``tcp``, ``tls``."""
    reliable: bool = False
    """True for stream transports (no retransmissions needed)."""

    def __init__(self, receiver: Receiver, *, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self.receiver = receiver
        self.max_message_size = max_message_size
        self.local_address: Address = ("0.0.0.0", 0)
        self.errors = 0  # framing errors / dropped streams

    @abstractmethod
    async def start(self, host: str, port: int) -> None:
        """Bind/listen on ``host:port`` (0 = any free port); fills :attr:`local_address`."""

    @abstractmethod
    def send(self, data: bytes, addr: Address, connection: Any = None) -> None:
        """Send ``data`` to ``addr`` (over ``connection`` when given and still open).

        Never blocks; raises :class:`TransportError` when sending is impossible right away.
        Stream transports open a connection in the background when needed (see :meth:`send_async`).
        """

    async def send_async(self, data: bytes, addr: Address, connection: Any = None,
                         server_name: str | None = None) -> Any:
        """Send, opening a connection first if needed (TLS: to a server that must bear
        ``server_name``, else its address); return the connection used."""
        self.send(data, addr, connection)
        return None

    @abstractmethod
    async def close(self) -> None:
        """Stop listening and close every connection."""


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        owner = self.owner
        if owner.taps:
            tap = owner.taps.get((addr[0], addr[1]))
            if tap is not None:
                tap(data)
                return
        if len(data) > owner.max_message_size:
            owner.errors += 1
            log.warning("oversized datagram dropped", extra={"peer": f"{addr[0]}:{addr[1]}",
                                                             "size": len(data)})
            return
        if data.strip(b"\r\n") == b"":
            return  # keep-alive
        owner.receiver(data, (addr[0], addr[1]), owner, None)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp error: %s", exc)


class UdpTransport(Transport):
    """SIP over UDP (RFC 3261 §18)."""

    name = "udp"
    reliable = False

    def __init__(self, receiver: Receiver, *, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        super().__init__(receiver, max_message_size=max_message_size)
        self._transport: asyncio.DatagramTransport | None = None
        self.taps: dict[Address, Callable[[bytes], None]] = {}
        """Datagrams from these addresses go to their callback, not parsed as SIP (a local
        probe measuring how long datagrams wait in the receive queue)."""

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(host, port), family=family)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        addr = transport.get_extra_info("sockname")
        self.local_address = (addr[0], addr[1])

    def send(self, data: bytes, addr: Address, connection: Any = None) -> None:
        if self._transport is None or self._transport.is_closing():
            raise TransportError("UDP transport is closed")
        if len(data) > self.max_message_size:
            raise TransportError("message too large for UDP")
        self._transport.sendto(data, addr)

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


class StreamFramer:
    """Cuts a byte stream into SIP messages using Content-Length (RFC 3261 §18.3).

    :meth:`feed` returns the complete messages found; a message without Content-Length has an
    empty body. Raises :class:`ParseError` on an oversized message or a bad Content-Length,
    after which the stream cannot be resynchronized and must be closed.
    """

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self.max_message_size = max_message_size
        self.buffer = bytearray()
        self.pings = 0  # CRLFCRLF keep-alives seen (RFC 5626 §3.5.1); answer each with CRLF

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        out: list[bytes] = []
        buf = self.buffer
        while True:
            # strip keep-alive CRLFs between messages
            start = 0
            while buf[start:start + 2] == b"\r\n":
                if buf[start:start + 4] == b"\r\n\r\n":
                    self.pings += 1
                    start += 4
                else:
                    start += 2
            if start:
                del buf[:start]
            if not buf:
                break
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > self.max_message_size:
                    raise ParseError("headers too large", 513)
                break
            head = bytes(buf[:end])
            length = _content_length(head)
            total = end + 4 + length
            if total > self.max_message_size:
                raise ParseError("message too large", 513)
            if len(buf) < total:
                break
            out.append(bytes(buf[:total]))
            del buf[:total]
        return out


def _content_length(head: bytes) -> int:
    found: int | None = None
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name = name.strip().lower()
        if name in (b"content-length", b"l"):
            text = value.strip()
            if not text.isdigit() or len(text) > 9:
                raise ParseError("bad Content-Length")
            if found is not None and found != int(text):
                raise ParseError("conflicting Content-Length")
            found = int(text)
    return found or 0


class TcpConnection(asyncio.Protocol):
    """One TCP connection: framing of incoming data, writes, and its peer address."""

    def __init__(self, owner: TcpTransport) -> None:
        self.owner = owner
        self.framer = StreamFramer(owner.max_message_size)
        self.transport: asyncio.Transport | None = None
        self.peer: Address = ("", 0)
        self.alias: Address | None = None
        """The peer's listening address, also reached over this connection."""
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1])
        self.owner._register(self)

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.framer.feed(data)
        except ParseError as exc:
            self.owner.errors += 1
            log.warning("stream framing error, closing connection",
                        extra={"peer": f"{self.peer[0]}:{self.peer[1]}", "reason": exc.reason})
            self.close()
            return
        if self.framer.pings:
            self.framer.pings = 0
            self.write(b"\r\n")
        for message in messages:
            self.owner.receiver(message, self.peer, self.owner, self)

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise TransportError("connection closed")
        self.transport.write(data)

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._unregister(self)
        if not self.closed.done():
            self.closed.set_result(None)


class TcpTransport(Transport):
    """SIP over TCP: a listening socket plus a pool of connections keyed by peer address."""

    name = "tcp"
    reliable = True
    connect_timeout = 5.0

    def __init__(self, receiver: Receiver, *, max_message_size: int = MAX_MESSAGE_SIZE,
                 ssl: Any = None) -> None:
        super().__init__(receiver, max_message_size=max_message_size)
        self.ssl = ssl
        self._server: asyncio.AbstractServer | None = None
        self.connections: dict[Address, TcpConnection] = {}
        self.aliases: dict[Address, TcpConnection] = {}
        self._pending: dict[Address, asyncio.Task[TcpConnection]] = {}

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: TcpConnection(self), host, port,
                                                ssl=self._server_ssl(), reuse_address=True)
        addr = self._server.sockets[0].getsockname()
        self.local_address = (addr[0], addr[1])

    def _server_ssl(self) -> Any:
        return self.ssl

    def _client_ssl(self) -> Any:
        return self.ssl

    def _register(self, conn: TcpConnection) -> None:
        self.connections[conn.peer] = conn

    def _unregister(self, conn: TcpConnection) -> None:
        if self.connections.get(conn.peer) is conn:
            del self.connections[conn.peer]
        if conn.alias is not None and self.aliases.get(conn.alias) is conn:
            del self.aliases[conn.alias]

    def note_alias(self, connection: Any, addr: Address) -> None:
        """``addr`` (a peer's Via sent-by) is reached over ``connection`` too, when it is on
        the connection's own host (nobody can claim someone else's address this way)."""
        if not isinstance(connection, TcpConnection) or not connection.is_open \
                or addr[0] != connection.peer[0] or addr == connection.peer \
                or connection.alias == addr:
            return
        if connection.alias is not None and self.aliases.get(connection.alias) is connection:
            del self.aliases[connection.alias]
        connection.alias = addr
        self.aliases[addr] = connection

    def _open_to(self, addr: Address) -> TcpConnection | None:
        conn = self.connections.get(addr) or self.aliases.get(addr)
        return conn if conn is not None and conn.is_open else None

    def send(self, data: bytes, addr: Address, connection: Any = None) -> None:
        conn = connection if isinstance(connection, TcpConnection) and connection.is_open \
            else self._open_to(addr)
        if conn is None:
            raise TransportError(f"no open connection to {addr[0]}:{addr[1]}")
        conn.write(data)

    async def send_async(self, data: bytes, addr: Address, connection: Any = None,
                         server_name: str | None = None) -> Any:
        conn = connection if isinstance(connection, TcpConnection) and connection.is_open \
            else self._open_to(addr)
        if conn is None:
            conn = await self._connect(addr, server_name)
        conn.write(data)
        return conn

    async def _connect(self, addr: Address, server_name: str | None = None) -> TcpConnection:
        task = self._pending.get(addr)
        if task is None:
            task = asyncio.ensure_future(self._open(addr, server_name))
            self._pending[addr] = task
            task.add_done_callback(lambda _t: self._pending.pop(addr, None))
        return await asyncio.shield(task)

    async def _open(self, addr: Address, server_name: str | None = None) -> TcpConnection:
        loop = asyncio.get_running_loop()
        ctx = self._client_ssl()
        extra: dict[str, Any] = {}
        if ctx is not None:
            extra["server_hostname"] = server_name or addr[0]
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: TcpConnection(self), addr[0], addr[1],
                                       ssl=ctx, **extra),
                self.connect_timeout)
        except (TimeoutError, OSError) as exc:
            raise TransportError(f"cannot connect to {addr[0]}:{addr[1]}: {exc}") from None
        return conn

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections.values()):
            conn.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None


class TlsTransport(TcpTransport):
    """SIP over TLS (RFC 3261 §26): TCP's framing and connections with SSL contexts; the
    connections we open present the name we were given (SNI) and check the peer's
    certificate for it (unless the client context says not to)."""

    name = "tls"

    def __init__(self, receiver: Receiver, *, max_message_size: int = MAX_MESSAGE_SIZE,
                 server_ssl: Any = None, client_ssl: Any = None) -> None:
        super().__init__(receiver, max_message_size=max_message_size)
        self.server_ssl = server_ssl
        self.client_ssl = client_ssl

    def _server_ssl(self) -> Any:
        if self.server_ssl is None:
            raise TransportError("TLS needs a server certificate")
        return self.server_ssl

    def _client_ssl(self) -> Any:
        if self.client_ssl is None:
            raise TransportError("TLS client context missing")
        return self.client_ssl


TRANSPORTS: dict[str, type[Transport]] = {"udp": UdpTransport, "tcp": TcpTransport,
                                          "tls": TlsTransport}
