"""Keys a caller presses while the PBX itself answers them (a conference PIN): RFC 4733
events in their media and DTMF by SIP INFO (handed over by :mod:`pbx.features.dtmf`), as one
stream of digits."""

from __future__ import annotations

import asyncio
import contextlib
import struct

from webfon.rtp.dtmf import DtmfError, DtmfReceiver

from .media import Leg as MediaLeg

_FIXED = struct.Struct("!BBHII")


class Keys:
    """Listens for keys on ``media`` until :meth:`close` (what the caller sends meanwhile is
    not relayed anywhere)."""

    def __init__(self, media: MediaLeg) -> None:
        self.media = media
        self._receiver = DtmfReceiver()
        self._digits: asyncio.Queue[str] = asyncio.Queue()
        media.sink = self._on_rtp
        media.on_digit = self.press

    def _on_rtp(self, data: bytes) -> None:
        pt = self.media.dtmf_payload_type
        if pt is None or len(data) < 16 or data[1] & 0x7F != pt:
            return
        ts = _FIXED.unpack_from(data)[3]
        try:
            events = self._receiver.feed(ts, memoryview(data)[12 + 4 * (data[0] & 0x0F):])
        except (DtmfError, ValueError):
            return
        for event in events:
            if event.kind == "end":
                self.press(event.digit)

    def press(self, digit: str) -> None:
        self._digits.put_nowait(digit)

    def clear(self) -> None:
        while not self._digits.empty():
            self._digits.get_nowait()

    async def read(self, max_digits: int, *, first_timeout: float, next_timeout: float,
                   end: str = "#") -> str | None:
        """Digits until ``end`` (not included), ``max_digits`` or a pause; None when nothing
        was pressed within ``first_timeout``."""
        digits = ""
        timeout = first_timeout
        while len(digits) < max_digits:
            try:
                digit = await asyncio.wait_for(self._digits.get(), timeout)
            except TimeoutError:
                break
            if digit == end:
                return digits
            digits += digit
            timeout = next_timeout
        return digits or None

    def close(self) -> None:
        with contextlib.suppress(AttributeError):
            if self.media.sink == self._on_rtp:
                self.media.sink = None
            if self.media.on_digit == self.press:
                self.media.on_digit = None
