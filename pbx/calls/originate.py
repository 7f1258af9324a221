"""A call the PBX places itself: its first leg (a callback's requester, a dialler campaign's
number, a hotel room's wake-up call, anything that starts from the PBX rather than from a
phone's INVITE).

The contacts ring together with the PBX's own offer (G.711 A-law and µ-law, RFC 4733 events,
the PBX's media address; SDES-SRTP with the PBX's key for contacts on TLS, whose answer must
then carry its own key of the same suite); the first to answer becomes the leg, answered, with
its media pointed at the far end and who is on it recorded (``CallLeg.party``: whose rights apply to
what is done on that leg, a transfer for one; or ``CallLeg.phone``, the registered phone that
answered); the others are cancelled (also when the ringing itself is cancelled, which gives
the media ports back). When nobody answers, :class:`Originated` says why (no answer, busy, or
the most telling failure) for owners that report it. Every contact tried is an
:class:`~.model.Attempt` (technical CDR rows, for whoever wants them).

Where to ring is not decided here: the number is admitted for whoever the call is placed for
(:meth:`~pbx.admission.Admission.admit`), and an outside number leaves through the trunks'
one way out (:meth:`~pbx.destinations.trunks.TrunkDestination.originate`: admitted routes
only, per-trunk limits, failover, the CDR's trunk), which rings each trunk here. What the call
does once answered is its owner's business.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from webfon.rtp.srtp import Crypto, add_crypto
from webfon.sip import Address, ParseError, Response, SipError
from webfon.sip.sdp import make_offer
from webfon.sip.ua import Call as SipCall

from .. import sdp as sdpx
from ..cdr import Disposition
from ..media import Leg as MediaLeg
from ..routing import Caller
from .factory import LegFactory
from .leg import CallLeg
from .model import Attempt
from .ringer import Contact, RingResult, RingStatus, on_tls

log = logging.getLogger("pbx.calls")

NO_MEDIA = RingResult(RingStatus.FAILED, 503, "No media ports")
BUSY_STATUSES = frozenset({486, 600})


@dataclass
class Originated:
    """How a first leg went: ``result`` (answered, busy, no answer, failed with a SIP
    status), the answered ``leg``, the ``trunk`` that carried it and every ``attempt``."""

    result: RingResult
    leg: CallLeg | None = None
    trunk: str = ""
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.result.status is RingStatus.ANSWERED and self.leg is not None


class Originator:
    def __init__(self, legs: LegFactory, media_host: str) -> None:
        self.legs = legs
        self.media_host = media_host

    def caller_id(self, number: str, name: str | None) -> Address:
        """The From the far end is shown."""
        return self.legs.caller_id(number, name)

    async def ring(self, contacts: Sequence[Contact], timeout: float, shown_as: Address, *,
                   party: Caller | None, number: str, trunk: str = "",
                   user_id: int | None = None, srtp: bool = False) -> Originated:
        """Ring ``contacts`` (showing ``shown_as``) for up to ``timeout`` seconds.

        ``party`` is who is on the leg that answers (None: the phone that answered, whose
        rights are looked up when needed), ``number`` the leg's number, ``user_id`` the user
        on it (default: the party's), ``trunk`` the trunk the contacts are on, if any. SRTP is
        offered (and required of the answer) to contacts on TLS, and to every contact with
        ``srtp`` (a trunk that requires it)."""
        try:
            media = await self.legs.media_leg("a")
        except OSError:
            return Originated(NO_MEDIA, trunk=trunk)
        key = Crypto.generate()  # ours, for the contacts offered SRTP
        bodies = {secure: self._offer(media.port, key if secure else None)
                  for secure in {srtp or on_tls(c.uri) for c in contacts}}
        attempts: list[Attempt] = []
        pending: dict[asyncio.Future[Response], tuple[SipCall, Contact, Attempt]] = {}
        for contact in contacts:
            attempt = Attempt(contact.uri, time.time(), trunk=trunk)
            attempts.append(attempt)
            try:
                sip = self.legs.dial(contact.uri, shown_as,
                                     bodies[srtp or on_tls(contact.uri)], None)
            except (SipError, ParseError, OSError) as exc:
                attempt.ended_at, attempt.code = time.time(), 503
                attempt.disposition = Disposition.FAILED
                log.info("cannot call contact: %s", exc)
                continue
            pending[sip.answer] = (sip, contact, attempt)
        winner: tuple[SipCall, Contact, Attempt] | None = None
        codes: list[int] = []
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
                    sip, contact, att = pending.pop(fut)
                    resp = fut.result()
                    status, success = resp.status, resp.is_success
                    att.code = status
                    att.ended_at = time.time()
                    if success and winner is None:
                        winner = (sip, contact, att)
                        continue
                    codes.append(status)
                    att.disposition = Disposition.BUSY if status in BUSY_STATUSES \
                        else Disposition.FAILED
                    if success:  # a second answer: drop it
                        self.legs.end_quietly(sip, bye=True)
        except BaseException:  # cancelled (shutdown): hang up, give the media ports back
            if winner is not None:
                self.legs.end_quietly(winner[0], bye=True)
            self.legs.release_media(media)
            raise
        finally:
            for sip, _, att in pending.values():  # still ringing, out of time or cancelled
                att.ended_at = time.time()
                att.disposition = Disposition.NO_ANSWER
                self.legs.end_quietly(sip)
        if winner is None:
            self.legs.release_media(media)
            return Originated(_failure(codes), trunk=trunk, attempts=attempts)
        sip, contact, att = winner
        att.answered_at = time.time()
        att.disposition = Disposition.ANSWERED
        if user_id is None and party is not None and party.user is not None:
            user_id = party.user.id
        leg = self._answered(sip, contact, media, party, number, user_id, key)
        if leg is None:
            att.disposition = Disposition.FAILED
            return Originated(RingResult(RingStatus.FAILED, 488, "Bad SDP in the answer"),
                              trunk=trunk, attempts=attempts)
        return Originated(RingResult(RingStatus.ANSWERED, 200, "OK", contact.uri), leg, trunk,
                          attempts)

    def _offer(self, port: int, key: Crypto | None) -> bytes:
        offer = make_offer(self.media_host, port, codecs=("PCMA", "PCMU"), telephone_event=101)
        offer.origin_user = "webfon-pbx"
        if key is not None:
            audio = offer.audio
            assert audio is not None
            audio.proto = "RTP/SAVP"
            add_crypto(audio, key)
        return offer.encode()

    def _answered(self, winner: SipCall, contact: Contact, media: MediaLeg,
                  party: Caller | None, number: str, user_id: int | None,
                  key: Crypto) -> CallLeg | None:
        try:
            answer = sdpx.parse(winner.remote_sdp or b"")
        except sdpx.SdpError:
            answer = None
        info = sdpx.info(answer) if answer is not None else None
        if answer is None or info is None or info.payload_type is None:
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
        return CallLeg(winner, media, number, user_id, answer, party=party,
                       phone=contact.phone)


def _failure(codes: list[int]) -> RingResult:
    """What nobody answering comes to: no answer, busy, or the most telling failure."""
    if not codes:
        return RingResult(RingStatus.NO_ANSWER, 0, "No answer")
    if any(c in BUSY_STATUSES for c in codes):
        return RingResult(RingStatus.BUSY, 486, "Busy")
    best = sorted(codes, key=lambda c: (c >= 500, c))[0]
    return RingResult(RingStatus.FAILED, best, f"Failed ({best})")
