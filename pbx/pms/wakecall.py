"""One wake-up call: the PBX rings a room's phones and plays the wake-up message to whoever
answers.

The call is the PBX's own (placed for :data:`~pbx.routing.SYSTEM`): it passes admission like
any call, so a room whose guest asked not to be disturbed is still woken. The phones ring
together with the PBX's offer (G.711, RFC 4733) for ``wakeup_ring_s``, showing
``wakeup_caller_name``; the first to answer hears the message (``wakeup_prompt_id``, an
uploaded prompt, or the generated wake-up tune) ``wakeup_repeat`` times, then the PBX hangs
up. A room already on the phone (every line in use) counts as busy. Each call leaves a CDR
row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from webfon.rtp.prompts import prompt
from webfon.rtp.tones import g711_frames
from webfon.sip import ParseError, Response, SipError
from webfon.sip.sdp import make_offer
from webfon.sip.ua import Call as SipCall

from .. import sdp as sdpx
from ..admission import Admission
from ..calls.active import ActiveCalls
from ..calls.factory import LegFactory
from ..calls.ringer import Contact
from ..cdr import CdrRecord, CdrWriter, Direction, Disposition
from ..destinations.reach import Reach
from ..directory import Directory
from ..media import Leg as MediaLeg
from ..routing import SYSTEM, RouteKind
from .model import HotelConfig, Room

log = logging.getLogger("pbx.pms")

WAKEUP_PROMPT = "wakeup"
CALLER_NUMBER = "despertador"


class Outcome(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"


@dataclass(frozen=True)
class Rang:
    outcome: Outcome
    cause: str


class WakeUpCaller:
    def __init__(self, admission: Admission, reach: Reach, legs: LegFactory,
                 active: ActiveCalls, directory: Directory, cdr: CdrWriter,
                 media_host: str) -> None:
        self.admission = admission
        self.reach = reach
        self.legs = legs
        self.active = active
        self.directory = directory
        self.cdr = cdr
        self.media_host = media_host

    async def wake(self, room: Room, config: HotelConfig) -> Rang:
        route = await self.admission.admit(room.extension, SYSTEM)
        if route.kind not in (RouteKind.EXTENSION, RouteKind.USER) or route.extension is None:
            return Rang(Outcome.FAILED, f"{route.status} {route.reason}".strip()
                        if route.kind is RouteKind.REJECT else f"room is a {route.kind}")
        ext = route.extension
        if self.active.lines_in_use(ext.number) >= ext.line_count:
            return Rang(Outcome.BUSY, "busy")
        contacts = await self.reach.contacts(ext.number)
        if not contacts:
            return Rang(Outcome.FAILED, "no phone registered")
        try:
            media = await self.legs.media_leg("wakeup")
        except OSError:
            return Rang(Outcome.FAILED, "no media ports")
        self.active.take_line(ext.number)
        started = time.time()
        record = CdrRecord("", CALLER_NUMBER, ext.number, Direction.INTERNAL, started,
                           caller_name=config.wakeup_caller_name[:128],
                           peer_user_id=room.user_id, extension=ext.number)
        try:
            sip, rang = await self._ring(contacts, media, config)
            if sip is not None:
                record.call_id = sip.call_id
                record.answered_at = time.time()
                await self._message(sip, media, config)
            record.disposition = {Outcome.ANSWERED: Disposition.ANSWERED,
                                  Outcome.BUSY: Disposition.BUSY,
                                  Outcome.NO_ANSWER: Disposition.NO_ANSWER}.get(
                                      rang.outcome, Disposition.FAILED)
            record.hangup_cause = f"wake-up: {rang.cause}"[:64]
            return rang
        finally:
            self.active.free_line(ext.number)
            self.legs.release_media(media)
            record.ended_at = time.time()
            record.call_id = record.call_id or f"wakeup-{room.room}-{started:.0f}"
            self.cdr.submit(record, publish=False)

    async def _ring(self, contacts: list[Contact], media: MediaLeg, config: HotelConfig
                    ) -> tuple[SipCall | None, Rang]:
        offer = make_offer(self.media_host, media.port).encode()
        from_ = self.legs.caller_id(CALLER_NUMBER, config.wakeup_caller_name)
        pending: dict[asyncio.Future[Response], SipCall] = {}
        for contact in contacts:
            uri = contact.uri
            try:
                sip = self.legs.dial(uri, from_, offer, None)
            except (SipError, ParseError, OSError) as exc:
                log.info("wake-up: cannot call %s: %s", uri, exc)
                continue
            pending[sip.answer] = sip
        winner: SipCall | None = None
        codes: list[int] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.wakeup_ring_s
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
                    else:
                        codes.append(resp.status)
                        if resp.is_success:
                            self.legs.end_quietly(sip, bye=True)
        finally:
            for sip in pending.values():  # still ringing (or we were cancelled)
                self.legs.end_quietly(sip)
        if winner is None:
            if not codes:
                return None, Rang(Outcome.NO_ANSWER, "no answer")
            if any(c in (486, 600) for c in codes):
                return None, Rang(Outcome.BUSY, "busy")
            return None, Rang(Outcome.FAILED, f"refused ({min(codes)})")
        try:
            info = sdpx.info(sdpx.parse(winner.remote_sdp or b""))
        except sdpx.SdpError:
            self.legs.end_quietly(winner, bye=True)
            return None, Rang(Outcome.FAILED, "bad SDP in the answer")
        media.set_remote(info.host, info.port)
        media.payload_type = info.payload_type if info.payload_type is not None else 8
        return winner, Rang(Outcome.ANSWERED, "answered")

    async def _message(self, sip: SipCall, media: MediaLeg, config: HotelConfig) -> None:
        samples = None
        if config.wakeup_prompt_id is not None:
            samples = await self.directory.ivr.prompt(config.wakeup_prompt_id)
        if samples is None:
            samples = prompt(WAKEUP_PROMPT)
        frames = g711_frames(np.tile(samples, config.wakeup_repeat), media.payload_type)
        player = media.play(frames)
        try:
            await asyncio.wait([player, sip.ended], return_when=asyncio.FIRST_COMPLETED)
        finally:
            media.stop_playing()
            if not sip.ended.done():
                with contextlib.suppress(SipError, OSError, TimeoutError):
                    await asyncio.wait_for(sip.bye(), 5)
