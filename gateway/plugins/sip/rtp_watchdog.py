"""RTP timeout of a SIP call (Asterisk's ``rtptimeout`` / ``rtpholdtimeout``).

A PBX or SIP phone that dies mid-call (killed, network gone) sends no BYE: without a watchdog
the browser's call would stay up in silence forever. Each established call has a timer that
looks, every few seconds, at how many RTP packets the SIP side has sent (the leg's
``packets_from_sip``, mirrored from a media worker when one relays the call); nothing is done
per packet. When the count has not moved for the timeout, the call is ended.

Which timeout applies follows the SDP (:func:`watch_mode`):

* both sides ``sendrecv``: ``sip_rtp_timeout``;
* on hold (either side asked for something else) while the remote still says it sends
  (``sendonly``, e.g. music on hold from the PBX): ``sip_rtp_hold_timeout``;
* the remote says it does not send (``recvonly``/``inactive``), or we do not take its audio
  (we asked for ``sendonly``/``inactive``): no timeout, nothing is expected.

A change of mode starts the count again, so a call just resumed gets the whole timeout. A
timeout of 0 turns that case off.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

MIN_INTERVAL_S = 0.5
MAX_INTERVAL_S = 5.0


class WatchMode(enum.Enum):
    IDLE = "idle"  # no RTP expected from the SIP side
    ACTIVE = "active"  # a call in both directions: the RTP timeout
    HOLD = "hold"  # on hold, the remote still sending by its SDP: the hold timeout


def watch_mode(local_direction: str, remote_direction: str) -> WatchMode:
    """What to expect of the SIP side, from our SDP direction and the remote's."""
    remote_sends = remote_direction in ("sendrecv", "sendonly")
    we_receive = local_direction in ("sendrecv", "recvonly")
    if not (remote_sends and we_receive):
        return WatchMode.IDLE
    if local_direction == "sendrecv" and remote_direction == "sendrecv":
        return WatchMode.ACTIVE
    return WatchMode.HOLD


@dataclass(frozen=True)
class RtpTimeouts:
    """Seconds without RTP from the SIP side before a call ends; 0 = never."""

    active: float = 60.0
    hold: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.active > 0 or self.hold > 0

    def limit(self, mode: WatchMode) -> float:
        if mode is WatchMode.ACTIVE:
            return self.active
        if mode is WatchMode.HOLD:
            return self.hold
        return 0.0

    @property
    def interval(self) -> float:
        """How often the counter is looked at: a quarter of the shortest timeout, within
        [0.5 s, 5 s] (a call ends at most that long after its timeout)."""
        shortest = min(t for t in (self.active, self.hold) if t > 0)
        return min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, shortest / 4))


@dataclass(frozen=True)
class Expired:
    """Why a call's watchdog fired."""

    mode: WatchMode
    silent_s: float  # since the last packet (or since the mode began)
    timeout_s: float
    packets: int  # RTP packets received from the SIP side in the whole call


class RtpWatchdog:
    """The decision, without a clock of its own: :meth:`check` with the time and the count."""

    def __init__(self, timeouts: RtpTimeouts, now: float) -> None:
        self.timeouts = timeouts
        self.mode = WatchMode.IDLE
        self.packets = -1
        self.since = now  # when the count last moved or the mode changed

    def check(self, now: float, packets: int, mode: WatchMode) -> Expired | None:
        if packets != self.packets or mode is not self.mode:
            self.packets = packets
            self.mode = mode
            self.since = now
            return None
        limit = self.timeouts.limit(mode)
        silent = now - self.since
        if limit > 0 and silent >= limit:
            return Expired(mode, silent, limit, packets)
        return None


class Loop(Protocol):
    """What :class:`RtpTimer` uses of an event loop."""

    def time(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any: ...


class RtpTimer:
    """Runs a :class:`RtpWatchdog` on the event loop for one call until it fires or stops.

    ``probe`` returns (packets from the SIP side, mode) or None while the call is not
    established (the count starts again when it is); ``on_expired`` is called once.
    """

    def __init__(self, timeouts: RtpTimeouts,
                 probe: Callable[[], tuple[int, WatchMode] | None],
                 on_expired: Callable[[Expired], None], loop: Loop | None = None) -> None:
        self.loop: Loop = loop or asyncio.get_running_loop()
        self.watchdog = RtpWatchdog(timeouts, self.loop.time())
        self.probe = probe
        self.on_expired = on_expired
        self._handle: Any = None  # the loop's handle of the next look
        if timeouts.enabled:
            self._tick()

    @property
    def running(self) -> bool:
        return self._handle is not None

    def _tick(self) -> None:
        self._handle = None
        now = self.loop.time()
        seen = self.probe()
        if seen is None:
            expired = self.watchdog.check(now, -1, WatchMode.IDLE)
        else:
            expired = self.watchdog.check(now, *seen)
        if expired is not None:
            self.on_expired(expired)
            return
        self._handle = self.loop.call_later(self.watchdog.timeouts.interval, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
