"""RFC 3261 §17 transactions (with the RFC 6026 "Accepted" states) and their timers.

Client transactions: :class:`InviteClientTransaction` (timers A, B, D; ACK for non-2xx built
here) and :class:`NonInviteClientTransaction` (E, F, K). Server transactions:
:class:`InviteServerTransaction` (G, H, I, L; optional 2xx retransmission until ACK, which
RFC 3261 leaves to the TU) and :class:`NonInviteServerTransaction` (J).

Transactions never touch sockets: they call the endpoint's ``_transmit`` and are created by
the endpoint (:meth:`SipEndpoint.send_request`, incoming requests).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import TransactionError, TransportError
from .headers import Via
from .ids import new_tag
from .message import Request, Response

if TYPE_CHECKING:
    from .endpoint import Destination, SipEndpoint

log = logging.getLogger("webfon.sip.transaction")


@dataclass
class Timers:
    """RFC 3261 timer values in seconds (T1 RTT estimate, T2 max retransmit, T4 max lifetime)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    @property
    def b(self) -> float:
        """Timer B/F/H/J/L/M: 64*T1."""
        return 64 * self.t1


class Transaction:
    """Behaviour shared by every transaction: state, timers, termination callbacks."""

    kind = "transaction"

    def __init__(self, endpoint: SipEndpoint, request: Request, dest: Destination) -> None:
        self.endpoint = endpoint
        self.request = request
        self.dest = dest
        self.state = "init"
        self.call_id = request.headers.get("Call-ID", "") or ""
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._on_terminated: list[Callable[[Transaction], None]] = []
        self.terminated = False

    @property
    def reliable(self) -> bool:
        return self.endpoint.is_reliable(self.dest.transport)

    @property
    def timers(self) -> Timers:
        return self.endpoint.timers

    def _start_timer(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._cancel_timer(name)
        loop = asyncio.get_running_loop()
        self._timers[name] = loop.call_later(delay, self._fire, name, callback)

    def _fire(self, name: str, callback: Callable[[], None]) -> None:
        self._timers.pop(name, None)
        if not self.terminated:
            try:
                callback()
            except Exception:  # a timer must never kill the loop
                log.exception("timer %s failed", name, extra={"call_id": self.call_id})

    def _cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _linger(self, *messages: Request | Response | None) -> None:
        """The transaction only waits out its timer now (up to 64*T1 on UDP): drop what was
        parsed from its messages, so thousands of lingering transactions stay small. The
        cached header values are rebuilt on access should anyone still read them."""
        self.request.headers._cache.clear()
        for msg in messages:
            if msg is not None:
                msg.headers._cache.clear()

    def add_done_callback(self, callback: Callable[[Transaction], None]) -> None:
        """Call ``callback(tx)`` when the transaction terminates."""
        self._on_terminated.append(callback)

    def _terminate(self) -> None:
        if self.terminated:
            return
        self.terminated = True
        self.state = "terminated"
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self.endpoint._forget(self)
        for cb in self._on_terminated:
            try:
                cb(self)
            except Exception:
                log.exception("transaction callback failed", extra={"call_id": self.call_id})

    def _send(self, data: bytes) -> bool:
        try:
            self.endpoint._transmit(data, self.dest)
        except TransportError as exc:
            log.info("transport error: %s", exc, extra={"call_id": self.call_id})
            self._transport_error()
            return False
        return True

    def _transport_error(self) -> None:
        self._terminate()


# ------------------------------------------------------------------------------ client side
class ClientTransaction(Transaction):
    """A request we sent. Await :meth:`wait` for the final response.

    ``on_response(response)`` is called for every response passed to the TU (provisionals,
    the final one, and for INVITE any retransmitted 2xx so the TU can re-send its ACK).
    Timeouts and transport errors produce a local 408 / 503 response (``response.local``).
    """

    kind = "client"

    def __init__(self, endpoint: SipEndpoint, request: Request, dest: Destination,
                 branch: str, on_response: Callable[[Response], None] | None = None) -> None:
        super().__init__(endpoint, request, dest)
        self.branch = branch
        self.method = request.method
        self.key = (branch, request.method)
        self.on_response = on_response
        self.final: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.provisional: list[Response] = []
        self._data = b""

    async def wait(self, timeout: float | None = None) -> Response:
        """The final response (a local 408 after timer B/F, 503 on transport failure)."""
        if timeout is None:
            return await asyncio.shield(self.final)
        return await asyncio.wait_for(asyncio.shield(self.final), timeout)

    def _deliver(self, response: Response) -> None:
        if response.is_provisional:
            self.provisional.append(response)
        elif not self.final.done():
            self.final.set_result(response)
        if self.on_response is not None:
            try:
                self.on_response(response)
            except Exception:
                log.exception("on_response failed", extra={"call_id": self.call_id})

    def _linger(self, *messages: Request | Response | None) -> None:
        """Also drop the request bytes (no longer retransmitted) and what was parsed from
        the provisional responses."""
        self._data = b""
        super()._linger(*messages, *self.provisional)

    def _local_response(self, status: int) -> Response:
        resp = self.request.create_response(status)
        resp.local = True
        return resp

    def _transport_error(self) -> None:
        if not self.final.done():
            self._deliver(self._local_response(503))
        self._terminate()

    def start(self, data: bytes) -> None:
        raise NotImplementedError

    def receive(self, response: Response) -> None:
        raise NotImplementedError

    def create_cancel(self) -> Request:
        """A CANCEL for this (INVITE) request, per RFC 3261 §9.1 (same branch, Route set)."""
        req = self.request
        cancel = Request("CANCEL", req.uri.copy())
        cancel.headers.add("Via", req.headers.values("Via")[0])
        for name in ("Route", "From", "To", "Call-ID"):
            for value in req.headers.get_all(name):
                cancel.headers.add(name, value)
        cancel.headers.add("CSeq", f"{req.cseq.seq} CANCEL")
        cancel.headers.add("Max-Forwards", "70")
        return cancel


class InviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.1 with RFC 6026's Accepted state (timer M)."""

    def start(self, data: bytes) -> None:
        self._data = data
        self.state = "calling"
        if not self._send(data):
            return
        if not self.reliable:
            self._interval = self.timers.t1
            self._start_timer("A", self._interval, self._timer_a)
        self._start_timer("B", self.timers.b, self._timer_b)

    def _timer_a(self) -> None:
        if self.state != "calling":
            return
        self.endpoint.stats["retransmissions"] += 1
        if self._send(self._data):
            self._interval *= 2
            self._start_timer("A", self._interval, self._timer_a)

    def _timer_b(self) -> None:
        if self.state == "calling":
            log.info("INVITE timed out (timer B)", extra={"call_id": self.call_id})
            self._deliver(self._local_response(408))
            self._terminate()
        elif self.state == "proceeding":
            # no final response at all: let the TU decide (it may CANCEL); we give up too
            log.info("INVITE got no final response", extra={"call_id": self.call_id})
            self._deliver(self._local_response(408))
            self._terminate()

    def receive(self, response: Response) -> None:
        status = response.status
        if self.state in ("calling", "proceeding"):
            if status < 200:
                self.state = "proceeding"
                self._cancel_timer("A")
                self._deliver(response)
            elif status < 300:
                self.state = "accepted"
                self._cancel_timer("A")
                self._cancel_timer("B")
                self._start_timer("M", self.timers.b, self._terminate)
                self._deliver(response)
                self._linger(response)
            else:
                self.state = "completed"
                self._cancel_timer("A")
                self._cancel_timer("B")
                self._ack_data = self._build_ack(response).encode()
                self._send(self._ack_data)
                self._deliver(response)
                self._start_timer("D", 0 if self.reliable else self.timers.b, self._terminate)
                self._linger(response)
        elif self.state == "accepted":
            if 200 <= status < 300:
                self._deliver(response)  # retransmitted 2xx: TU re-sends ACK
        elif self.state == "completed":
            if status >= 300:
                self.endpoint.stats["retransmissions_received"] += 1
                self._send(self._ack_data)

    def _build_ack(self, response: Response) -> Request:
        """ACK for a non-2xx final response (RFC 3261 §17.1.1.3)."""
        req = self.request
        ack = Request("ACK", req.uri.copy())
        ack.headers.add("Via", req.headers.values("Via")[0])
        for name in ("Route",):
            for value in req.headers.get_all(name):
                ack.headers.add(name, value)
        ack.headers.add("From", req.headers.get("From") or "")
        ack.headers.add("To", response.headers.get("To") or "")
        ack.headers.add("Call-ID", req.headers.get("Call-ID") or "")
        ack.headers.add("CSeq", f"{req.cseq.seq} ACK")
        ack.headers.add("Max-Forwards", "70")
        return ack


class NonInviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.2."""

    def start(self, data: bytes) -> None:
        self._data = data
        self.state = "trying"
        if not self._send(data):
            return
        if not self.reliable:
            self._interval = self.timers.t1
            self._start_timer("E", self._interval, self._timer_e)
        self._start_timer("F", self.timers.b, self._timer_f)

    def _timer_e(self) -> None:
        if self.state not in ("trying", "proceeding"):
            return
        self.endpoint.stats["retransmissions"] += 1
        if self._send(self._data):
            if self.state == "trying":
                self._interval = min(2 * self._interval, self.timers.t2)
            else:
                self._interval = self.timers.t2
            self._start_timer("E", self._interval, self._timer_e)

    def _timer_f(self) -> None:
        if self.state in ("trying", "proceeding"):
            log.info("%s timed out (timer F)", self.method, extra={"call_id": self.call_id})
            self._deliver(self._local_response(408))
            self._terminate()

    def receive(self, response: Response) -> None:
        if self.state in ("trying", "proceeding"):
            if response.status < 200:
                self.state = "proceeding"
                self._deliver(response)
            else:
                self.state = "completed"
                self._cancel_timer("E")
                self._cancel_timer("F")
                self._deliver(response)
                self._start_timer("K", 0 if self.reliable else self.timers.t4, self._terminate)


# ------------------------------------------------------------------------------ server side
class ServerTransaction(Transaction):
    """A request we received. Answer it with :meth:`respond`.

    ``local_tag`` is a To tag generated once per transaction and added to every response
    (except 100) that does not already carry one, so a UAS gets consistent tags for free.
    """

    kind = "server"

    def __init__(self, endpoint: SipEndpoint, request: Request, dest: Destination,
                 key: tuple[Any, ...]) -> None:
        super().__init__(endpoint, request, dest)
        self.key = key
        self.method = request.method
        self.local_tag = request.to_tag or new_tag()
        self.last_response: Response | None = None
        self._last_data = b""
        self.state = "trying" if request.method != "INVITE" else "proceeding"

    @property
    def final_sent(self) -> bool:
        return self.last_response is not None and self.last_response.status >= 200

    def create_response(self, status: int, reason: str | None = None, *,
                        headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
                        content_type: str | None = None) -> Response:
        """A response to the request carrying this transaction's To tag."""
        return self.request.create_response(status, reason, to_tag=self.local_tag,
                                            headers=headers, body=body,
                                            content_type=content_type)

    def respond(self, status: int | Response, reason: str | None = None, *,
                headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
                content_type: str | None = None) -> Response:
        """Send a response (a status code, or a :class:`Response` built by the TU)."""
        if isinstance(status, Response):
            response = status
        else:
            response = self.create_response(status, reason, headers=headers, body=body,
                                            content_type=content_type)
        if self.endpoint.server_header and "Server" not in response.headers \
                and response.status >= 200:
            response.headers.add("Server", self.endpoint.server_header)
        self.send(response)
        return response

    def send(self, response: Response) -> None:
        raise NotImplementedError

    def receive(self, request: Request) -> None:
        raise NotImplementedError

    def _emit(self, response: Response) -> None:
        self.last_response = response
        self._last_data = response.encode()
        self._send_response_data()

    def _send_response_data(self) -> bool:
        try:
            self.endpoint._transmit(self._last_data, self.dest)
        except TransportError as exc:
            log.info("cannot send response: %s", exc, extra={"call_id": self.call_id})
            self._terminate()
            return False
        return True


class NonInviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.2."""

    def send(self, response: Response) -> None:
        if self.state in ("completed", "terminated"):
            raise TransactionError("final response already sent")
        self._emit(response)
        if response.status < 200:
            self.state = "proceeding"
        else:
            self.state = "completed"
            self._start_timer("J", 0 if self.reliable else self.timers.b, self._terminate)
            self._linger(response)

    def receive(self, request: Request) -> None:
        if self.state in ("proceeding", "completed") and self._last_data:
            self.endpoint.stats["retransmissions_received"] += 1
            self._send_response_data()


class InviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.1 with RFC 6026's Accepted state (timer L).

    ``cancelled`` is set when a matching CANCEL arrives (the endpoint answers the CANCEL
    with 200 and, unless the TU already sent a final response, this INVITE with 487 after
    calling ``on_cancel``). A 2xx sent through :meth:`respond` is retransmitted on unreliable
    transports until the ACK arrives or 64*T1 elapses; ``ack`` resolves to the ACK (or None
    on timeout, after which the TU should send BYE).
    """

    def __init__(self, endpoint: SipEndpoint, request: Request, dest: Destination,
                 key: tuple[Any, ...]) -> None:
        super().__init__(endpoint, request, dest, key)
        self.cancelled = False
        self.on_cancel: Callable[[Request], None] | None = None
        self.on_ack_timeout: Callable[[InviteServerTransaction], None] | None = None
        self.ack: asyncio.Future[Request | None] = asyncio.get_running_loop().create_future()
        self._2xx_data = b""

    def send(self, response: Response) -> None:
        status = response.status
        if self.state != "proceeding":
            if self.state == "accepted" and 200 <= status < 300:
                # a different 2xx (e.g. a retransmission built by the TU): just send it
                self._emit(response)
                return
            raise TransactionError("final response already sent")
        self._emit(response)
        if self._timers:
            self._cancel_timer("trying")
        if status < 200:
            return
        if status < 300:
            self.state = "accepted"
            self._start_timer("L", self.timers.b, self._timer_l)
            self.endpoint._expect_ack(self)
            if not self.reliable:
                self._2xx_data = self._last_data
                self._interval = self.timers.t1
                self._start_timer("2xx", self._interval, self._retransmit_2xx)
        else:
            self.state = "completed"
            if not self.reliable:
                self._interval = self.timers.t1
                self._start_timer("G", self._interval, self._timer_g)
            self._start_timer("H", self.timers.b, self._timer_h)
            self._linger(response)

    def _timer_trying(self) -> None:
        """The TU sent nothing within the endpoint's ``trying_delay``: 100 Trying."""
        if self.state == "proceeding" and self.last_response is None:
            self.respond(100)

    def _retransmit_2xx(self) -> None:
        if self.ack.done():
            return
        self.endpoint.stats["retransmissions"] += 1
        try:
            self.endpoint._transmit(self._2xx_data, self.dest)
        except TransportError:
            return
        self._interval = min(2 * self._interval, self.timers.t2)
        self._start_timer("2xx", self._interval, self._retransmit_2xx)

    def _timer_l(self) -> None:
        self._ack_timeout()
        self._terminate()

    def _ack_timeout(self) -> None:
        if not self.ack.done():
            log.info("no ACK for 2xx", extra={"call_id": self.call_id})
            self.ack.set_result(None)
            if self.on_ack_timeout is not None:
                self.on_ack_timeout(self)

    def _ack_received(self, ack: Request) -> None:
        """Called by the endpoint when the ACK for our 2xx arrives."""
        self._cancel_timer("2xx")
        if not self.ack.done():
            self.ack.set_result(ack)
            self._2xx_data = b""
            self._linger(self.last_response)

    def _timer_g(self) -> None:
        if self.state != "completed":
            return
        self.endpoint.stats["retransmissions"] += 1
        if self._send_response_data():
            self._interval = min(2 * self._interval, self.timers.t2)
            self._start_timer("G", self._interval, self._timer_g)

    def _timer_h(self) -> None:
        if self.state == "completed":
            log.info("no ACK for final response (timer H)", extra={"call_id": self.call_id})
            self._terminate()

    def receive(self, request: Request) -> None:
        if request.method == "ACK":
            if self.state == "completed":
                self.state = "confirmed"
                self._cancel_timer("G")
                self._cancel_timer("H")
                self._start_timer("I", 0 if self.reliable else self.timers.t4, self._terminate)
            return
        # retransmitted INVITE
        if self.state in ("proceeding", "completed"):
            self.endpoint.stats["retransmissions_received"] += 1
            if self._last_data:
                self._send_response_data()
            elif self.state == "proceeding":  # the delayed 100 Trying is due now
                self.respond(100)

    def _cancel(self, cancel: Request) -> None:
        self.cancelled = True
        if self.on_cancel is not None:
            try:
                self.on_cancel(cancel)
            except Exception:
                log.exception("on_cancel failed", extra={"call_id": self.call_id})
        if self.state == "proceeding":
            self.respond(487)

    def _terminate(self) -> None:
        if not self.ack.done():
            self.ack.set_result(None)
        super()._terminate()
        self.endpoint._ack_done(self)


def via_sent_by(via: Via) -> tuple[str, int]:
    """The sent-by of a Via as a matching key component."""
    host, port = via.sent_by
    return host.lower(), port
