"""RTP media toolkit shared by the PBX media relay, the gateway bridge and the tests.

Modules: :mod:`~webfon.rtp.packet` (RTP header parse/build/rewrite), :mod:`~webfon.rtp.rtcp`
(SR/RR), :mod:`~webfon.rtp.stats` (loss/jitter, RFC 3550 A.1/A.3/A.8), :mod:`~webfon.rtp.g711`
(PCMU/PCMA), :mod:`~webfon.rtp.dtmf` (RFC 4733), :mod:`~webfon.rtp.tones` (tone generation),
:mod:`~webfon.rtp.detect` (tone and DTMF detection), :mod:`~webfon.rtp.wav` (WAV files),
:mod:`~webfon.rtp.prompts` (generated prompts), :mod:`~webfon.rtp.endpoint` (asyncio endpoint
and port allocation), :mod:`~webfon.rtp.strict` (strict RTP: media only from the negotiated
source).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webfon.rtp.detect import active_seconds, detect_dtmf, dominant_frequency, tone_seconds
    from webfon.rtp.dtmf import (
        DtmfEvent,
        DtmfPacket,
        DtmfReceiver,
        DtmfSender,
        TelephoneEvent,
        digit_to_event,
        event_to_digit,
    )
    from webfon.rtp.endpoint import (
        PortRangeExhausted,
        RtpEndpoint,
        RtpPortAllocator,
        RtpRecorder,
    )
    from webfon.rtp.g711 import PT_PCMA, PT_PCMU
    from webfon.rtp.packet import (
        RtpError,
        RtpPacket,
        build_header,
        is_rtcp,
        peek_header,
        rewrite_header,
    )
    from webfon.rtp.rtcp import ReceiverReport, ReportBlock, SenderReport, parse_rtcp
    from webfon.rtp.stats import ReceiverStats

# Names are loaded on first use (PEP 562): a process that relays packets imports
# ``webfon.rtp.packet`` without paying for numpy, which only the audio modules need.
_HOME = {
    "active_seconds": "detect", "detect_dtmf": "detect", "dominant_frequency": "detect",
    "tone_seconds": "detect",
    "DtmfEvent": "dtmf", "DtmfPacket": "dtmf", "DtmfReceiver": "dtmf", "DtmfSender": "dtmf",
    "TelephoneEvent": "dtmf", "digit_to_event": "dtmf", "event_to_digit": "dtmf",
    "PortRangeExhausted": "endpoint", "RtpEndpoint": "endpoint",
    "RtpPortAllocator": "endpoint", "RtpRecorder": "endpoint",
    "PT_PCMA": "g711", "PT_PCMU": "g711",
    "RtpError": "packet", "RtpPacket": "packet", "build_header": "packet",
    "is_rtcp": "packet", "peek_header": "packet", "rewrite_header": "packet",
    "ReceiverReport": "rtcp", "ReportBlock": "rtcp", "SenderReport": "rtcp",
    "parse_rtcp": "rtcp",
    "ReceiverStats": "stats",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])


__all__ = [
    "PT_PCMA",
    "PT_PCMU",
    "DtmfEvent",
    "DtmfPacket",
    "DtmfReceiver",
    "DtmfSender",
    "PortRangeExhausted",
    "ReceiverReport",
    "ReceiverStats",
    "ReportBlock",
    "RtpEndpoint",
    "RtpError",
    "RtpPacket",
    "RtpPortAllocator",
    "RtpRecorder",
    "SenderReport",
    "TelephoneEvent",
    "active_seconds",
    "build_header",
    "detect_dtmf",
    "digit_to_event",
    "dominant_frequency",
    "event_to_digit",
    "is_rtcp",
    "parse_rtcp",
    "peek_header",
    "rewrite_header",
    "tone_seconds",
]
