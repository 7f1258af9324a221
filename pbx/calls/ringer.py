"""Ringing: one or more contacts called together for a call; the first to answer becomes the
call's other party, the rest are cancelled.

The callee is offered the anchor party's SDP (the caller, or the transferee in a blind
transfer) with the PBX's media address; on answer the two media legs are relayed to each
other, the caller gets the callee's answer (with the PBX's address) and ``call.answered`` is
published for the call's first answer. Every contact tried is an :class:`Attempt` of the call.

A caller the PBX answered itself (an IVR menu, a group's waiting line, a callback's requester,
a call the PBX placed itself such as a dialler campaign's) is not answered again: it hears a
ringback tone from the PBX while the contacts ring, unless something already plays to it (a
group's music).

A :class:`Contact` says who answers on it (the registered phone), so the leg that wins knows
whose rights its party has when it transfers the call; a trunk's ring gives the trunk as the
``party`` of whoever answers there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from webfon.rtp.srtp import Crypto
from webfon.sip import ParseError, SipError, SipURI
from webfon.sip.ua import Call as SipCall

from .. import sdp as sdpx
from ..cdr import Disposition
from ..directory import User
from ..events import CallAnswered, Events
from ..media import Leg as MediaLeg
from ..media import connect
from ..routing import Caller
from .active import ActiveCalls
from .factory import LegFactory
from .leg import CallLeg
from .model import Attempt, Call, CallState

log = logging.getLogger("pbx.calls")


class RingStatus(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    CALLER_GONE = "caller_gone"


@dataclass(frozen=True, slots=True)
class Contact:
    """Where to ring: a registered contact and the phone (SIP user name) behind it, or a
    trunk's URI (no phone)."""

    uri: str
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class RingResult:
    status: RingStatus
    code: int = 0
    reason: str = ""
    contact: str = ""
    """The contact that answered."""


CALLER_GONE = RingResult(RingStatus.CALLER_GONE)
NO_ANSWER = RingResult(RingStatus.NO_ANSWER, 0, "No answer")
BUSY = RingResult(RingStatus.BUSY, 486, "Busy Here")


class _RingbackToCaller:
    """Sends the caller 180 Ringing once, when a rung contact first reports progress."""

    __slots__ = ("call",)

    def __init__(self, call: Call) -> None:
        self.call = call

    def __call__(self, name: str, data: dict[str, Any]) -> None:
        call = self.call
        if name in ("ringing", "progress") and not call.ringing_sent \
                and call.a.sip.state == "incoming":
            call.ringing_sent = True
            call.a.ringing()


def on_tls(contact: str) -> bool:
    """A contact reached over TLS (its calls are offered SRTP)."""
    try:
        return SipURI.parse(contact).transport == "tls"
    except ParseError:
        return False


class Ringer:
    def __init__(self, legs: LegFactory, active: ActiveCalls, events: Events,
                 media_host: str) -> None:
        self.legs = legs
        self.active = active
        self.events = events
        self.media_host = media_host

    async def ring(self, call: Call, contacts: Sequence[Contact | str], timeout: float, *,
                   callee: str, callee_user: User | None = None, extension: str | None = None,
                   trunk: str = "", anchor: CallLeg | None = None,
                   lines: dict[str, str] | None = None, srtp: bool = False,
                   party: Caller | None = None) -> RingResult:
        """Ring ``contacts`` together for up to ``timeout`` seconds and connect the first to
        answer with ``anchor`` (default: the caller). ``extension`` is the extension rung,
        whose line is held while ringing and, once answered, until the call ends; ``lines``
        does the same for contacts of several extensions (contact URI → extension).
        ``party`` is who answers, when the contacts are not phones (a trunk). A bare URI is a
        contact with no phone known: whoever answers there has no rights (cannot transfer).

        Contacts on TLS (and every contact with ``srtp``, a trunk that requires it) are
        offered SDES-SRTP only (RTP/SAVP with the PBX's key), the others plain RTP; an answer
        to an SRTP offer without a matching key fails that contact (488)."""
        party_of = party
        party = anchor or call.a
        ringback = party is call.a and call.b is None and not party.pending \
            and not party.media.playing
        if ringback:
            party.media.play_prompt("ringback", loop=True)
        try:
            targets = [c if isinstance(c, Contact) else Contact(c) for c in contacts]
            return await self._ring(call, party, targets, timeout, callee=callee,
                                    callee_user=callee_user, extension=extension, trunk=trunk,
                                    anchor=anchor, lines=lines or {}, answerer=party_of,
                                    srtp=srtp)
        finally:
            if ringback:
                party.media.stop_playing()

    async def _ring(self, call: Call, party: CallLeg, contacts: list[Contact], timeout: float,
                    *, callee: str, callee_user: User | None, extension: str | None,
                    trunk: str, anchor: CallLeg | None, lines: dict[str, str],
                    answerer: Caller | None, srtp: bool) -> RingResult:
        try:
            b_media = await self.legs.media_leg("b")
        except OSError:
            return RingResult(RingStatus.FAILED, 503, "No media ports")
        assert party.sdp is not None
        key = Crypto.generate()  # ours, for the contacts offered SRTP
        offers: dict[bool, bytes] = {}
        try:
            for secure in {srtp or on_tls(c.uri) for c in contacts}:
                offers[secure] = sdpx.relay_offer(party.sdp, self.media_host, b_media.port,
                                                  key if secure else None).encode()
        except sdpx.SdpError as exc:  # the party's last offer holds nothing to relay
            self.legs.release_media(b_media)
            return RingResult(RingStatus.FAILED, exc.status, exc.reason)
        from_ = self.legs.caller_id(*call.presented_as())
        on_event = _RingbackToCaller(call) if anchor is None else None
        dialled: list[tuple[SipCall, Attempt, Contact]] = []
        for contact in contacts:
            attempt = Attempt(contact.uri, time.time(), trunk=trunk)
            call.attempts.append(attempt)
            offer = offers[srtp or on_tls(contact.uri)]
            try:
                dialled.append((self.legs.dial(contact.uri, from_, offer, on_event), attempt,
                                contact))
            except (SipError, ParseError, OSError) as exc:
                attempt.ended_at = time.time()
                attempt.code = 503
                log.info("cannot call contact: %s", exc, extra={"call_id": call.call_id})
        if extension:
            self.active.take_line(extension)
        held = list(dict.fromkeys(lines[c.uri] for c in contacts if c.uri in lines))
        for number in held:
            self.active.take_line(number)
        result = NO_ANSWER
        try:
            result = await self._race(call, party, dialled, b_media, timeout, callee,
                                      callee_user, answerer, transfer=anchor is not None,
                                      key=key if True in offers else None)
            return result
        finally:
            connected = any(leg.media is b_media for leg in call.legs())
            if extension:
                if connected:
                    call.extensions.append(extension)  # held until the call ends
                else:
                    self.active.free_line(extension)
            winner = lines.get(result.contact) if connected else None
            for number in held:
                if number == winner:
                    call.extensions.append(number)
                else:
                    self.active.free_line(number)

    async def _race(self, call: Call, party: CallLeg,
                    dialled: list[tuple[SipCall, Attempt, Contact]], b_media: MediaLeg,
                    timeout: float, callee: str, callee_user: User | None,
                    answerer: Caller | None, *, transfer: bool,
                    key: Crypto | None = None) -> RingResult:
        pending = {sip.answer: (sip, att, contact) for sip, att, contact in dialled}
        gone = party.ended
        winner: tuple[SipCall, Attempt, Contact] | None = None
        codes: list[int] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while pending and winner is None:
            remaining = deadline - loop.time()
            if remaining <= 0 or gone.done():
                break
            done, _ = await asyncio.wait([*pending, gone], timeout=remaining,
                                         return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                if fut is gone:
                    continue
                sip, att, contact = pending.pop(fut)
                resp = fut.result()
                att.code = resp.status
                if resp.is_success and winner is None and not gone.done():
                    winner = (sip, att, contact)
                else:
                    att.ended_at = time.time()
                    att.disposition = Disposition.BUSY if resp.status in (486, 600) else (
                        Disposition.CANCELLED if resp.status == 487 else Disposition.FAILED)
                    codes.append(resp.status)
                    if resp.is_success:  # a second answer: drop it
                        self.legs.end_quietly(sip, bye=True)
        # stop everything that is still ringing
        for sip, att, _ in pending.values():
            att.ended_at = time.time()
            att.disposition = Disposition.CANCELLED if gone.done() else Disposition.NO_ANSWER
            self.legs.end_quietly(sip)
        if winner is None:
            self.legs.release_media(b_media)
            if gone.done():
                return CALLER_GONE
            if not codes:
                return NO_ANSWER
            if any(c in (486, 600) for c in codes):
                return BUSY
            best = sorted(codes, key=lambda c: (c >= 500, c))[0]
            return RingResult(RingStatus.FAILED, best, "")
        sip, att, contact = winner
        att.answered_at = time.time()
        att.disposition = Disposition.ANSWERED
        try:
            answer = sdpx.parse(sip.remote_sdp or b"")
        except sdpx.SdpError:
            self.legs.end_quietly(sip, bye=True)
            self.legs.release_media(b_media)
            return RingResult(RingStatus.FAILED, 488, "Bad SDP from callee")
        info = sdpx.info(answer)
        if key is not None and b"RTP/SAVP" in (sip.local_sdp or b""):
            remote = info.crypto
            if remote is None or remote.tag != key.tag or remote.suite != key.suite:
                log.warning("SRTP offered, answered without our crypto suite",
                            extra={"call_id": call.call_id, "contact": att.target})
                self.legs.end_quietly(sip, bye=True)
                self.legs.release_media(b_media)
                att.disposition = Disposition.FAILED
                att.code = 488
                return RingResult(RingStatus.FAILED, 488, "SRTP refused by callee")
            b_media.secure(remote, key)
        b_media.set_remote(info.host, info.port, info.rtcp_port)
        b_media.payload_type = info.payload_type if info.payload_type is not None else 8
        b_media.dtmf_payload_type = info.dtmf_payload_type
        new = CallLeg(sip, b_media, callee, callee_user.id if callee_user else None, answer,
                      party=answerer, phone=contact.phone)
        a = call.a
        if party is a and call.b is None and a.pending:
            a_answer = sdpx.relay_answer(a.sdp or answer, answer, self.media_host, a.media.port,
                                         a.media.crypto)
            a.media.payload_type = b_media.payload_type
            if not a.accept(a_answer.encode()):
                self.legs.end_quietly(sip, bye=True)
                self.legs.release_media(b_media)
                return CALLER_GONE
        connect(party.media, b_media)
        old = call.other(party)
        if old is not None and old is not new and not transfer:
            self.legs.drop(old)
        if party is a:
            call.b = new
        else:
            call.a = new
            call.b = party
        call.attach(new)
        if call.answered_at is None:
            call.answered_at = time.time()
            call.disposition = Disposition.ANSWERED
            await self.events.emit(call.progress(CallAnswered))
        call.state = CallState.CONNECTED
        call.changed.set()
        log.info("call connected", extra={"call_id": call.call_id, "callee": callee})
        return RingResult(RingStatus.ANSWERED, 200, contact=att.target)
