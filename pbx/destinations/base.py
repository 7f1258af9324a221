"""The delivery of an admitted call to the destination for its route's kind.

Delivery takes only routes :class:`~pbx.admission.Admission` handed out
(:func:`~pbx.admission.admitted`); any other is a programming error (:class:`NotAdmitted`):
no destination is reached without admission.
"""

from __future__ import annotations

import logging
from typing import Protocol

from .. import sdp as sdpx
from ..admission import NotAdmitted, admitted
from ..calls.model import Call
from ..cdr import Disposition
from ..routing import Route, RouteKind

log = logging.getLogger("pbx.destinations")

MAX_FORWARD_DEPTH = 5
"""How many times a call may be sent on (forwarding, overflow) before it is refused."""


class Destination(Protocol):
    async def deliver(self, call: Call, route: Route, depth: int) -> None:
        """Take the call: ring, queue, answer… until it is connected or refused
        (``call.refuse``). ``depth`` counts how often it was sent on already."""


class Delivery:
    def __init__(self) -> None:
        self._destinations: dict[RouteKind, Destination] = {}

    def add(self, kind: RouteKind, destination: Destination) -> None:
        self._destinations[kind] = destination

    async def deliver(self, call: Call, route: Route, depth: int = 0) -> None:
        if call.caller_gone:
            call.disposition = Disposition.CANCELLED
            return
        if route.kind is RouteKind.REJECT:
            log.info("call rejected", extra={"call_id": call.call_id, "status": route.status,
                                             "reason": route.reason})
            call.refuse(route.status, route.reason)
            return
        if not admitted(route):
            raise NotAdmitted(f"{route.kind} route to {route.number} was not admitted")
        destination = self._destinations.get(route.kind)
        if destination is None:
            log.error("no destination for %s", route.kind, extra={"call_id": call.call_id})
            call.refuse(500, "No destination")
            return
        if route.kind is not RouteKind.VOICEMAIL:
            call.callee = route.number
        await destination.deliver(call, route, depth)


def answer_here(call: Call, media_host: str) -> int | None:
    """Answer the caller with the PBX's own media (to play to or record them): the payload
    type the caller will send, or None when the call cannot be answered (then refused, or
    marked cancelled if the caller left). A caller the PBX already answered (an IVR menu
    sent it on) keeps its media as it is.

    The caller's leg then stands for our answer (its one codec), so whoever the call rings
    later is offered that codec only and the relay never has to transcode."""
    a = call.a
    if not a.pending:
        if call.caller_gone or a.terminated:
            call.disposition = Disposition.CANCELLED
            return None
        return a.media.payload_type
    try:
        answer = sdpx.local_answer(a.sdp, media_host, a.media.port, crypto=a.media.crypto) \
            if a.sdp else None
    except sdpx.SdpError as exc:
        call.refuse(exc.status, exc.reason)
        return None
    if answer is None or call.caller_gone:
        call.disposition = Disposition.CANCELLED
        return None
    audio = answer.audio
    pt = audio.codecs[0].pt if audio is not None and audio.codecs else 8
    a.media.payload_type = pt
    if not a.accept(answer.encode()):
        return None
    a.sdp = answer
    return pt
