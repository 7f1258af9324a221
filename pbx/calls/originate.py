"""A call the PBX places itself (a callback, a hotel wake-up call): its first leg.

The party's contacts ring together with the PBX's own offer (G.711 A-law and µ-law, RFC 4733
events, the PBX's media address); the first to answer becomes the leg, answered, with its media
pointed at the party and the party recorded on it (``CallLeg.party``: whose rights apply to
what is done on that leg, a transfer for one); the others are cancelled. When nobody answers,
the attempt says why (:class:`Outcome`: no answer, busy, refused, failed), for owners that
report it. What the call does next (ring someone else for that party, through admission, or
play a message) is its owner's business.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum

from webfon.sip import Address, ParseError, Response, SipError
from webfon.sip.sdp import make_offer
from webfon.sip.ua import Call as SipCall

from .. import sdp as sdpx
from ..media import Leg as MediaLeg
from ..routing import Caller
from .factory import LegFactory
from .leg import CallLeg
from .ringer import Contact

log = logging.getLogger("pbx.calls")

BUSY_STATUSES = frozenset({486, 600})


class Outcome(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    """Nobody answered within the time (or every phone was still ringing)."""
    BUSY = "busy"
    """A phone answered 486 Busy Here or 600 Busy Everywhere (a guest declining the call)."""
    REFUSED = "refused"
    """Every phone that answered refused with another final status."""
    FAILED = "failed"
    """The PBX could not place the call (no media ports, no phone reachable, a bad answer)."""


@dataclass(frozen=True)
class Attempt:
    """How ringing a party went: the answered ``leg`` (``outcome`` ANSWERED) or why not."""

    outcome: Outcome
    cause: str
    leg: CallLeg | None = None


class Originator:
    def __init__(self, legs: LegFactory, media_host: str) -> None:
        self.legs = legs
        self.media_host = media_host

    async def ring(self, contacts: list[Contact], timeout: float, shown_as: Address, *,
                   party: Caller, number: str) -> CallLeg | None:
        """Ring ``contacts`` of ``party`` (showing ``shown_as``) for up to ``timeout``
        seconds; the answered leg (its ``party`` and the phone that answered recorded), or
        None when nobody answered."""
        return (await self.attempt(contacts, timeout, shown_as, party=party,
                                   number=number)).leg

    async def attempt(self, contacts: list[Contact], timeout: float, shown_as: Address, *,
                      party: Caller, number: str) -> Attempt:
        """As :meth:`ring`, saying why nobody answered. Cancelled, it cancels the phones
        still ringing and gives the media ports back."""
        try:
            media = await self.legs.media_leg("a")
        except OSError:
            return Attempt(Outcome.FAILED, "no media ports")
        offer = make_offer(self.media_host, media.port, codecs=("PCMA", "PCMU"),
                           telephone_event=101)
        offer.origin_user = "webfon-pbx"
        body = offer.encode()
        pending: dict[asyncio.Future[Response], SipCall] = {}
        phones: dict[SipCall, Contact] = {}
        for contact in contacts:
            try:
                sip = self.legs.dial(contact.uri, shown_as, body, None)
            except (SipError, ParseError, OSError) as exc:
                log.info("cannot call contact: %s", exc)
                continue
            pending[sip.answer] = sip
            phones[sip] = contact
        if not pending:
            self.legs.release_media(media)
            return Attempt(Outcome.FAILED, "no phone reachable")
        winner: SipCall | None = None
        statuses: list[int] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while pending and winner is None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                done, _ = await asyncio.wait(list(pending), timeout=remaining,
                                             return_when=asyncio.FIRST_COMPLETED)
                for fut in done:
                    sip = pending.pop(fut)
                    resp = fut.result()
                    if resp.is_success and winner is None:
                        winner = sip
                    elif resp.is_success:  # a second phone answered too late
                        self.legs.end_quietly(sip, bye=True)
                    else:
                        statuses.append(resp.status)
        except BaseException:
            if winner is not None:
                self.legs.end_quietly(winner, bye=True)
            self.legs.release_media(media)
            raise
        finally:
            for sip in pending.values():  # still ringing, out of time or cancelled
                self.legs.end_quietly(sip)
        if winner is None:
            self.legs.release_media(media)
            return _unanswered(statuses)
        return self._answered(winner, phones[winner], media, party, number)

    def _answered(self, winner: SipCall, contact: Contact, media: MediaLeg, party: Caller,
                  number: str) -> Attempt:
        try:
            answer = sdpx.parse(winner.remote_sdp or b"")
        except sdpx.SdpError:
            answer = None
        info = sdpx.info(answer) if answer is not None else None
        if answer is None or info is None or info.payload_type is None:
            self.legs.end_quietly(winner, bye=True)
            self.legs.release_media(media)
            return Attempt(Outcome.FAILED, "no usable SDP in the answer")
        media.set_remote(info.host, info.port)
        media.payload_type = info.payload_type
        media.dtmf_payload_type = info.dtmf_payload_type
        leg = CallLeg(winner, media, number, party.user.id if party.user else None, answer,
                      party=party, phone=contact.phone)
        return Attempt(Outcome.ANSWERED, "answered", leg)


def _unanswered(statuses: list[int]) -> Attempt:
    if not statuses:
        return Attempt(Outcome.NO_ANSWER, "no answer")
    if any(s in BUSY_STATUSES for s in statuses):
        return Attempt(Outcome.BUSY, "busy")
    return Attempt(Outcome.REFUSED, f"refused ({min(statuses)})")
