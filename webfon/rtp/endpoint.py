"""Asyncio RTP endpoint (one UDP socket, optional RTCP socket on port + 1) and port allocation.

:class:`RtpEndpoint` is the building block of media relays and test peers: it receives
datagrams, keeps :class:`~webfon.rtp.stats.ReceiverStats` for the current remote SSRC (from a
sample of the packets), latches the remote address (symmetric RTP) when none was given — or,
given a :class:`~webfon.rtp.strict.StrictSource` (what a relay must use), accepts media only
from the negotiated source and follows it when it moves, and once strict RTP has locked onto
it connects its socket to it (the kernel then refuses everyone else, and neither reads nor
writes carry an address) — and sends payloads with its own
sequence/timestamp/SSRC, raw datagrams (for relays that rewrite headers in place), paced tone
streams and RFC 4733 digits. :class:`RtpRecorder` collects what arrives for later analysis.

:meth:`RtpEndpoint.enable_srtp` makes one endpoint speak SRTP/SRTCP (SDES keys,
:mod:`webfon.rtp.srtp`): that endpoint's receive and send methods are replaced by ones that
unprotect and protect around the plain ones, so a plain endpoint's path stays exactly as it
is. What the endpoint's user sees (``on_rtp``, ``on_rtcp``, recorders) is always plain.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import errno
import os
import random
import socket
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from webfon.rtp import g711
from webfon.rtp.dtmf import DtmfEvent, DtmfReceiver, DtmfSender
from webfon.rtp.packet import RtpError, RtpPacket, build_header
from webfon.rtp.rtcp import RtcpError, SenderReport, compound_report, parse_rtcp
from webfon.rtp.srtp import SrtpContext
from webfon.rtp.stats import ReceiverStats
from webfon.rtp.strict import Admit, StrictSource

Addr = tuple[str, int]
RtpCallback = Callable[["RtpEndpoint", bytes, Addr], Any]
RtcpCallback = Callable[["RtpEndpoint", bytes, Addr], Any]

_FIXED = struct.Struct("!BBHII")
MAX_DATAGRAM = 4096
"""Longest datagram read (RTP packets stay under the path MTU; more is cut)."""
SAMPLE_EVERY = 8
"""Receiver statistics take one packet in this many (a power of two), see
:attr:`RtpEndpoint.stats`."""
_SAMPLE_MASK = SAMPLE_EVERY - 1

_LIBC = ctypes.CDLL(None, use_errno=True)
_UNSPEC = (ctypes.c_char * 28)()
"""A socket address of family AF_UNSPEC (all zero), which Python's ``connect`` cannot name."""


def _dissolve(sock: socket.socket) -> None:
    """Undo ``connect()`` on a UDP socket: it receives from anyone again."""
    if _LIBC.connect(sock.fileno(), _UNSPEC, len(_UNSPEC)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class PortRangeExhausted(OSError):
    """No free port (pair) is left in the configured range."""


class RtpPortAllocator:
    """Hands out even RTP ports (and the odd RTCP port above) from ``[start, end]``.

    A port is only handed out once it is actually bound, so ports used by other processes are
    skipped; ports are returned with :meth:`release` (done by :meth:`RtpEndpoint.close`).

    With ``pool_size`` > 0, :meth:`RtpEndpoint.close` keeps up to that many bound socket
    pairs (with their asyncio transports) open instead of closing them, and
    :meth:`RtpEndpoint.open` takes the oldest one back once it has been idle for
    ``reuse_after`` seconds, so a busy relay does not bind and register four sockets per
    call. Datagrams reaching a kept pair are dropped; the idle time keeps late packets of
    the previous call (which could mislead symmetric latching) out of the next one.
    """

    def __init__(self, start: int, end: int, *, pool_size: int = 0,
                 reuse_after: float = 2.0) -> None:
        if start < 1 or end > 65535 or start > end:
            raise ValueError(f"invalid RTP port range {start}-{end}")
        self.start = start + (start & 1)
        self.end = end
        if self.start + 1 > self.end:
            raise ValueError(f"RTP port range {start}-{end} holds no even/odd pair")
        self._next = self.start
        self._in_use: set[int] = set()
        self.pool_size = pool_size
        self.reuse_after = reuse_after
        self._pool: dict[tuple[str, bool], collections.deque[_Kept]] = {}
        self._pooled = 0
        self.reused = 0
        """Endpoints opened on a kept socket pair instead of newly bound sockets."""

    @property
    def pooled(self) -> int:
        """Socket pairs kept open for reuse."""
        return self._pooled

    def _take(self, host: str, rtcp: bool, *, force: bool = False) -> _Kept | None:
        """The oldest kept pair for ``host``/``rtcp`` idle long enough (any idle time with
        ``force``, when the range has no other free port), if any."""
        kept = self._pool.get((host, rtcp))
        if not kept or (not force and time.monotonic() - kept[0].since < self.reuse_after):
            return None
        entry = kept.popleft()
        self._pooled -= 1
        self.reused += 1
        return entry

    def _keep(self, entry: _Kept) -> bool:
        """Keep a released pair for reuse; False when the pool is full (close it then)."""
        if self._pooled >= self.pool_size:
            return False
        self._pool.setdefault((entry.host, entry.rtcp is not None), collections.deque()) \
            .append(entry)
        self._pooled += 1
        return True

    def close_pool(self) -> None:
        """Close every kept pair and return its port."""
        for kept in self._pool.values():
            for entry in kept:
                entry.close()
                self.release(entry.port)
        self._pool.clear()
        self._pooled = 0

    @property
    def capacity(self) -> int:
        return (self.end - self.start + 1) // 2

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def bind(self, host: str, rtcp: bool = True) -> tuple[socket.socket, socket.socket | None]:
        """Bind a UDP socket on the next free even port (and port + 1 when ``rtcp``)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(self.capacity):
            port = self._next
            self._next += 2
            if self._next + 1 > self.end:
                self._next = self.start
            if port in self._in_use:
                continue
            rtp_sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                rtp_sock.bind((host, port))
            except OSError as exc:
                rtp_sock.close()
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                raise
            rtcp_sock = None
            if rtcp:
                rtcp_sock = socket.socket(family, socket.SOCK_DGRAM)
                try:
                    rtcp_sock.bind((host, port + 1))
                except OSError as exc:
                    rtp_sock.close()
                    rtcp_sock.close()
                    if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                        continue
                    raise
            self._in_use.add(port)
            return rtp_sock, rtcp_sock
        raise PortRangeExhausted(errno.EADDRINUSE,
                                 f"no free RTP port in {self.start}-{self.end}")

    def release(self, port: int) -> None:
        self._in_use.discard(port)


class _Socket:
    """One of an endpoint's UDP sockets, read by the event loop's readiness callback.

    The socket is read directly, one datagram per readiness callback (the loop calls again
    while more are queued), and written directly: no datagram transport and protocol between
    the socket and the endpoint. Per packet that saves the protocol dispatch, a second read
    returning ``EAGAIN`` (a transport reads until the socket is empty) and the transport's
    conversion of the destination address.

    Once strict RTP has locked a call's media onto its source, the socket is connected to
    it (:meth:`connect`): the kernel then delivers nothing from anyone else, and reads and
    writes name no address — the text form of the source address, built for every datagram
    read from an unconnected socket, was the largest single cost of relaying a packet.
    """

    __slots__ = ("connectable", "loop", "owner", "peer", "rtcp", "sock")

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop,
                 owner: RtpEndpoint | None, rtcp: bool, *, connectable: bool) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.loop = loop
        self.owner = owner  # None while the socket is kept in an allocator's pool
        self.rtcp = rtcp
        self.connectable = connectable
        """Bound to a port it asked for: one the kernel chose (port 0) would be given up
        when the socket is disconnected again."""
        self.peer: Addr | None = None  # the address the socket is connected to
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        peer = self.peer
        try:
            if peer is None:
                data, addr = self.sock.recvfrom(MAX_DATAGRAM)
            else:
                data = self.sock.recv(MAX_DATAGRAM)
                addr = peer
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # an ICMP error queued on the socket (a peer's port is closed)
            self._rearm()
            if self.owner is not None:
                self.owner.errors += 1
            return
        owner = self.owner
        if owner is None:
            return
        if self.rtcp:
            owner._on_rtcp(data, addr)
        else:
            owner._on_datagram(data, addr)

    def _rearm(self) -> None:
        """Watch the socket again after it reported an error. uvloop (libuv's poll handle)
        stops watching a descriptor that signalled an error, once its callback has run:
        without this a connected socket told of one refused datagram — the peer's port closed
        at a call's end, while the socket waits in the pool — would never be read again."""
        fd = self.sock.fileno()
        if fd != -1:
            self.loop.remove_reader(fd)
            self.loop.add_reader(fd, self._readable)

    def sendto(self, data: bytes | bytearray | memoryview, addr: Addr) -> bool:
        """Send one datagram; False when it could not be (a full buffer drops it, as UDP
        does; an ICMP error from an earlier one is reported here)."""
        try:
            if addr is self.peer:
                self.sock.send(data)
            else:
                self.sock.sendto(data, addr)
        except OSError:
            if self.owner is not None:
                self.owner.errors += 1
            return False
        return True

    def connect(self, addr: Addr) -> bool:
        """Take datagrams from ``addr`` only, and send to it without naming it; False when
        the socket cannot be."""
        if not self.connectable:
            return False
        try:
            self.sock.connect(addr)
        except OSError:
            return False
        self.peer = addr
        return True

    def disconnect(self) -> bool:
        """Take datagrams from anyone again; False if the socket could not be (it must not
        be reused then)."""
        if self.peer is None:
            return True
        self.peer = None
        try:
            _dissolve(self.sock)
        except OSError:
            return False
        return True

    @property
    def closed(self) -> bool:
        return self.sock.fileno() == -1

    def close(self) -> None:
        if self.sock.fileno() != -1:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()


class _Kept:
    """A bound RTP (and RTCP) socket pair, kept for reuse (its reads dropped meanwhile)."""

    __slots__ = ("host", "local", "rtcp", "rtp", "since")

    def __init__(self, host: str, local: Addr, rtp: _Socket, rtcp: _Socket | None) -> None:
        self.host = host
        self.local = local
        self.rtp = rtp
        self.rtcp = rtcp
        self.since = time.monotonic()

    @property
    def port(self) -> int:
        return self.local[1]

    def close(self) -> None:
        self.rtp.close()
        if self.rtcp is not None:
            self.rtcp.close()


class RtpEndpoint:
    """One RTP session leg. Create with :meth:`open`; close with :meth:`close`."""

    def __init__(self, *, clock_rate: int = 8000, on_rtp: RtpCallback | None = None,
                 on_rtcp: RtcpCallback | None = None, remote: Addr | None = None,
                 rtcp_remote: Addr | None = None, latch: bool = True,
                 track_stats: bool = True, ssrc: int | None = None,
                 strict: StrictSource | None = None) -> None:
        self.clock_rate = clock_rate
        self.on_rtp = on_rtp
        self.on_rtcp = on_rtcp
        self.remote_addr: Addr | None = remote
        self.rtcp_remote_addr: Addr | None = rtcp_remote
        self.latch = latch
        self.rtcp_delta = 1
        """RTCP's port relative to RTP's at the remote (1, or 0 for RTCP on the RTP port)."""
        self.strict = strict
        if strict is not None and remote is not None:
            strict.expect(remote)
        self.track_stats = track_stats
        self._stats: ReceiverStats | None = None
        self._sampled_at = 0  # packets_received when the statistics last took a packet
        self._last: bytes | None = None  # the last packet received, if they did not take it
        self.ssrc = random.getrandbits(32) if ssrc is None else ssrc
        self.seq = random.getrandbits(16)
        self.timestamp = random.getrandbits(32)
        self.packets_received = 0
        self.rtcp_received = 0
        self.invalid_received = 0
        self.packets_sent = 0
        self.bytes_sent = 0
        self.own_sent = 0
        """Packets sent with this endpoint's own SSRC (:meth:`send`), not relayed ones."""
        self.errors = 0
        self.srtp: SrtpContext | None = None
        self.srtp_failed = 0
        """SRTP/SRTCP packets that failed authentication (or replays), dropped."""
        self.last_sender_report: SenderReport | None = None
        self.local_addr: Addr = ("", 0)
        self._rtp_socket: _Socket | None = None
        self._rtcp_socket: _Socket | None = None
        self._settle_timer: asyncio.TimerHandle | None = None
        self._host = ""
        self._allocator: RtpPortAllocator | None = None
        self._closed = False

    # --- lifecycle -----------------------------------------------------------------------

    @classmethod
    async def open(cls, host: str = "127.0.0.1", port: int = 0, *,
                   allocator: RtpPortAllocator | None = None, rtcp: bool = False,
                   **kwargs: Any) -> RtpEndpoint:
        """Bind on ``host``: an allocator's next free port, else ``port`` (0 = any)."""
        self = cls(**kwargs)
        self._host = host
        if allocator is not None and allocator.pool_size:
            kept = allocator._take(host, rtcp)
            if kept is not None:
                self._adopt(kept, allocator)
                return self
        loop = asyncio.get_running_loop()
        rtcp_sock: socket.socket | None = None
        if allocator is not None:
            try:
                rtp_sock, rtcp_sock = allocator.bind(host, rtcp)
            except PortRangeExhausted:
                kept = allocator._take(host, rtcp, force=True)
                if kept is None:
                    raise
                self._adopt(kept, allocator)
                return self
            self._allocator = allocator
        else:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            rtp_sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                rtp_sock.bind((host, port))
                if rtcp:
                    rtcp_sock = socket.socket(family, socket.SOCK_DGRAM)
                    rtcp_sock.bind((host, rtp_sock.getsockname()[1] + 1))
            except OSError:
                rtp_sock.close()
                if rtcp_sock is not None:
                    rtcp_sock.close()
                raise
        chosen = allocator is not None or port != 0
        self._rtp_socket = _Socket(rtp_sock, loop, self, False, connectable=chosen)
        if rtcp_sock is not None:
            self._rtcp_socket = _Socket(rtcp_sock, loop, self, True, connectable=chosen)
        name = rtp_sock.getsockname()
        self.local_addr = (name[0], name[1])
        if self.remote_addr is not None and self.rtcp_remote_addr is None and rtcp:
            self.rtcp_remote_addr = (self.remote_addr[0], self.remote_addr[1] + 1)
        return self

    def _adopt(self, kept: _Kept, allocator: RtpPortAllocator) -> None:
        """Take over a socket pair kept by ``allocator``."""
        self._allocator = allocator
        self._rtp_socket = kept.rtp
        self._rtcp_socket = kept.rtcp
        kept.rtp.owner = self
        if kept.rtcp is not None:
            kept.rtcp.owner = self
        self.local_addr = kept.local
        if self.remote_addr is not None and self.rtcp_remote_addr is None and kept.rtcp:
            self.rtcp_remote_addr = (self.remote_addr[0], self.remote_addr[1] + 1)

    @property
    def port(self) -> int:
        return self.local_addr[1]

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._settle_timer is not None:
            self._settle_timer.cancel()
            self._settle_timer = None
        if self._keep():
            return
        for sock in (self._rtp_socket, self._rtcp_socket):
            if sock is not None:
                sock.close()
        self._let_go_of_sockets()
        if self._allocator is not None:
            self._allocator.release(self.local_addr[1])

    def _keep(self) -> bool:
        """Hand the sockets back to the allocator's pool (True) if it takes them."""
        allocator, rtp, rtcp = self._allocator, self._rtp_socket, self._rtcp_socket
        if allocator is None or not allocator.pool_size or rtp is None or rtp.closed \
                or (rtcp is not None and rtcp.closed) or not rtp.disconnect():
            return False
        if not allocator._keep(_Kept(self._host, self.local_addr, rtp, rtcp)):
            return False
        self._let_go_of_sockets()
        return True

    def _let_go_of_sockets(self) -> None:
        """The sockets no longer deliver to this endpoint, nor it to them: kept ones wait
        for their next owner, and the endpoint is freed by reference counting."""
        for sock in (self._rtp_socket, self._rtcp_socket):
            if sock is not None:
                sock.owner = None
        self._rtp_socket = self._rtcp_socket = None

    async def __aenter__(self) -> RtpEndpoint:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    # --- receive path (hot) ----------------------------------------------------------------

    def expect_remote(self, addr: Addr, rtcp_port: int | None = None) -> None:
        """Signalling named the remote media address (and its RTCP port, when not the one
        above RTP): send there, and (strict) learn it. The same address again (a re-INVITE)
        changes nothing: a NAT'd source stays; so does the source's own address."""
        self.rtcp_delta = rtcp_port - addr[1] if rtcp_port else 1
        if self.strict is not None and (addr[0], addr[1]) == self.strict.expected:
            return
        self.remote_addr = addr
        if self._rtcp_socket is not None:
            self.rtcp_remote_addr = (addr[0], addr[1] + self.rtcp_delta)
        strict = self.strict
        if strict is not None:
            strict.expect(addr)
            if strict.source is None:
                self._unsettle()
            elif self._rtp_socket is not None and self._rtp_socket.peer is not None:
                self.remote_addr = self._rtp_socket.peer  # (still connected to it)

    def _on_datagram(self, data: bytes, addr: Addr) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            self.invalid_received += 1
            return
        if 192 <= data[1] <= 223:  # RTCP multiplexed on the RTP port (RFC 5761)
            self._on_rtcp(data, addr)
            return
        strict = self.strict
        if strict is not None and addr != strict.source:
            if strict.admit(data, addr) is Admit.DROP:
                return
            self.remote_addr = addr  # the accepted source moved: answer it there
            if self._rtcp_socket is not None:
                self.rtcp_remote_addr = (addr[0], addr[1] + self.rtcp_delta)
            if self._settle_timer is None and strict.deadline:
                self._settle_later(strict.deadline)
        n = self.packets_received = self.packets_received + 1
        if self.remote_addr is None and self.latch:
            self.remote_addr = addr
            if self.rtcp_remote_addr is None and self._rtcp_socket is not None:
                self.rtcp_remote_addr = (addr[0], addr[1] + self.rtcp_delta)
        if self.track_stats:
            if n & _SAMPLE_MASK == 1:
                self._sample(data, time.monotonic())
            else:
                self._last = data
        if self.on_rtp is not None:
            self.on_rtp(self, data, addr)

    # --- receiver statistics, from a sample of the packets ------------------------------------
    @property
    def stats(self) -> ReceiverStats | None:
        """Receiver statistics of the current source, up to the last packet received.

        They take one packet in :data:`SAMPLE_EVERY` as it arrives (its sequence number, and
        its arrival for the jitter, which is then estimated over packets that many apart),
        the packets between counted with it; reading them takes in the last packet too, so
        the counts and the highest sequence number are exact whenever they are read.
        """
        if self._last is not None:
            self._sample(self._last, None)  # (which forgets it)
        return self._stats

    def _sample(self, data: bytes, now: float | None) -> None:
        _b0, _b1, seq, ts, ssrc = _FIXED.unpack_from(data)
        count = self.packets_received - self._sampled_at
        self._sampled_at = self.packets_received
        self._last = None
        stats = self._stats
        if stats is None or stats.ssrc != ssrc:
            stats = self._stats = ReceiverStats(self.clock_rate, ssrc=ssrc)
            count = 1  # the packets before it were the previous source's
        stats.update(seq, ts, now, len(data), count)

    # --- locking onto the source: a connected socket --------------------------------------
    def _settle_later(self, when: float) -> None:
        delay = max(0.0, when - time.monotonic()) + 0.05
        self._settle_timer = asyncio.get_running_loop().call_later(delay, self._settle)

    def _settle(self) -> None:
        """Strict RTP's learning window is over: connect the RTP socket to the source."""
        self._settle_timer = None
        strict, sock = self.strict, self._rtp_socket
        if strict is None or sock is None or sock.peer is not None:
            return
        source = strict.lock(time.monotonic())
        if source is None:
            if strict.deadline:  # learning again (a new address), its window not over
                self._settle_later(strict.deadline)
            return
        if sock.connect(source):
            self.remote_addr = source

    def _unsettle(self) -> None:
        """Strict RTP learns again: the RTP socket takes datagrams from anyone."""
        if self._settle_timer is not None:
            self._settle_timer.cancel()
            self._settle_timer = None
        sock = self._rtp_socket
        if sock is not None and not sock.disconnect():
            self.errors += 1

    def _on_rtcp(self, data: bytes, addr: Addr) -> None:
        if self.strict is not None and not self.strict.rtcp_ok(addr):
            return
        self.rtcp_received += 1
        if self.track_stats:
            try:
                packets = parse_rtcp(data)
            except RtcpError:
                self.invalid_received += 1
                return
            for p in packets:
                if isinstance(p, SenderReport):
                    self.last_sender_report = p
                    stats = self.stats
                    if stats is not None and stats.ssrc == p.ssrc:
                        stats.on_sender_report(p, time.monotonic())
        if self.on_rtcp is not None:
            self.on_rtcp(self, data, addr)

    # --- SRTP (only on endpoints that negotiated it) ---------------------------------------
    def enable_srtp(self, ctx: SrtpContext | None) -> None:
        """Protect what this endpoint sends and unprotect what it receives with ``ctx``
        (None: plain RTP again)."""
        self.srtp = ctx
        if ctx is None:
            for name in ("_on_datagram", "_on_rtcp", "send_raw", "send_rtcp"):
                self.__dict__.pop(name, None)
            return
        self._on_datagram = self._srtp_datagram  # type: ignore[method-assign]
        self._on_rtcp = self._srtp_rtcp  # type: ignore[method-assign]
        self.send_raw = self._srtp_send_raw  # type: ignore[method-assign]
        self.send_rtcp = self._srtp_send_rtcp  # type: ignore[method-assign]

    def _srtp_datagram(self, data: bytes, addr: Addr) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            self.invalid_received += 1
            return
        if 192 <= data[1] <= 223:
            self._srtp_rtcp(data, addr)
            return
        srtp = self.srtp
        assert srtp is not None
        try:
            plain = srtp.rx.unprotect(data)
        except Exception:
            self.srtp_failed += 1
            return
        RtpEndpoint._on_datagram(self, plain, addr)

    def _srtp_rtcp(self, data: bytes, addr: Addr) -> None:
        srtp = self.srtp
        assert srtp is not None
        if self.strict is not None and not self.strict.rtcp_ok(addr):
            return
        try:
            plain = srtp.rx.unprotect_rtcp(data)
        except Exception:
            self.srtp_failed += 1
            return
        RtpEndpoint._on_rtcp(self, plain, addr)

    def _srtp_send_raw(self, data: bytes | bytearray | memoryview,
                       addr: Addr | None = None) -> None:
        srtp = self.srtp
        if srtp is None or self._closed:
            return
        try:
            protected = srtp.tx.protect(bytes(data))
        except Exception:
            self.errors += 1
            return
        RtpEndpoint.send_raw(self, protected, addr)

    def _srtp_send_rtcp(self, data: bytes) -> None:
        srtp = self.srtp
        if srtp is None or self._closed:
            return
        try:
            protected = srtp.tx.protect_rtcp(data)
        except Exception:
            self.errors += 1
            return
        RtpEndpoint.send_rtcp(self, protected)

    # --- send path -----------------------------------------------------------------------

    def send_raw(self, data: bytes | bytearray | memoryview, addr: Addr | None = None) -> None:
        """Send a ready datagram (e.g. a relayed packet) to ``addr`` or the remote."""
        dest = addr or self.remote_addr
        sock = self._rtp_socket
        if dest is None or sock is None:
            return
        try:  # (what _Socket.sendto does, inline: this is every relayed packet's path)
            if dest is sock.peer:
                sock.sock.send(data)
            else:
                sock.sock.sendto(data, dest)
        except OSError:
            self.errors += 1
            return
        self.packets_sent += 1
        self.bytes_sent += len(data)

    def send(self, payload: bytes, payload_type: int, *, marker: bool = False,
             timestamp: int | None = None, advance: int | None = None) -> None:
        """Send one packet with this endpoint's SSRC and next sequence number.

        ``timestamp`` defaults to the running timestamp; afterwards the running timestamp
        advances by ``advance`` (default: one sample per payload byte, right for G.711).
        """
        ts = self.timestamp if timestamp is None else timestamp
        self.send_raw(build_header(payload_type, self.seq, ts, self.ssrc, marker) + payload)
        self.own_sent += 1
        self.seq = (self.seq + 1) & 0xFFFF
        if timestamp is None:
            step = len(payload) if advance is None else advance
            self.timestamp = (self.timestamp + step) & 0xFFFFFFFF

    async def play(self, payloads: Iterable[bytes], payload_type: int,
                   ptime: float = 0.02) -> int:
        """Send payloads paced every ``ptime`` seconds (drift-free); returns the count sent."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        count = 0
        first = True
        for payload in payloads:
            if self._closed:
                break
            self.send(payload, payload_type, marker=first)
            first = False
            count += 1
            due += ptime
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        return count

    async def send_dtmf(self, digits: str, payload_type: int = 101, duration_ms: int = 100,
                        gap_ms: int = 60, ptime: float = 0.02) -> None:
        """Send RFC 4733 events for ``digits`` (paced, ends retransmitted), then advance the
        running timestamp past them so audio can continue."""
        sender = DtmfSender(self.clock_rate, int(ptime * 1000))
        for digit in digits:
            start_ts = self.timestamp
            plan = sender.packets(digit, start_ts, duration_ms)
            for i, pkt in enumerate(plan):
                self.send(pkt.payload, payload_type, marker=pkt.marker, timestamp=pkt.timestamp)
                if not pkt.end or i == len(plan) - 1:
                    await asyncio.sleep(ptime)
            self.timestamp = (start_ts + self.clock_rate * (duration_ms + gap_ms) // 1000) \
                & 0xFFFFFFFF
            await asyncio.sleep(gap_ms / 1000)

    def send_rtcp(self, data: bytes) -> None:
        """Send an RTCP datagram on the RTCP socket (or muxed on the RTP socket)."""
        if self._rtcp_socket is not None and self.rtcp_remote_addr is not None:
            self._rtcp_socket.sendto(data, self.rtcp_remote_addr)
        elif self._rtp_socket is not None and self.remote_addr is not None:
            self._rtp_socket.sendto(data, self.remote_addr)

    def build_report(self, cname: str = "webfon") -> bytes:
        """A compound RTCP packet: SR if we sent media, else RR, plus SDES CNAME."""
        now = time.monotonic()
        stats = self.stats
        blocks = [stats.report_block(now)] if stats and stats.received else []
        return compound_report(self.ssrc, cname, blocks, self.packets_sent, self.timestamp,
                               max(0, self.bytes_sent - 12 * self.packets_sent))


class RtpRecorder:
    """An ``on_rtp`` callback that keeps G.711 audio and RFC 4733 digits for analysis."""

    def __init__(self, dtmf_payload_type: int = 101, keep_packets: bool = False) -> None:
        self.dtmf_payload_type = dtmf_payload_type
        self.keep_packets = keep_packets
        self.packets: list[bytes] = []
        self._audio: list[npt.NDArray[np.int16]] = []
        self.payload_types: set[int] = set()
        self.dtmf = DtmfReceiver()
        self.dtmf_events: list[DtmfEvent] = []
        self.count = 0

    def __call__(self, endpoint: RtpEndpoint | None, data: bytes, addr: Addr) -> None:
        self.feed(data)

    def feed(self, data: bytes) -> None:
        if self.keep_packets:
            self.packets.append(data)
        try:
            pkt = RtpPacket.parse(data)
        except RtpError:
            return
        self.count += 1
        self.payload_types.add(pkt.payload_type)
        if pkt.payload_type == self.dtmf_payload_type:
            with contextlib.suppress(ValueError):
                self.dtmf_events.extend(self.dtmf.feed(pkt.timestamp, pkt.payload))
        elif pkt.payload_type in (g711.PT_PCMU, g711.PT_PCMA):
            self._audio.append(g711.decode(pkt.payload, pkt.payload_type))

    def samples(self) -> npt.NDArray[np.int16]:
        """All received G.711 audio, decoded, in arrival order (8 kHz)."""
        if not self._audio:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self._audio)

    @property
    def digits(self) -> str:
        return "".join(self.dtmf.digits)
