"""A conference room as destination: dial-in by the room's number, with its PIN if it has one.

The PBX answers the caller itself; a room with a PIN asks for it (a short chime, then the
digits, ended by ``#`` or a pause), by RFC 4733 events or SIP INFO, with ``PIN_TRIES`` tries —
the room's owner (the call's caller, as admitted) is never asked. PINs are checked bounded and
guessing is limited per phone and per room (:mod:`pbx.conference.pins`). A full room answers
486 before anything is answered. The caller then takes part until they hang up
(:class:`~pbx.conference.service.Conferences`).
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..calls.model import Call, CallState
from ..cdr import Disposition
from ..conference.pins import ConferencePins, PinCheck, pin_source
from ..conference.service import Conferences
from ..events import CallAnswered, Events
from ..keys import Keys
from ..repo.conferences import ConferenceRoom
from ..routing import Route
from .base import answer_here

log = logging.getLogger("pbx.destinations")

PIN_TRIES = 3
PIN_MAX_DIGITS = 12
FIRST_KEY_TIMEOUT_S = 10.0
NEXT_KEY_TIMEOUT_S = 4.0


class ConferenceDestination:
    def __init__(self, conferences: Conferences, pins: ConferencePins, events: Events,
                 media_host: str) -> None:
        self.conferences = conferences
        self.pins = pins
        self.events = events
        self.media_host = media_host

    async def deliver(self, call: Call, route: Route, depth: int) -> None:
        room = route.conference
        assert room is not None
        if self.conferences.full(room):
            call.refuse(486, "Conference full")
            return
        if answer_here(call, self.media_host) is None:
            return
        owner = room.owner_user_id is not None and room.owner_user_id == _user_id(call)
        # listening from the answer on: a caller may key the PIN before the prompt
        keys = Keys(call.a.media) if room.pin_hash and not owner else None
        call.state = CallState.CONFERENCE
        call.answered_at = time.time()
        call.disposition = Disposition.ANSWERED
        await self.events.emit(call.progress(CallAnswered))
        if keys is not None and not await self._pin(call, room, keys):
            call.hangup_cause = "conference: no valid PIN"
            return
        if self.conferences.full(room):  # filled up while the PIN was keyed in
            call.hangup_cause = "conference full"
            await _play(call, "busy")
            return
        await self.conferences.take_part(call, room)

    async def _pin(self, call: Call, room: ConferenceRoom, keys: Keys) -> bool:
        media = call.a.media
        gone = call.a.ended
        source = pin_source(call.caller, call.presented_as()[0])
        try:
            for _ in range(PIN_TRIES):
                media.play_prompt("conference_pin")
                reading = asyncio.ensure_future(keys.read(
                    PIN_MAX_DIGITS, first_timeout=FIRST_KEY_TIMEOUT_S,
                    next_timeout=NEXT_KEY_TIMEOUT_S))
                await asyncio.wait([reading, gone], return_when=asyncio.FIRST_COMPLETED)
                if gone.done():
                    reading.cancel()
                    return False
                digits = reading.result()
                media.stop_playing()
                if digits:
                    verdict = await self.pins.check(room, digits, call.caller, source,
                                                    call.call_id)
                    if verdict is PinCheck.OK:
                        return True
                    if verdict is PinCheck.BUSY:
                        log.warning("conference PIN checks busy", extra={
                            "call_id": call.call_id, "room": room.number})
                        await _play(call, "busy")
                        return False
                log.info("conference PIN refused", extra={"call_id": call.call_id,
                                                          "room": room.number})
                await _play(call, "conference_pin_wrong")
            return False
        finally:
            media.stop_playing()
            keys.close()


def _user_id(call: Call) -> int | None:
    return call.caller.user.id if call.caller.user is not None else None


async def _play(call: Call, name: str) -> None:
    if call.a.terminated:
        return
    player = call.a.media.play_prompt(name)
    await asyncio.wait([player, call.a.ended], return_when=asyncio.FIRST_COMPLETED)
