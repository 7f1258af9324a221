"""A call's quality for its CDR: every leg's figures from the PBX's relay, plus what a SIP
peer measured beyond it and reported when the call ended (the gateway's WebRTC leg, in the
``X-Webfon-Quality`` header of its BYE or of its 200 to ours); see :mod:`webfon.rtp.quality`."""

from __future__ import annotations

from webfon.rtp.quality import HEADER, CallQuality, LegQuality, summarize

from .leg import CallLeg
from .model import Call


def transport_of(leg: CallLeg) -> str:
    """The signalling transport of a leg's dialog (``udp``, ``tcp``, ``tls``)."""
    invite = leg.sip.invite
    if leg.sip.direction == "in":
        return (invite.transport or "udp").lower()
    return invite.uri.transport


def reported(leg: CallLeg) -> LegQuality | None:
    """What the leg's peer reported about a leg of its own when the call ended, if anything."""
    message = leg.sip.end_message
    if message is None:
        return None
    return LegQuality.from_header(message.headers.get(HEADER))


def call_quality(call: Call, node: str) -> CallQuality:
    legs: list[LegQuality] = []
    for name, leg in (("caller", call.a), ("callee", call.b)):
        if leg is None:
            continue
        legs.append(leg.media.quality(node, name, transport_of(leg)))
        beyond = reported(leg)
        if beyond is not None:
            legs.append(beyond)
    return summarize(legs)
