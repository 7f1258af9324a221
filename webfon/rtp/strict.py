"""Strict RTP: accept a call's media only from its negotiated source, as Asterisk's ``strictrtp``.

Anyone who can reach a relay's UDP ports could otherwise inject audio into a call, or, by
sending first, have the relay latch onto them and steal the call's audio. A
:class:`StrictSource` decides which source address a media socket listens to:

* **learning** starts whenever signalling names a new expected address (SDP ``c=``/``m=``;
  a source that is not that address is forgotten) and when the first packet arrives. A packet
  from the expected address locks onto it at once. A phone behind NAT sends from another
  address: the first source that sends ``probation`` packets with consecutive sequence
  numbers (one SSRC), at no faster than real-time pace (as Asterisk's learning_min_duration:
  a burst does not qualify), is locked instead — once one is, no other stranger can take its place,
  only the expected address itself (it wins, as in Asterisk: "switching to RTP target
  address as source");
* **locked** once ``window`` seconds have passed since the first packet with a source
  chosen: from then on only that exact address is accepted, until signalling names a new
  expected address (a re-INVITE), which starts learning again.

Everything else is dropped and counted (``dropped``); an endpoint that owns its port connects
its socket to the source once it is locked (:meth:`lock`), so that the kernel refuses the rest
instead. The per-packet cost is one tuple compare
in the caller (``addr != strict.source``); :meth:`admit` runs only when that differs, so
the relay's hot path is unchanged for a locked call. ``probation = 0`` accepts only the
negotiated address (no NAT learning: trunks, a LAN). With ``enabled = False`` the first packet
of any source is followed, as plain symmetric RTP does.
"""

from __future__ import annotations

import enum
import time
from typing import Any

Addr = tuple[Any, ...]

DEFAULT_WINDOW_S = 5.0
DEFAULT_PROBATION = 4


class SourceState(enum.Enum):
    LEARNING = "learning"
    LOCKED = "locked"


class Admit(enum.Enum):
    DROP = 0
    ACCEPT = 1
    NEW_SOURCE = 2   # accepted, and the source moved: send to it from now on (symmetric RTP)


class StrictSource:
    __slots__ = ("_cand_count", "_cand_first", "_cand_seq", "_cand_ssrc", "_candidate",
                 "_deadline",
                 "_settled", "dropped", "enabled", "expected", "probation", "source", "state",
                 "window")

    def __init__(self, expected: Addr | None = None, *, window: float = DEFAULT_WINDOW_S,
                 probation: int = DEFAULT_PROBATION, enabled: bool = True) -> None:
        self.enabled = enabled
        self.window = window
        self.probation = max(0, probation)
        self.source: Addr | None = None   # what the hot path compares against
        self.expected: Addr | None = None
        self.state = SourceState.LEARNING
        self.dropped = 0
        self._deadline = 0.0              # 0: the window opens with the first packet
        self._settled = False             # a source was chosen since the last expect()
        self._candidate: Addr | None = None
        self._cand_ssrc = -1
        self._cand_seq = -1
        self._cand_count = 0
        self._cand_first = 0.0
        if expected is not None:
            self.expect(expected)

    def expect(self, addr: Addr | None) -> None:
        """Signalling named the remote media address: learn again (nothing changes when it is
        the address already expected, or the source's, so a re-INVITE does not unlock a
        call)."""
        addr = (addr[0], addr[1]) if addr is not None else None
        if addr == self.expected and addr is not None:
            return
        self.expected = addr
        if self.source is not None and self.source[:2] == addr:
            # the source already sends from the address now named (a re-INVITE naming a
            # phone's public address, learned behind NAT): nothing to learn, a locked source
            # stays locked and no stranger may take its place
            self._settled = True
            self._candidate = None
            return
        self.source = None
        self.state = SourceState.LEARNING
        self._deadline = 0.0
        self._settled = False
        self._candidate = None
        self._cand_count = 0

    def restart(self) -> None:
        """Learn again with the same expected address (e.g. a socket reused by a new call)."""
        self.source = None
        expected, self.expected = self.expected, None
        self.expect(expected)

    def admit(self, data: bytes | bytearray | memoryview, addr: Addr) -> Admit:
        """Decide on a packet whose address is not ``source`` (see the module docstring)."""
        if not self.enabled:
            self.source = addr
            return Admit.NEW_SOURCE
        now = time.monotonic()
        if self.state is SourceState.LEARNING:
            if self._deadline == 0.0:
                self._deadline = now + self.window
            elif now >= self._deadline and self.source is not None:
                self.state = SourceState.LOCKED
        if self.state is SourceState.LOCKED:
            self.dropped += 1
            return Admit.DROP
        expected = self.expected
        if expected is not None and addr[0] == expected[0] and addr[1] == expected[1]:
            self.source = addr
            self._settled = True
            self._candidate = None
            return Admit.NEW_SOURCE
        if not self._settled and self._qualifies(data, addr, now):
            self.source = addr
            self._settled = True
            self._candidate = None
            return Admit.NEW_SOURCE
        self.dropped += 1
        return Admit.DROP

    def _qualifies(self, data: bytes | bytearray | memoryview, addr: Addr, now: float) -> bool:
        """``probation`` packets in sequence from one source and SSRC (RTP only), spread over
        at least ``(probation - 1) * 9 - 5`` ms (20 ms packets less jitter; Asterisk's
        figure): a burst fired at a port does not qualify."""
        if self.probation == 0 or len(data) < 12:
            return False
        seq = (data[2] << 8) | data[3]
        ssrc = int.from_bytes(data[8:12], "big")
        if addr == self._candidate and ssrc == self._cand_ssrc and \
                seq == (self._cand_seq + 1) & 0xFFFF:
            self._cand_count += 1
        else:
            self._candidate = addr
            self._cand_ssrc = ssrc
            self._cand_count = 1
            self._cand_first = now
        self._cand_seq = seq
        min_span = max(0.0, ((self.probation - 1) * 9 - 5) / 1000)
        return self._cand_count >= self.probation and now - self._cand_first >= min_span

    @property
    def deadline(self) -> float:
        """When learning ends (``time.monotonic()``); 0 until the first packet opens the
        window."""
        return self._deadline

    def lock(self, now: float) -> Addr | None:
        """Lock onto the chosen source once the learning window is over (otherwise that
        happens when the next stranger's packet arrives); the locked source, or None while
        still learning (or with strict RTP off, which follows any source)."""
        if not self.enabled:
            return None
        if self.state is SourceState.LEARNING and self.source is not None \
                and self._deadline and now >= self._deadline:
            self.state = SourceState.LOCKED
        return self.source if self.state is SourceState.LOCKED else None

    def rtcp_ok(self, addr: Addr) -> bool:
        """RTCP (on its own port, or muxed) is accepted from the locked source's host."""
        source = self.source
        if not self.enabled or (source is not None and addr[0] == source[0]):
            return True
        self.dropped += 1
        return False

    def snapshot(self) -> tuple[Any, ...]:
        """What another process needs to go on with this source (see :meth:`restore`)."""
        return (self.enabled, self.window, self.probation, self.expected, self.source,
                self.state is SourceState.LOCKED)

    @classmethod
    def restore(cls, snap: tuple[Any, ...]) -> StrictSource:
        enabled, window, probation, expected, source, locked = snap
        strict = cls(tuple(expected) if expected else None, window=window,
                     probation=probation, enabled=enabled)
        strict.source = tuple(source) if source else None
        strict._settled = strict.source is not None
        if locked and strict.source is not None:
            strict.state = SourceState.LOCKED
        return strict

    def describe(self) -> dict[str, Any]:
        return {"state": self.state.value if self.enabled else "off",
                "source": f"{self.source[0]}:{self.source[1]}" if self.source else "",
                "dropped": self.dropped}
