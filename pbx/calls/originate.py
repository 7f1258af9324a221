"""A call the PBX places itself (a callback): its first leg.

The party's contacts ring together with the PBX's own offer (G.711 A-law and µ-law, RFC 4733
events, the PBX's media address; SDES-SRTP with the PBX's key for contacts on TLS, whose
answer must then carry its own key of the same suite); the first to answer becomes the leg,
answered, with its media pointed at the party and the party recorded on it
(``CallLeg.party``: whose rights apply to what is done on that leg, a transfer for one); the
others are cancelled. What the call does next (ring someone else for that party, through
admission) is its owner's business.
"""

from __future__ import annotations

import asyncio
import logging

from webfon.rtp.srtp import Crypto, add_crypto
from webfon.sip import Address, ParseError, SipError
from webfon.sip.sdp import make_offer
from webfon.sip.ua import Call as SipCall

from .. import sdp as sdpx
from ..media import Leg as MediaLeg
from ..routing import Caller
from .factory import LegFactory
from .leg import CallLeg
from .ringer import Contact, on_tls

log = logging.getLogger("pbx.calls")


class Originator:
    def __init__(self, legs: LegFactory, media_host: str) -> None:
        self.legs = legs
        self.media_host = media_host

    async def ring(self, contacts: list[Contact], timeout: float, shown_as: Address, *,
                   party: Caller, number: str) -> CallLeg | None:
        """Ring ``contacts`` of ``party`` (showing ``shown_as``) for up to ``timeout``
        seconds; the answered leg (its ``party`` and the phone that answered recorded), or
        None when nobody answered."""
        try:
            media = await self.legs.media_leg("a")
        except OSError:
            return None
        key = Crypto.generate()  # ours, for the contacts on TLS (offered SRTP only)
        bodies = {secure: self._offer(media.port, key if secure else None)
                  for secure in {on_tls(c.uri) for c in contacts}}
        pending: dict[asyncio.Future[object], tuple[SipCall, Contact]] = {}
        for contact in contacts:
            try:
                sip = self.legs.dial(contact.uri, shown_as, bodies[on_tls(contact.uri)], None)
            except (SipError, ParseError, OSError) as exc:
                log.info("cannot call contact: %s", exc)
                continue
            pending[sip.answer] = (sip, contact)
        winner: tuple[SipCall, Contact] | None = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while pending and winner is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            done, _ = await asyncio.wait(list(pending), timeout=remaining,
                                         return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                sip, contact = pending.pop(fut)
                if getattr(fut.result(), "is_success", False) and winner is None:
                    winner = (sip, contact)
                elif getattr(fut.result(), "is_success", False):
                    self.legs.end_quietly(sip, bye=True)
        for sip, _ in pending.values():
            self.legs.end_quietly(sip)
        if winner is None:
            self.legs.release_media(media)
            return None
        return self._answered(winner[0], winner[1], media, party, number, key)

    def _offer(self, port: int, key: Crypto | None) -> bytes:
        offer = make_offer(self.media_host, port, codecs=("PCMA", "PCMU"), telephone_event=101)
        offer.origin_user = "webfon-pbx"
        if key is not None:
            audio = offer.audio
            assert audio is not None
            audio.proto = "RTP/SAVP"
            add_crypto(audio, key)
        return offer.encode()

    def _answered(self, winner: SipCall, contact: Contact, media: MediaLeg, party: Caller,
                  number: str, key: Crypto) -> CallLeg | None:
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
        if b"RTP/SAVP" in (winner.local_sdp or b""):
            remote = info.crypto
            if remote is None or remote.tag != key.tag or remote.suite != key.suite:
                log.warning("SRTP offered, answered without our crypto suite",
                            extra={"contact": contact.uri})
                self.legs.end_quietly(winner, bye=True)
                self.legs.release_media(media)
                return None
            media.secure(remote, key)
        media.set_remote(info.host, info.port, info.rtcp_port)
        media.payload_type = info.payload_type
        media.dtmf_payload_type = info.dtmf_payload_type
        return CallLeg(winner, media, number, party.user.id if party.user else None, answer,
                       party=party, phone=contact.phone)
