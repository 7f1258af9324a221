"""SRTP on a packet buffer, in place: the relay's receive buffer is also libsrtp's.

:class:`PacketBuffer` is the one buffer a media worker reads every datagram into (with
``recvfrom_into``) and sends from; libsrtp (through pylibsrtp's compiled binding) decrypts and
encrypts it where it lies, the relay rewrites the header in it, and the socket sends a cached
slice of it. No per-packet ``bytes`` is made: :meth:`pylibsrtp.Session.unprotect` and
``protect`` each copy the packet in and out and allocate a length cell and the result.

:class:`InPlaceSrtp` holds one direction's libsrtp session, made with pylibsrtp's public
:class:`~pylibsrtp.Policy` and :class:`~pylibsrtp.Session` (which also frees it); only the
per-packet calls go to the binding's ``srtp_protect`` / ``srtp_unprotect`` directly.
"""

from __future__ import annotations

from pylibsrtp import Policy, Session
from pylibsrtp._binding import ffi, lib

BUFFER_SIZE = 2048
MAX_DATAGRAM = 1800  # read at most this much: room is left for the SRTP trailer
REPLAY_WINDOW = 128  # libsrtp's default: 2.5 s of 20 ms packets, later is useless to a phone

SRTP_PROTECT = lib.srtp_protect
"""``srtp_protect(ctx, ptr, length_cell)``: 0 on success (for per-packet paths that inline
:meth:`InPlaceSrtp.protect`)."""
SRTP_UNPROTECT = lib.srtp_unprotect
SRTCP_UNPROTECT = lib.srtp_unprotect_rtcp
"""``srtp_unprotect_rtcp(ctx, ptr, length_cell)``: the peer's SRTCP, in place."""


class PacketBuffer:
    """One datagram's room: ``data`` (a ``bytearray`` for reads and header rewrites),
    ``ptr`` (the same memory for libsrtp) and :meth:`view` (a slice to send from)."""

    __slots__ = ("data", "memory", "ptr", "views")

    def __init__(self) -> None:
        self.data = bytearray(BUFFER_SIZE)
        self.memory = memoryview(self.data)
        self.ptr = ffi.from_buffer("char[]", self.data)
        self.views: list[memoryview | None] = [None] * (BUFFER_SIZE + 1)

    def view(self, length: int) -> memoryview:
        """The first ``length`` bytes (one cached view per length, in :attr:`views`: packets
        of a codec have a handful of sizes)."""
        view = self.views[length]
        if view is None:
            view = self.views[length] = self.memory[:length]
        return view


class InPlaceSrtp:
    """One direction of an SRTP session (``inbound``: what the peer sends us)."""

    __slots__ = ("_session", "cell", "ctx")

    def __init__(self, profile: int, key: bytes, inbound: bool) -> None:
        policy = Policy(key=key, srtp_profile=profile,
                        ssrc_type=Policy.SSRC_ANY_INBOUND if inbound else Policy.SSRC_ANY_OUTBOUND)
        policy.allow_repeat_tx = True
        policy.window_size = REPLAY_WINDOW
        self._session = Session(policy)  # owns (and frees) the libsrtp context
        self.ctx = self._session._srtp[0]
        self.cell = ffi.new("int *")  # the length in and out of libsrtp

    def unprotect(self, buf: PacketBuffer, length: int) -> int:
        """Decrypt and authenticate the SRTP packet in ``buf``: the RTP length, or -1 when
        libsrtp refused it (authentication, replay)."""
        cell = self.cell
        cell[0] = length
        if SRTP_UNPROTECT(self.ctx, buf.ptr, cell):
            return -1
        return cell[0]

    def protect(self, buf: PacketBuffer, length: int) -> int:
        """Encrypt the RTP packet in ``buf`` (the tag is appended): the SRTP length, or -1."""
        if length > MAX_DATAGRAM:
            return -1
        cell = self.cell
        cell[0] = length
        if SRTP_PROTECT(self.ctx, buf.ptr, cell):
            return -1
        return cell[0]
