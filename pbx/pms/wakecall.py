"""One wake-up call: the PBX rings a room's phones and plays the wake-up message to whoever
answers.

The call is the PBX's own (placed for :data:`~pbx.routing.SYSTEM`): it passes admission like
any call, so a room whose guest asked not to be disturbed is still woken. The phones ring
together (:class:`~pbx.calls.originate.Originator`) for ``wakeup_ring_s``, showing
``wakeup_caller_name``; the first to answer hears the message (``wakeup_prompt_id``, an
uploaded prompt, or the generated wake-up tune) ``wakeup_repeat`` times, then the PBX hangs
up. A room already on the phone (every line in use) counts as busy. Each call leaves a CDR
row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from webfon.rtp.prompts import prompt
from webfon.rtp.tones import g711_frames

from ..admission import Admission
from ..calls.active import ActiveCalls
from ..calls.factory import LegFactory
from ..calls.leg import CallLeg
from ..calls.originate import Originated, Originator
from ..calls.ringer import RingStatus
from ..cdr import CdrRecord, CdrWriter, Direction, Disposition
from ..destinations.reach import Reach
from ..directory import Directory
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


OUTCOMES = {RingStatus.ANSWERED: Outcome.ANSWERED, RingStatus.NO_ANSWER: Outcome.NO_ANSWER,
            RingStatus.BUSY: Outcome.BUSY}
"""The PMS knows four results: anything else (a phone that refused the call, not busy; the
PBX unable to place it) is failed."""
DISPOSITIONS = {Outcome.ANSWERED: Disposition.ANSWERED, Outcome.NO_ANSWER: Disposition.NO_ANSWER,
                Outcome.BUSY: Disposition.BUSY, Outcome.FAILED: Disposition.FAILED}


@dataclass(frozen=True)
class Rang:
    outcome: Outcome
    cause: str


class WakeUpCaller:
    def __init__(self, admission: Admission, reach: Reach, legs: LegFactory,
                 originator: Originator, active: ActiveCalls, directory: Directory,
                 cdr: CdrWriter) -> None:
        self.admission = admission
        self.reach = reach
        self.legs = legs
        self.originator = originator
        self.active = active
        self.directory = directory
        self.cdr = cdr

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
        self.active.take_line(ext.number)
        started = time.time()
        record = CdrRecord("", CALLER_NUMBER, ext.number, Direction.INTERNAL, started,
                           caller_name=config.wakeup_caller_name[:128],
                           peer_user_id=room.user_id, extension=ext.number)
        leg: CallLeg | None = None
        rang = Rang(Outcome.FAILED, "not placed")
        try:
            placed = await self.originator.ring(
                contacts, config.wakeup_ring_s,
                self.legs.caller_id(CALLER_NUMBER, config.wakeup_caller_name),
                party=SYSTEM, number=ext.number)
            leg = placed.leg
            rang = _rang(placed)
            if leg is not None:
                record.call_id = leg.sip.call_id
                record.answered_at = time.time()
                await self._message(leg, config)
            return rang
        finally:
            self.active.free_line(ext.number)
            if leg is not None:
                self.legs.release(leg)
            record.disposition = DISPOSITIONS[rang.outcome]
            record.hangup_cause = f"wake-up: {rang.cause}"[:64]
            record.ended_at = time.time()
            record.call_id = record.call_id or f"wakeup-{room.room}-{started:.0f}"
            self.cdr.submit(record, publish=False)

    async def _message(self, leg: CallLeg, config: HotelConfig) -> None:
        samples = None
        if config.wakeup_prompt_id is not None:
            samples = await self.directory.ivr.prompt(config.wakeup_prompt_id)
        if samples is None:
            samples = prompt(WAKEUP_PROMPT)
        media = leg.media
        player = media.play(g711_frames(np.tile(samples, config.wakeup_repeat),
                                        media.payload_type))
        try:
            await asyncio.wait([player, leg.ended], return_when=asyncio.FIRST_COMPLETED)
        finally:
            media.stop_playing()
            await leg.hangup(5.0)


def _rang(placed: Originated) -> Rang:
    """What a wake-up attempt came to, as the PMS is told it."""
    result = placed.result
    if placed.answered:
        return Rang(Outcome.ANSWERED, "answered")
    outcome = OUTCOMES.get(result.status, Outcome.FAILED)
    if outcome is Outcome.NO_ANSWER:
        return Rang(outcome, "no answer")
    if outcome is Outcome.BUSY:
        return Rang(outcome, "busy")
    return Rang(Outcome.FAILED, (result.reason or "failed").lower())  # "failed (403)"…
