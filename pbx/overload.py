"""Overload control: when the event loop lags, new calls and registrations are turned away
with ``503`` and ``Retry-After`` (RFC 3261 §21.5.4) so the calls already admitted keep their
time — their ACKs, BYEs and media are served by the same loop.

The lag is what a new request would wait before the PBX looks at it, measured two ways every
:data:`TICK_S`:

* how late a timer fires (a loop busy with long callbacks, a long collection);
* how long a probe datagram, sent from a loopback socket of the PBX's own to its SIP UDP
  socket, takes to be read: datagrams queued in the socket's receive buffer behind a flood
  wait that long, which a timer alone does not see (the loop reads one datagram a turn and
  its turns stay short while the queue grows). Only datagrams from the probe's own address
  are taken as probes, and of those only the last one sent (each carries its number). A
  probe not back after :data:`PROBE_LOST_S` is taken as lost — the kernel drops datagrams
  that find the receive buffer full, itself the sign of a backlog, so its age still counts
  as the lag — and a new one is sent: otherwise the age of a probe that will never come
  would grow for ever and the PBX would turn everyone away long after the flood. No probe
  is sent when no SIP datagram came in since the last one:
  nothing can wait in the queue then (a loop too busy to read is seen by the late timer),
  and an idle PBX does not wake itself twenty times a second to find that out.

When the lag has stayed above ``overload_lag_ms`` for ``overload_sustain_s`` the PBX is
overloaded: a backlog that persists, not one stall (a start-up, a collection, a moment without
a CPU on a busy host) that the loop has caught up with by the time anyone could be turned away.
It is back to normal once the lag has stayed under half the threshold for
``overload_recover_s`` (hysteresis: no flapping at the edge).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from webfon.sip.transport import UdpTransport

from .ticker import every

log = logging.getLogger("pbx.overload")

TICK_S = 0.05
"""How often the lag is measured."""

PROBE_LOST_S = 1.0
"""A probe not back after this long was dropped (a full receive buffer): another is sent."""


class LoadState(enum.Enum):
    NORMAL = "normal"
    OVERLOADED = "overloaded"


class Overload:
    """The loop's lag and the decision to shed new requests."""

    def __init__(self, lag_ms: float, retry_after_s: int, recover_s: float,
                 sustain_s: float = 0.5) -> None:
        self.threshold_ms = lag_ms
        self.retry_after_s = retry_after_s
        self.recover_s = recover_s
        self.sustain_s = sustain_s
        self._hot_since: float | None = None
        self.state = LoadState.NORMAL
        self.lag_ms = 0.0
        self.max_lag_ms = 0.0
        self.shed = 0
        self.episodes = 0
        self._calm_since: float | None = None
        self._probe: socket.socket | None = None
        self._probe_to: tuple[str, int] | None = None
        self._probe_sent: float | None = None
        self._probe_number = 0
        self._probe_lag_ms = 0.0
        self.probes_lost = 0
        self._transport: UdpTransport | None = None
        self._tap: tuple[str, int] | None = None
        self._activity: Callable[[], int] | None = None
        self._activity_seen = -1

    @property
    def enabled(self) -> bool:
        return self.threshold_ms > 0

    @property
    def overloaded(self) -> bool:
        return self.state is LoadState.OVERLOADED

    def admit(self) -> bool:
        """Whether a new call or registration may be taken now (counts those turned away)."""
        if self.state is LoadState.OVERLOADED:
            self.shed += 1
            return False
        return True

    def retry_after(self) -> tuple[str, str]:
        return ("Retry-After", str(self.retry_after_s))

    # ------------------------------------------------------------------ measuring
    def observe(self, lag_ms: float, now: float) -> None:
        """One measurement of the lag at ``now`` (monotonic seconds)."""
        self.lag_ms = lag_ms
        if lag_ms > self.max_lag_ms:
            self.max_lag_ms = lag_ms
        if lag_ms > self.threshold_ms:
            self._calm_since = None
            if self._hot_since is None:
                self._hot_since = now
            if self.state is LoadState.NORMAL and now - self._hot_since >= self.sustain_s:
                self.state = LoadState.OVERLOADED
                self.episodes += 1
                log.warning("overloaded: new calls and registrations get 503",
                            extra={"lag_ms": round(lag_ms, 1),
                                   "threshold_ms": self.threshold_ms})
            return
        self._hot_since = None
        if self.state is LoadState.NORMAL:
            return
        if lag_ms >= self.threshold_ms / 2:
            self._calm_since = None
        elif self._calm_since is None:
            self._calm_since = now
        elif now - self._calm_since >= self.recover_s:
            self.state = LoadState.NORMAL
            self._calm_since = None
            log.info("load back to normal", extra={"shed": self.shed,
                                                   "lag_ms": round(lag_ms, 1)})

    def reset(self) -> None:
        """Forget what was measured so far (the stalls of start-up are not overload)."""
        self.state = LoadState.NORMAL
        self.lag_ms = self.max_lag_ms = self._probe_lag_ms = 0.0
        self._calm_since = self._hot_since = None

    def attach(self, transport: UdpTransport,
               activity: Callable[[], int] | None = None) -> None:
        """Probe ``transport``'s receive queue (see the module's docstring); with
        ``activity`` (SIP datagrams read so far), only when some came in since the last
        probe."""
        host, port = transport.local_address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        probe = socket.socket(family, socket.SOCK_DGRAM)
        try:
            probe.setblocking(False)
            probe.bind((host, 0))
        except OSError:
            probe.close()
            log.warning("no overload probe: cannot bind next to the SIP socket",
                        extra={"host": host})
            return
        sent_from = probe.getsockname()
        self._probe, self._probe_to, self._transport = probe, (host, port), transport
        self._activity = activity
        self._tap = (sent_from[0], sent_from[1])
        transport.taps[self._tap] = self._probe_arrived

    def _probe_arrived(self, data: bytes) -> None:
        if self._probe_sent is not None and data == self._probe_number.to_bytes(8, "big"):
            self._probe_lag_ms = (time.monotonic() - self._probe_sent) * 1000.0
            self._probe_sent = None

    def _probe_lag(self, now: float) -> float:
        """The last probe's delay, or the age of the one still queued; sends the next."""
        if self._probe is None or self._probe_to is None:
            return 0.0
        if self._probe_sent is not None:
            age = (now - self._probe_sent) * 1000.0
            if age < PROBE_LOST_S * 1000.0:  # still in the queue
                return max(self._probe_lag_ms, age)
            self.probes_lost += 1  # dropped: its age counts, and another one goes
            self._probe_sent = None
            self._send_probe(now)
            return age
        lag, self._probe_lag_ms = self._probe_lag_ms, 0.0
        if self._activity is not None:
            seen = self._activity()
            if seen == self._activity_seen:  # nothing came in: nothing queued to time
                return lag
            self._activity_seen = seen
        self._send_probe(now)
        return lag

    def _send_probe(self, now: float) -> None:
        assert self._probe is not None and self._probe_to is not None
        self._probe_number += 1
        try:
            self._probe.sendto(self._probe_number.to_bytes(8, "big"), self._probe_to)
            self._probe_sent = now
        except OSError:  # a full buffer: the next tick tries again
            pass

    async def run(self) -> None:
        """Measure every :data:`TICK_S` until cancelled."""
        if not self.enabled:
            return
        try:
            await every(TICK_S, self._tick)
        finally:
            self.close()

    def _tick(self, late_s: float) -> None:
        now = time.monotonic()
        self.observe(max(late_s * 1000.0, 0.0, self._probe_lag(now)), now)

    def close(self) -> None:
        if self._transport is not None and self._tap is not None:
            self._transport.taps.pop(self._tap, None)
            self._transport = None
        if self._probe is not None:
            with contextlib.suppress(OSError):
                self._probe.close()
            self._probe = None

    def snapshot(self) -> dict[str, Any]:
        return {"state": self.state.value, "lag_ms": round(self.lag_ms, 1),
                "max_lag_ms": round(self.max_lag_ms, 1), "threshold_ms": self.threshold_ms,
                "shed": self.shed, "episodes": self.episodes, "probes_lost": self.probes_lost}
