"""Calls the PBX places itself (dialler campaigns, and any call that starts from the PBX rather
than from a phone): the first leg is an outgoing INVITE with the PBX's own offer.

The number must have been admitted for whoever the call is made for
(:meth:`~pbx.admission.Admission.admit`); the :class:`~pbx.routing.Route` it gave says where to
ring: an outside number goes out by the route's trunks in order (the next one when a trunk is
unavailable, as for dialled calls), a user's or an extension's number rings its registered
phones together. The first to answer gives a :class:`~.leg.CallLeg` with its media endpoint
pointed at the far end; the others are cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from enum import StrEnum

from webfon.sip import ParseError, Response, SipError
from webfon.sip.sdp import make_offer
from webfon.sip.ua import Call as SipCall

from .. import sdp as sdpx
from ..cdr import Disposition
from ..destinations.reach import Reach
from ..destinations.trunks import trunk_uri
from ..routing import Route, RouteKind, should_failover
from .factory import LegFactory
from .leg import CallLeg
from .model import Attempt

log = logging.getLogger("pbx.calls")


class Outcome(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"


@dataclass
class Originated:
    outcome: Outcome
    code: int = 0
    reason: str = ""
    leg: CallLeg | None = None
    trunk: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    """Every contact or trunk tried (technical CDR rows)."""


class Originator:
    def __init__(self, legs: LegFactory, reach: Reach, media_host: str) -> None:
        self.legs = legs
        self.reach = reach
        self.media_host = media_host

    async def dial(self, route: Route, presented: tuple[str, str | None],
                   timeout: float) -> Originated:
        """Ring where ``route`` leads for up to ``timeout`` seconds (per trunk), showing
        ``presented`` (number, name) as the caller."""
        if route.kind is RouteKind.EXTERNAL:
            return await self._by_trunks(route, presented, timeout)
        if route.kind in (RouteKind.USER, RouteKind.EXTENSION):
            ext = route.extension
            if route.user is not None:
                ext = await self.reach.extension_for(route.user, ext)
            contacts = await self.reach.contacts(ext.number) if ext is not None else []
            if not contacts:
                return Originated(Outcome.FAILED, 480, "Not registered")
            return await self._ring(contacts, presented, timeout, route.number, "")
        return Originated(Outcome.FAILED, 488, f"cannot call a {route.kind} from the PBX")

    async def _by_trunks(self, route: Route, presented: tuple[str, str | None],
                         timeout: float) -> Originated:
        result = Originated(Outcome.FAILED, 503, "No trunk available")
        tried: list[Attempt] = []
        for trunk in route.trunks:
            result = await self._ring([trunk_uri(trunk, route.number)], presented, timeout,
                                      route.number, trunk.name)
            tried += result.attempts
            result.attempts = tried
            if result.outcome is Outcome.ANSWERED:
                return result
            code = None if result.outcome is Outcome.NO_ANSWER or result.code == 0 \
                else result.code
            if not should_failover(code):
                return result
            log.info("Cen_Sub_SiguienteTrunk: trunk unavailable, trying the next",
                     extra={"trunk": trunk.name, "status": result.code})
        return result

    async def _ring(self, uris: list[str], presented: tuple[str, str | None], timeout: float,
                    number: str, trunk: str) -> Originated:
        try:
            media = await self.legs.media_leg("a")
        except OSError:
            return Originated(Outcome.FAILED, 503, "No media ports")
        offer = make_offer(self.media_host, media.port).encode()
        from_ = self.legs.caller_id(*presented)
        dialled: dict[asyncio.Future[Response], tuple[SipCall, Attempt]] = {}
        attempts: list[Attempt] = []
        for uri in uris:
            attempt = Attempt(uri, time.time(), trunk=trunk)
            attempts.append(attempt)
            try:
                sip = self.legs.dial(uri, from_, offer, None)
            except (SipError, ParseError, OSError) as exc:
                attempt.ended_at, attempt.code = time.time(), 503
                log.info("cannot call: %s", exc, extra={"uri": uri})
                continue
            dialled[sip.answer] = (sip, attempt)
        winner: tuple[SipCall, Attempt] | None = None
        codes: list[int] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while dialled and winner is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            done, _ = await asyncio.wait(list(dialled), timeout=remaining,
                                         return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                sip, att = dialled.pop(fut)
                resp = fut.result()
                att.code = resp.status
                att.ended_at = time.time()
                if resp.is_success and winner is None:
                    winner = (sip, att)
                    continue
                codes.append(att.code)
                att.disposition = Disposition.BUSY if att.code in (486, 600) \
                    else Disposition.FAILED
                if resp.is_success:
                    self.legs.end_quietly(sip, bye=True)
        for sip, att in dialled.values():  # still ringing: cancelled
            att.ended_at = time.time()
            att.disposition = Disposition.NO_ANSWER
            self.legs.end_quietly(sip)
        if winner is None:
            self.legs.release_media(media)
            if not codes:
                return Originated(Outcome.NO_ANSWER, 0, "No answer", attempts=attempts,
                                  trunk=trunk)
            if any(c in (486, 600) for c in codes):
                return Originated(Outcome.BUSY, 486, "Busy", attempts=attempts, trunk=trunk)
            best = sorted(codes, key=lambda c: (c >= 500, c))[0]
            return Originated(Outcome.FAILED, best, f"Failed ({best})", attempts=attempts,
                              trunk=trunk)
        sip, att = winner
        att.answered_at = time.time()
        att.disposition = Disposition.ANSWERED
        try:
            answer = sdpx.parse(sip.remote_sdp or b"")
        except sdpx.SdpError:
            self.legs.end_quietly(sip, bye=True)
            self.legs.release_media(media)
            return Originated(Outcome.FAILED, 488, "Bad SDP in the answer", attempts=attempts,
                              trunk=trunk)
        info = sdpx.info(answer)
        media.set_remote(info.host, info.port)
        media.payload_type = info.payload_type if info.payload_type is not None else 8
        media.dtmf_payload_type = info.dtmf_payload_type
        leg = CallLeg(sip, media, number, None, answer)
        return Originated(Outcome.ANSWERED, 200, "OK", leg, trunk, attempts)
