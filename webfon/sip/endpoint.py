"""The SIP endpoint: transports bound to host:port, transaction matching and dispatch.

``SipEndpoint`` owns the transports, parses what arrives (a malformed request with a usable
Via is answered 400 naming the problem, e.g. ``400 Missing Call-ID``; anything else malformed,
a malformed ACK or response included, is dropped and counted in :attr:`stats`),
applies RFC 3581 ``received``/``rport`` to the top Via, matches requests and responses to
transactions, answers CANCEL, and hands new requests to the transaction user (TU)::

    async def handler(request: Request, tx: ServerTransaction | None) -> None: ...

``tx`` is None only for an ACK to a 2xx (ACKs for non-2xx are absorbed by their INVITE
transaction). The handler may be a plain function or a coroutine function.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import inspect
import ipaddress
import logging
import socket
import types
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from .errors import ParseError, TransportError
from .headers import Address, CSeq, Via, canonical_name, split_list
from .ids import MAGIC_COOKIE, new_branch, new_call_id, new_tag
from .message import MAX_MESSAGE_SIZE, Request, Response, parse_message
from .tls import TlsConfig
from .transaction import (
    ClientTransaction,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
    Timers,
    Transaction,
    via_sent_by,
)
from .transport import TRANSPORTS, TlsTransport, Transport
from .uri import SipURI

log = logging.getLogger("webfon.sip")

RequestHandler = Callable[[Request, ServerTransaction | None], Awaitable[None] | None]
DEFAULT_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO",
                             "NOTIFY", "REFER", "SUBSCRIBE", "MESSAGE", "UPDATE", "PRACK",
                             "PUBLISH"})


@dataclass
class Destination:
    """Where to send a message: transport name, peer address, optional open connection."""

    transport: str
    host: str
    port: int
    connection: Any = None
    server_name: str | None = None
    """TLS: the name the peer's certificate must bear (SNI), when not its address."""

    @property
    def addr(self) -> tuple[str, int]:
        return self.host, self.port


def is_ip(host: str) -> bool:
    """True if ``host`` is an IPv4 or IPv6 address literal (answers are cached: every
    message sent asks about the same few peers)."""
    known = _IS_IP.get(host)
    if known is None:
        try:
            ipaddress.ip_address(host)
            known = True
        except ValueError:
            known = False
        if len(_IS_IP) >= _IS_IP_MAX:  # bounded: hosts come from the network
            _IS_IP.clear()
        _IS_IP[host] = known
    return known


_IS_IP: dict[str, bool] = {}
_IS_IP_MAX = 4096


def make_501(request: Request, tx: ServerTransaction | None = None,
             allowed: Iterable[str] = DEFAULT_METHODS) -> Response:
    """A 501 Not Implemented for an unknown method, with an Allow header."""
    if tx is not None:
        return tx.create_response(501, headers=[("Allow", ", ".join(sorted(allowed)))])
    return request.create_response(501, to_tag=new_tag(),
                                   headers=[("Allow", ", ".join(sorted(allowed)))])


class SipEndpoint:
    """Transports + transaction layer. Create, set :attr:`handler`, ``await start()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 transports: Iterable[str] = ("udp",), timers: Timers | None = None,
                 public_host: str | None = None, handler: RequestHandler | None = None,
                 user_agent: str | None = "webfon", server_header: str | None = "webfon",
                 max_message_size: int = MAX_MESSAGE_SIZE,
                 allowed_methods: Iterable[str] | None = DEFAULT_METHODS,
                 auto_trying: bool = True, trying_delay: float = 0.0,
                 check_max_forwards: bool = True, eager_handlers: bool = False,
                 tls: TlsConfig | None = None, tls_port: int = 0) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.tls_port = tls_port
        self.ports: dict[str, int] = {}
        """The port of each transport (UDP and TCP share ``port``)."""
        self.tls_names: dict[tuple[str, int], str] = {}
        self.public_host = public_host
        self.timers = timers or Timers()
        self.handler = handler
        self.user_agent = user_agent
        self.server_header = server_header
        self.max_message_size = max_message_size
        self.allowed_methods = frozenset(allowed_methods) if allowed_methods else None
        self.auto_trying = auto_trying
        self.trying_delay = trying_delay
        """With ``auto_trying``: seconds an INVITE may wait for the TU's first response before
        the transaction sends 100 Trying (RFC 3261 §17.2.1's 200 ms rule); 0 sends it at
        once. A TU that answers sooner (a challenge, a relayed 180) saves the datagram."""
        self.check_max_forwards = check_max_forwards
        self.eager_handlers = eager_handlers
        """Run a coroutine handler at once, in the receive callback, up to its first real
        wait; a task is made only if it has to wait (a challenge, an ACK or a BYE usually
        does not). Off: every coroutine handler gets its own task, as with
        ``asyncio.ensure_future``. Either way the handler runs in a copy of the context and
        :meth:`handler_tasks` lists the ones still waiting; only ``asyncio.current_task()``
        differs (None before the first wait when eager)."""
        self.on_stray_response: Callable[[Response], None] | None = None
        """Called with responses that match no client transaction (e.g. late 2xx)."""
        self.accept_source: Callable[[tuple[str, int]], bool] | None = None
        """Asked with the source address of every message before it is parsed; False drops
        the message unanswered (counted as ``rate_limited``): per-source flood control."""
        self.stats: Counter[str] = Counter()
        """Counters: received, sent, parse_errors, bad_requests, dropped, stray_responses,
        retransmissions, retransmissions_received, transport_errors, handler_errors…"""
        self._transport_names = [t.lower() for t in transports]
        self.transports: dict[str, Transport] = {}
        self._clients: dict[tuple[Any, ...], ClientTransaction] = {}
        self._servers: dict[tuple[Any, ...], ServerTransaction] = {}
        self._acks: dict[tuple[str, int], InviteServerTransaction] = {}
        self._merge: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self._handlers: dict[asyncio.Future[Any], Request] = {}
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Bind UDP and TCP on the same port (a free one when ``port`` is 0), TLS on
        ``tls_port``."""
        for name in self._transport_names:
            if name not in TRANSPORTS:
                raise ValueError(f"unknown transport {name!r}")
        shared = [n for n in self._transport_names if n != "tls"]
        for attempt in range(20):
            port = self.port
            started: list[Transport] = []
            try:
                for name in shared:
                    t = TRANSPORTS[name](self._receive, max_message_size=self.max_message_size)
                    await t.start(self.host, port)
                    started.append(t)
                    port = t.local_address[1]
            except OSError as exc:
                for t in started:
                    await t.close()
                if self.port == 0 and exc.errno == errno.EADDRINUSE and attempt < 19:
                    continue
                raise
            self.transports = {t.name: t for t in started}
            self.port = port
            break
        self.ports = {name: self.port for name in self.transports}
        if "tls" in self._transport_names:
            tls = self.tls or TlsConfig()
            t = TlsTransport(self._receive, max_message_size=self.max_message_size,
                             server_ssl=tls.server_context(), client_ssl=tls.client_context())
            try:
                await t.start(self.host, self.tls_port)
            except OSError:
                for other in self.transports.values():
                    await other.close()
                raise
            self.transports["tls"] = t
            self.ports["tls"] = self.tls_port = t.local_address[1]
            if not shared:
                self.port = self.tls_port
        log.info("sip endpoint listening", extra={"address": f"{self.host}:{self.port}",
                                                  "transports": ",".join(self.transports),
                                                  "tls_port": self.ports.get("tls")})

    async def close(self) -> None:
        """Stop every transaction, handler task and transport."""
        self._closed = True
        for tx in [*self._clients.values(), *self._servers.values()]:
            tx._terminate()
        for task in list(self._tasks):
            task.cancel()
        for t in self.transports.values():
            await t.close()

    async def __aenter__(self) -> SipEndpoint:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ addressing
    def is_reliable(self, transport: str) -> bool:
        t = self.transports.get(transport)
        return bool(t and t.reliable)

    @property
    def advertised_host(self) -> str:
        """Host put in Via and Contact: ``public_host`` or the bound address."""
        host = self.public_host or self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"[{host}]" if ":" in host and not host.startswith("[") else host

    def address(self, transport: str = "udp") -> tuple[str, int]:
        """``(host, port)`` a transport is bound to."""
        return self.transports[transport].local_address

    def port_of(self, transport: str = "udp") -> int:
        """The port ``transport`` listens on (``port`` for UDP and TCP)."""
        return self.ports.get(transport, self.port)

    def contact_uri(self, user: str | None = None, transport: str = "udp") -> SipURI:
        """A Contact URI reaching this endpoint."""
        params: dict[str, str | None] = {}
        if transport != "udp":
            params["transport"] = transport
        return SipURI("sip", user, self.advertised_host, self.port_of(transport), params)

    def new_via(self, transport: str = "udp", branch: str | None = None) -> Via:
        params: dict[str, str | None] = {"branch": branch or new_branch()}
        if transport == "udp":
            params["rport"] = None
        return Via(transport.upper(), self.advertised_host, self.port_of(transport), params)

    def destination_for(self, request: Request) -> Destination:
        """Next hop of a request: the top Route if it is a loose router, else the Request-URI;
        honouring maddr and the transport parameter."""
        routes = request.headers.values("Route")
        target = request.uri
        if routes:
            first = Address.parse(routes[0]).uri
            if first.lr:  # strict routers get the request via the Request-URI (§8.1.2)
                target = first
        if target.scheme == "tel":
            raise TransportError("cannot route a tel: URI without a Route")
        host, port = target.host_port
        maddr = target.params.get("maddr")
        if maddr:
            host = maddr
        transport = target.transport
        if transport not in self.transports:
            raise TransportError(f"transport {transport} not enabled")
        server_name = None
        if transport == "tls":
            server_name = host if not is_ip(host) else self.tls_names.get((host, port))
        return Destination(transport, host, port, server_name=server_name)

    def response_destination(self, request: Request) -> Destination:
        """Where a response to ``request`` goes (RFC 3261 §18.2.2, RFC 3581 §4)."""
        via = request.via
        transport = request.transport or via.transport.lower()
        if request.connection is not None and getattr(request.connection, "is_open", False):
            assert request.source is not None
            return Destination(transport, request.source[0], request.source[1],
                               request.connection)
        host, port = via.sent_by
        maddr = via.params.get("maddr")
        if maddr and is_ip(maddr):
            host = maddr
        elif via.received:
            host = via.received
            if via.rport:
                port = via.rport
        return Destination(transport, host, port)

    # ------------------------------------------------------------------ building
    def create_request(self, method: str, uri: SipURI | str, *, from_: Address | str,
                       to: Address | str, call_id: str | None = None, cseq: int = 1,
                       contact: Address | SipURI | str | None = None,
                       headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
                       content_type: str | None = None) -> Request:
        """An out-of-dialog request. A From without tag gets one. No Via: the endpoint adds
        it when sending."""
        req = Request(method, uri)
        from_addr = Address.parse(from_) if isinstance(from_, str) else from_.copy()
        if not from_addr.tag:
            from_addr.tag = new_tag()
        to_addr = Address.parse(to) if isinstance(to, str) else to
        req.headers.add("Max-Forwards", "70")
        req.headers.add("From", str(from_addr))
        req.headers.add("To", str(to_addr))
        req.headers.add("Call-ID", call_id or new_call_id(self.advertised_host))
        req.headers.add("CSeq", f"{cseq} {req.method}")
        if contact is not None:
            if isinstance(contact, SipURI):
                contact = Address(contact)
            req.headers.add("Contact", str(contact))
        for name, value in headers:
            req.headers.add(name, value)
        if body:
            req.set_body(body, content_type)
        return req

    # ------------------------------------------------------------------ sending
    def send_request(self, request: Request, dest: Destination | None = None, *,
                     branch: str | None = None,
                     on_response: Callable[[Response], None] | None = None
                     ) -> ClientTransaction:
        """Start a client transaction for ``request`` (adds the top Via; ACK not allowed).

        Returns at once; ``await tx.wait()`` gives the final response.
        """
        if request.method == "ACK":
            raise ValueError("ACK is not sent in a transaction: use send_stateless")
        dest = dest or self.destination_for(request)
        branch = branch or new_branch()
        self._prepare(request, dest, branch)
        cls = InviteClientTransaction if request.method == "INVITE" \
            else NonInviteClientTransaction
        tx = cls(self, request, dest, branch, on_response)
        self._clients[tx.key] = tx
        data = request.encode()
        self._debug("send", request, dest)
        if is_ip(dest.host):
            tx.start(data)
        else:
            self._spawn(self._resolve_then(tx, data))
        return tx

    async def request(self, request: Request, dest: Destination | None = None, *,
                      on_response: Callable[[Response], None] | None = None) -> Response:
        """Send ``request`` in a transaction and return its final response."""
        return await self.send_request(request, dest, on_response=on_response).wait()

    def send_cancel(self, tx: ClientTransaction) -> ClientTransaction:
        """CANCEL a pending INVITE client transaction (same branch and destination)."""
        cancel = tx.create_cancel()
        cancel.headers.remove("Via")
        return self.send_request(cancel, Destination(tx.dest.transport, tx.dest.host,
                                                     tx.dest.port, tx.dest.connection),
                                 branch=tx.branch)

    def send_stateless(self, request: Request, dest: Destination | None = None) -> None:
        """Send a request outside any transaction (ACK for 2xx), adding a fresh top Via."""
        dest = dest or self.destination_for(request)
        self._prepare(request, dest, new_branch())
        self._debug("send", request, dest)
        data = request.encode()
        if is_ip(dest.host):
            self._transmit(data, dest)
        else:
            self._spawn(self._resolve_stateless(data, dest))

    def send_response(self, response: Response, request: Request) -> None:
        """Send a response statelessly to where ``request`` came from (§18.2.2)."""
        dest = self.response_destination(request)
        self._debug("send", response, dest)
        try:
            self._transmit(response.encode(), dest)
        except TransportError as exc:
            log.info("cannot send response: %s", exc, extra={"call_id": response.call_id})

    def _prepare(self, request: Request, dest: Destination, branch: str) -> None:
        request.headers.add("Via", str(self.new_via(dest.transport, branch)), first=True)
        if "Max-Forwards" not in request.headers:
            request.headers.add("Max-Forwards", "70")
        if self.user_agent and "User-Agent" not in request.headers:
            request.headers.add("User-Agent", self.user_agent)

    async def _resolve(self, dest: Destination) -> None:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(dest.host, dest.port, type=socket.SOCK_DGRAM)
        if not infos:
            raise TransportError(f"cannot resolve {dest.host}")
        dest.host = str(infos[0][4][0])

    async def _resolve_then(self, tx: ClientTransaction, data: bytes) -> None:
        try:
            await self._resolve(tx.dest)
        except (OSError, TransportError) as exc:
            log.info("cannot resolve %s: %s", tx.dest.host, exc, extra={"call_id": tx.call_id})
            tx._transport_error()
            return
        tx.start(data)

    async def _resolve_stateless(self, data: bytes, dest: Destination) -> None:
        try:
            await self._resolve(dest)
            self._transmit(data, dest)
        except (OSError, TransportError) as exc:
            log.info("cannot send: %s", exc)

    def _transmit(self, data: bytes, dest: Destination, owner: Transaction | None = None
                  ) -> None:
        transport = self.transports.get(dest.transport)
        if transport is None:
            raise TransportError(f"transport {dest.transport} not enabled")
        if not is_ip(dest.host):
            raise TransportError(f"unresolved host {dest.host[:64]}")
        self.stats["sent"] += 1
        if not transport.reliable:
            transport.send(data, dest.addr)
            return
        try:
            transport.send(data, dest.addr, dest.connection)
        except TransportError:
            self._spawn(self._send_stream(transport, data, dest, owner))

    async def _send_stream(self, transport: Transport, data: bytes, dest: Destination,
                           owner: Transaction | None) -> None:
        try:
            dest.connection = await transport.send_async(data, dest.addr, dest.connection,
                                                         dest.server_name)
        except TransportError as exc:
            self.stats["transport_errors"] += 1
            log.info("stream send failed: %s", exc)
            if owner is not None:
                owner._transport_error()
            else:
                for tx in list(self._clients.values()):
                    if tx.dest is dest:
                        tx._transport_error()

    # ------------------------------------------------------------------ receiving
    def _receive(self, data: bytes, source: tuple[str, int], transport: Transport,
                 connection: Any) -> None:
        self.stats["received"] += 1
        accept = self.accept_source
        if accept is not None and not accept(source):
            self.stats["rate_limited"] += 1
            return
        try:
            msg = parse_message(data, max_size=self.max_message_size,
                                stream=transport.reliable)
            msg.source = source
            msg.transport = transport.name
            msg.connection = connection
            if isinstance(msg, Request):
                msg.validate()
            else:
                msg._top_via()  # a response must at least have a Via and a CSeq
                msg.cseq  # noqa: B018
        except ParseError as exc:
            self._bad_message(data, source, transport, connection, exc)
            return
        try:
            if isinstance(msg, Request):
                self._receive_request(msg)
            else:
                self._receive_response(msg)
        except ParseError as exc:
            self._bad_message(data, source, transport, connection, exc)
        except Exception:
            self.stats["internal_errors"] += 1
            log.exception("error processing message",
                          extra={"peer": f"{source[0]}:{source[1]}"})

    def _bad_message(self, data: bytes, source: tuple[str, int], transport: Transport,
                     connection: Any, exc: ParseError) -> None:
        self.stats["parse_errors"] += 1
        response = _salvage_error_response(data, exc)
        peer = f"{source[0]}:{source[1]}"
        if response is None:
            self.stats["dropped"] += 1
            log.info("malformed message dropped", extra={"peer": peer, "reason": exc.reason})
            return
        self.stats["bad_requests"] += 1
        log.info("malformed request rejected",
                 extra={"peer": peer, "reason": response.reason, "status": response.status,
                        "call_id": response.headers.get("Call-ID")})
        request_like = Request("OPTIONS", SipURI(host="invalid"))
        request_like.headers.add("Via", response.headers.values("Via")[0])
        request_like.source = source
        request_like.transport = transport.name
        request_like.connection = connection
        try:
            response.via = _apply_received(request_like, source)
            self.send_response(response, request_like)
        except (ParseError, TransportError):
            self.stats["dropped"] += 1

    def _receive_response(self, response: Response) -> None:
        self._debug("recv", response, None)
        key = (response._top_via().branch, response.cseq.method)
        tx = self._clients.get(key)
        if tx is None:
            self.stats["stray_responses"] += 1
            if self.on_stray_response is not None:
                self.on_stray_response(response)
            return
        tx.receive(response)

    def _receive_request(self, request: Request) -> None:
        self._debug("recv", request, None)
        assert request.source is not None
        top = _apply_received(request, request.source)
        if request.connection is not None:
            transport = self.transports.get(request.transport or "")
            note = getattr(transport, "note_alias", None)
            if note is not None:
                sent_by = top.sent_by
                if is_ip(sent_by[0]):
                    note(request.connection, (sent_by[0], sent_by[1]))
        method = request.method
        key = self._server_key(request, top)
        tx = self._servers.get(key)
        if tx is not None:
            tx.receive(request)
            return
        if method == "ACK":
            pending = self._acks.get((request.call_id, request.cseq.seq))
            if pending is not None:
                pending._ack_received(request)
            self._dispatch(request, None)
            return
        dest = self.response_destination(request)
        if method == "CANCEL":
            ctx = NonInviteServerTransaction(self, request, dest, key)
            self._servers[key] = ctx
            invite = self._servers.get((*key[:-1], "INVITE"))
            if not isinstance(invite, InviteServerTransaction):
                ctx.respond(481)
                return
            ctx.local_tag = invite.local_tag
            ctx.respond(200)
            invite._cancel(request)
            return
        cls = InviteServerTransaction if method == "INVITE" else NonInviteServerTransaction
        tx = cls(self, request, dest, key)
        self._servers[key] = tx
        # loop detection: one of our own pending branches in the Via list
        for via_value in request.headers.values("Via")[1:]:
            branch = Via.parse(via_value).branch
            if branch and (branch, method) in self._clients:
                tx.respond(482)
                return
        if not request.to_tag:
            merge_key = (request.call_id, request.from_tag, request.cseq.seq, method)
            other = self._merge.get(merge_key)
            if other is not None and other != key and other in self._servers:
                tx.respond(482, "Loop Detected")
                return
            self._merge[merge_key] = key
            tx.add_done_callback(lambda _t: self._merge.pop(merge_key, None))
        if self.check_max_forwards:
            mf = request.max_forwards
            if mf is not None and mf <= 0:
                tx.respond(483)
                return
        if self.allowed_methods is not None and method not in self.allowed_methods:
            tx.respond(make_501(request, tx, self.allowed_methods))
            return
        if self.handler is None:
            tx.respond(501 if method != "INVITE" else 480)
            return
        if method == "INVITE" and self.auto_trying:
            if self.trying_delay > 0 and isinstance(tx, InviteServerTransaction):
                tx._start_timer("trying", self.trying_delay, tx._timer_trying)
            else:
                tx.respond(100)
        if tx.terminated:  # the response could not be sent: nobody to talk to
            return
        self._dispatch(request, tx)

    def _server_key(self, request: Request, top: Via) -> tuple[Any, ...]:
        method = "INVITE" if request.method == "ACK" else request.method
        branch = top.branch
        if branch and branch.startswith(MAGIC_COOKIE):
            return (branch, *via_sent_by(top), method)
        # RFC 2543 peers: match on the request identity
        return ("2543", request.call_id, request.from_tag, request.cseq.seq,
                *via_sent_by(top), method)

    def _dispatch(self, request: Request, tx: ServerTransaction | None) -> None:
        handler = self.handler
        if handler is None:
            return
        try:
            result = handler(request, tx)
        except Exception:
            self._handler_failed(request, tx)
            return
        if result is None:
            return
        if self.eager_handlers and isinstance(result, types.CoroutineType):
            try:
                task = start_eagerly(result)
            except Exception:
                self._handler_failed(request, tx)
                return
            if task is None:
                return
        elif inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
        else:
            return
        self._tasks.add(task)
        self._handlers[task] = request
        task.add_done_callback(lambda t: self._handler_done(t, request, tx))

    def handler_tasks(self, method: str | None = None) -> list[asyncio.Future[Any]]:
        """Tasks of request handlers still running (for ``method`` only, when given)."""
        return [t for t, r in self._handlers.items() if method is None or r.method == method]

    def _handler_done(self, task: asyncio.Future[Any], request: Request,
                      tx: ServerTransaction | None) -> None:
        self._tasks.discard(task)
        self._handlers.pop(task, None)
        if task.cancelled():
            return
        if task.exception() is not None:
            try:
                raise task.exception()  # type: ignore[misc]
            except Exception:
                self._handler_failed(request, tx)

    def _handler_failed(self, request: Request, tx: ServerTransaction | None) -> None:
        self.stats["handler_errors"] += 1
        log.exception("request handler failed", extra={"call_id": request.call_id,
                                                       "method": request.method})
        if tx is not None and not tx.final_sent and not tx.terminated:
            try:
                tx.respond(500)
            except Exception:
                log.debug("cannot send 500")

    # ------------------------------------------------------------------ bookkeeping
    def _forget(self, tx: Transaction) -> None:
        if isinstance(tx, ClientTransaction):
            if self._clients.get(tx.key) is tx:
                del self._clients[tx.key]
        elif isinstance(tx, ServerTransaction) and self._servers.get(tx.key) is tx:
            del self._servers[tx.key]

    def _expect_ack(self, tx: InviteServerTransaction) -> None:
        self._acks[(tx.call_id, tx.request.cseq.seq)] = tx

    def _ack_done(self, tx: InviteServerTransaction) -> None:
        key = (tx.call_id, tx.request.cseq.seq)
        if self._acks.get(key) is tx:
            del self._acks[key]

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _debug(self, what: str, msg: Request | Response, dest: Destination | None) -> None:
        if log.isEnabledFor(logging.DEBUG):
            first = msg.first_line()
            peer = f"{dest.host}:{dest.port}" if dest else \
                (f"{msg.source[0]}:{msg.source[1]}" if msg.source else "")
            log.debug("%s %s", what, first,
                      extra={"call_id": msg.headers.get("Call-ID"), "peer": peer})

    @property
    def transaction_count(self) -> int:
        """Live client + server transactions (for metrics and leak checks)."""
        return len(self._clients) + len(self._servers)


def start_eagerly(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
    """Run ``coro`` now, in a copy of the current context, up to its first real wait.

    Returns None when it finished without waiting (its result is dropped), else a task that
    goes on from where it stopped, in the same context. An exception raised before the
    first wait propagates to the caller.
    """
    context = contextvars.copy_context()
    try:
        yielded = context.run(coro.send, None)
    except StopIteration:
        return None
    except BaseException:
        coro.close()
        raise
    return asyncio.get_running_loop().create_task(
        _Resumed(coro, yielded), context=context)  # type: ignore[arg-type]


class _Resumed:
    """The rest of a coroutine that already ran outside any task up to yielding ``yielded``
    (a future, or None for a bare ``yield``), as a coroutine a task can drive."""

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self._coro = coro
        self._first: tuple[Any] | None = (yielded,)

    def send(self, value: Any) -> Any:
        first = self._first
        if first is not None:  # the task's first step: hand it what the coroutine waits on
            self._first = None
            return first[0]
        return self._coro.send(value)

    def throw(self, exc: BaseException) -> Any:  # e.g. cancelled, even before a first step
        self._first = None
        return self._coro.throw(exc)

    def close(self) -> None:
        self._first = None
        self._coro.close()

    def __await__(self) -> _Resumed:
        return self

    def __iter__(self) -> _Resumed:
        return self

    def __next__(self) -> Any:
        return self.send(None)


def _apply_received(request: Request, source: tuple[str, int]) -> Via:
    """Add ``received`` (RFC 3261 §18.2.1) and fill ``rport`` (RFC 3581) on the top Via.

    Returns the top Via (the message's cached value when nothing changed: read it only).
    """
    top = request._top_via()
    host = top.host[1:-1] if top.host.startswith("[") else top.host
    wants_rport = top.wants_rport
    received = source[0] if (host != source[0] or wants_rport) \
        and top.params.get("received") != source[0] else None
    rport = str(source[1]) if wants_rport and top.params.get("rport") != str(source[1]) \
        else None
    if received is None and rport is None:
        return top
    top = top.copy()
    if received is not None:
        top.params["received"] = received
    if rport is not None:
        top.params["rport"] = rport
    request.via = top
    return top


def _salvage_error_response(data: bytes, exc: ParseError) -> Response | None:
    """Build an error response for a malformed request when it can be routed back.

    Needs a request line whose method is not ACK (an ACK is never answered) and a parsable
    top Via; otherwise None (a response, or a request nobody can be told about). From, To,
    Call-ID and CSeq are copied when present and well-formed. When one of them is missing
    the reason phrase names it (``400 Missing Call-ID``); otherwise the status and reason
    come from ``exc``.
    """
    try:
        text = data[:65536].decode("utf-8", errors="replace")
        head = text.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
        lines = head.replace("\r\n", "\n").split("\n")
        request_line = lines[0].split(" ")
        if lines[0].startswith("SIP/") or len(request_line) != 3 \
                or request_line[0].upper() == "ACK":
            return None
        found: dict[str, str] = {}
        vias: list[str] = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                continue
            cname = canonical_name(name.strip())
            value = value.strip()
            if cname == "Via":
                vias.append(value)
            elif cname in _ECHOED and cname not in found:
                found[cname] = value
        if not vias or any(_has_control(v) for v in vias):
            return None
        via_items = split_list(vias[0])
        top = Via.parse(via_items[0])
        other_vias = [*via_items[1:], *vias[1:]]
    except (ParseError, ValueError):
        return None
    cseq: CSeq | None = None
    echoed: dict[str, str] = {}
    for name, value in found.items():
        if _has_control(value) or not value:
            continue
        try:
            if name == "CSeq":
                cseq = CSeq.parse(value)
            elif name in ("From", "To"):
                Address.parse(value)
            elif len(value.split()) != 1:  # Call-ID
                continue
        except (ParseError, ValueError):
            continue
        echoed[name] = value
    if cseq is not None and cseq.method.upper() == "ACK":
        return None
    missing = [name for name in _ECHOED if name not in found]
    if missing:
        response = Response(400, "Missing " + ", ".join(missing))
    else:
        response = Response(exc.status if exc.status >= 400 else 400, None)
        if exc.status == 400:
            reason = exc.reason[:100]
            response.reason = reason[:1].upper() + reason[1:]
    response.headers.add("Via", str(top))
    for value in other_vias:
        response.headers.add("Via", value)
    for name in _ECHOED:
        value = echoed.get(name)
        if value is None:
            continue
        if name == "To":
            to = Address.parse(value)
            if not to.tag:
                to.tag = new_tag()
                value = str(to)
        response.headers.add(name, value)
    return response


_ECHOED = ("From", "To", "Call-ID", "CSeq")
"""Headers a response copies from its request besides Via (RFC 3261 §8.2.6.2)."""


def _has_control(value: str) -> bool:
    """True if ``value`` holds a control character (TAB excepted) or a replaced byte."""
    return any((ord(c) < 32 and c != "\t") or c in "\x7f\ufffd" for c in value)
