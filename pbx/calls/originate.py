"""A call the PBX places itself (a callback): its first leg.

The party's contacts ring together with the PBX's own offer (G.711 A-law and µ-law, RFC 4733
events, the PBX's media address); the first to answer becomes the leg, answered, with its media
pointed at the party; the others are cancelled. What the call does next (ring someone else
for that party, through admission) is its owner's business.
"""

from __future__ import annotations

import asyncio
import logging

from webfon.sip import Address, ParseError, SipError
from webfon.sip.sdp import make_offer
from webfon.sip.ua import Call as SipCall

from .. import sdp as sdpx
from .factory import LegFactory
from .leg import CallLeg

log = logging.getLogger("pbx.calls")


class Originator:
    def __init__(self, legs: LegFactory, media_host: str) -> None:
        self.legs = legs
        self.media_host = media_host

    async def ring(self, contacts: list[str], timeout: float, shown_as: Address, *,
                   number: str, user_id: int | None) -> CallLeg | None:
        """Ring ``contacts`` (showing ``shown_as``) for up to ``timeout`` seconds; the answered
        leg, or None when nobody answered."""
        try:
            media = await self.legs.media_leg("a")
        except OSError:
            return None
        offer = make_offer(self.media_host, media.port, codecs=("PCMA", "PCMU"),
                           telephone_event=101)
        offer.origin_user = "webfon-pbx"
        body = offer.encode()
        pending: dict[asyncio.Future[object], SipCall] = {}
        for contact in contacts:
            try:
                sip = self.legs.dial(contact, shown_as, body, None)
            except (SipError, ParseError, OSError) as exc:
                log.info("cannot call contact: %s", exc)
                continue
            pending[sip.answer] = sip
        winner: SipCall | None = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while pending and winner is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            done, _ = await asyncio.wait(list(pending), timeout=remaining,
                                         return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                sip = pending.pop(fut)
                if getattr(fut.result(), "is_success", False) and winner is None:
                    winner = sip
                elif getattr(fut.result(), "is_success", False):
                    self.legs.end_quietly(sip, bye=True)
        for sip in pending.values():
            self.legs.end_quietly(sip)
        if winner is None:
            self.legs.release_media(media)
            return None
        try:
            answer = sdpx.parse(winner.remote_sdp or b"")
        except sdpx.SdpError:
            self.legs.end_quietly(winner, bye=True)
            self.legs.release_media(media)
            return None
        info = sdpx.info(answer)
        if info.payload_type is None:
            self.legs.end_quietly(winner, bye=True)
            self.legs.release_media(media)
            return None
        media.set_remote(info.host, info.port)
        media.payload_type = info.payload_type
        media.dtmf_payload_type = info.dtmf_payload_type
        return CallLeg(winner, media, number, user_id, answer)
