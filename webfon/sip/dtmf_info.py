"""DTMF carried in SIP INFO requests: the one parser and builder of such bodies.

Two body formats are in use: ``application/dtmf-relay`` (``Signal=5`` and ``Duration=160``
lines, the de-facto standard) and ``application/dtmf`` (the digit alone). Some devices send
the keys ``*``/``#``/``A``-``D`` as the RFC 4733 event numbers 10-15.
"""

from __future__ import annotations

from dataclasses import dataclass

DIGITS = "0123456789*#ABCD"
RELAY = "application/dtmf-relay"


@dataclass(frozen=True)
class DtmfInfo:
    """One key press: ``digit`` in ``0-9*#A-D``; ``duration_ms`` when the body gave one."""

    digit: str
    duration_ms: int | None = None


def parse_dtmf_info(content_type: str | None, body: bytes | str) -> DtmfInfo | None:
    """The key press an INFO body carries, or None when it is not DTMF (or not valid)."""
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if ctype == RELAY:
        signal, duration = "", None
        for line in text.splitlines():
            key, _, value = line.partition("=")
            key = key.strip().lower()
            if key == "signal":
                signal = value.strip()
            elif key == "duration":
                value = value.strip()
                duration = int(value) if value.isdigit() else None
        digit = _digit(signal)
        return DtmfInfo(digit, duration) if digit else None
    if ctype == "application/dtmf":
        digit = _digit(text.strip())
        return DtmfInfo(digit) if digit else None
    return None


def dtmf_relay_body(digit: str, duration_ms: int = 160) -> bytes:
    """An ``application/dtmf-relay`` body for ``digit``."""
    if _digit(digit) is None:
        raise ValueError(f"not a DTMF key: {digit!r}")
    return f"Signal={digit}\r\nDuration={duration_ms}\r\n".encode()


def _digit(signal: str) -> str | None:
    if len(signal) == 1 and signal.upper() in DIGITS:
        return signal.upper()
    if signal.isdigit() and 10 <= int(signal) <= 15:
        return DIGITS[int(signal)]
    return None
