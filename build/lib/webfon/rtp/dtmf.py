"""RFC 4733 telephone-event payloads and a DTMF sender/receiver state machine.

Payload (4 octets): event (8 bits), E (end) bit, R bit, volume (6 bits, -dBm0), duration
(16 bits, timestamp units). One event keeps the RTP timestamp of its start in every packet; the
first packet carries the marker bit, the duration grows in each continuation packet and the
final packet (E set) is sent three times (RFC 4733 §2.5.1.4).

:class:`DtmfSender` produces the packet plan for a digit (the caller owns the RTP stream, its
sequence numbers and pacing); :class:`DtmfReceiver` turns incoming payloads into start and end
notifications with duplicate suppression, so both the PBX and the gateway can relay or report
digits.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_EVENT = struct.Struct("!BBH")

DTMF_DIGITS = "0123456789*#ABCD"
EVENT_FLASH = 16


class DtmfError(ValueError):
    """Invalid digit or telephone-event payload."""


def digit_to_event(digit: str) -> int:
    """'0'-'9', '*', '#', 'A'-'D' (any case) → event code 0..15."""
    idx = DTMF_DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if idx < 0:
        raise DtmfError(f"not a DTMF digit: {digit!r}")
    return idx


def event_to_digit(event: int) -> str:
    """Event code 0..15 → digit; other codes (e.g. 16 flash) raise :class:`DtmfError`."""
    if 0 <= event < 16:
        return DTMF_DIGITS[event]
    raise DtmfError(f"not a DTMF event code: {event}")


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One telephone-event payload."""

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    def encode(self) -> bytes:
        if not 0 <= self.event <= 255:
            raise DtmfError(f"event code out of range: {self.event}")
        if not 0 <= self.volume <= 63:
            raise DtmfError(f"volume out of range: {self.volume}")
        return _EVENT.pack(self.event, (0x80 if self.end else 0) | self.volume,
                           min(self.duration, 0xFFFF))

    @classmethod
    def decode(cls, payload: bytes | bytearray | memoryview) -> TelephoneEvent:
        # RFC 4733 allows several events in one payload (redundancy); the first one counts.
        if len(payload) < 4:
            raise DtmfError(f"telephone-event payload too short: {len(payload)} bytes")
        event, flags, duration = _EVENT.unpack_from(payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)


@dataclass(frozen=True, slots=True)
class DtmfPacket:
    """One packet of a digit: send with ``marker`` at ``timestamp`` (the event's start)."""

    marker: bool
    timestamp: int
    payload: bytes
    end: bool


class DtmfSender:
    """Plans the packets of one digit: start, continuations every ``ptime_ms``, 3 × end."""

    def __init__(self, clock_rate: int = 8000, ptime_ms: int = 20, volume: int = 10,
                 end_repeats: int = 3) -> None:
        self.clock_rate = clock_rate
        self.ptime_ms = ptime_ms
        self.volume = volume
        self.end_repeats = end_repeats

    def packets(self, digit: str, timestamp: int, duration_ms: int = 100) -> list[DtmfPacket]:
        """All packets for ``digit`` starting at RTP ``timestamp``; send one per ptime (the
        ``end_repeats`` end packets may go back to back)."""
        event = digit_to_event(digit)
        if duration_ms <= 0:
            raise DtmfError("DTMF duration must be positive")
        step = self.clock_rate * self.ptime_ms // 1000
        total = min(0xFFFF, self.clock_rate * duration_ms // 1000)
        out: list[DtmfPacket] = []
        elapsed = step
        first = True
        while elapsed < total:
            out.append(DtmfPacket(first, timestamp & 0xFFFFFFFF,
                                  TelephoneEvent(event, False, self.volume, elapsed).encode(),
                                  False))
            first = False
            elapsed += step
        end_payload = TelephoneEvent(event, True, self.volume, total).encode()
        for i in range(self.end_repeats):
            out.append(DtmfPacket(first and i == 0, timestamp & 0xFFFFFFFF, end_payload, True))
        return out


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    """A digit notification from :class:`DtmfReceiver` (``kind`` is "start" or "end")."""

    kind: str
    digit: str
    timestamp: int
    duration: int  # timestamp units known so far (final for "end")


class DtmfReceiver:
    """Turns telephone-event payloads into one "start" and one "end" per digit.

    Events are told apart by their RTP timestamp. Retransmitted end packets and late
    continuation packets of an ended event are suppressed. A new event whose start was lost
    still yields "start" before "end"; an event whose end packets were all lost is ended when
    the next one starts. Non-DTMF events (e.g. flash) are ignored.
    """

    def __init__(self, clock_rate: int = 8000) -> None:
        self.clock_rate = clock_rate
        self._current_ts: int | None = None
        self._current_ended = False
        self._current_digit = ""
        self._current_duration = 0
        self._recent_ended: list[int] = []  # timestamps of recently ended events
        self.digits: list[str] = []  # every digit seen to its end, in order

    def feed(self, timestamp: int, payload: bytes | bytearray | memoryview) -> list[DtmfEvent]:
        """Process one packet's payload; returns the notifications it caused (often none)."""
        ev = TelephoneEvent.decode(payload)
        if ev.event >= 16:
            return []
        digit = DTMF_DIGITS[ev.event]
        if timestamp in self._recent_ended:
            return []  # retransmitted end or late packet of a finished event
        out: list[DtmfEvent] = []
        if timestamp != self._current_ts:
            if self._current_ts is not None and not self._current_ended:
                # the previous event's end packets were all lost: end it now
                self._remember_ended(self._current_ts)
                self.digits.append(self._current_digit)
                out.append(DtmfEvent("end", self._current_digit, self._current_ts,
                                     self._current_duration))
            self._current_ts = timestamp
            self._current_digit = digit
            self._current_ended = False
            self._current_duration = 0
            out.append(DtmfEvent("start", digit, timestamp, ev.duration))
        self._current_duration = max(self._current_duration, ev.duration)
        if ev.end and not self._current_ended:
            self._current_ended = True
            self._remember_ended(timestamp)
            self.digits.append(digit)
            out.append(DtmfEvent("end", digit, timestamp, ev.duration))
        return out

    def _remember_ended(self, timestamp: int) -> None:
        self._recent_ended.append(timestamp)
        if len(self._recent_ended) > 8:
            del self._recent_ended[0]

    def finish(self) -> list[DtmfEvent]:
        """End a pending event whose end packets never came (call this on stream timeout)."""
        if self._current_ts is None or self._current_ended:
            return []
        self._current_ended = True
        self._remember_ended(self._current_ts)
        self.digits.append(self._current_digit)
        return [DtmfEvent("end", self._current_digit, self._current_ts, self._current_duration)]
