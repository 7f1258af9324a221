"""Codes a hotel room's phone dials for the PMS interface.

* Room status codes (``hotel_status_codes``, set by an admin): the phone dials ``«dial»#``
  (room clean: ``*81#``), or ``«dial»*<value>#`` for a code that takes a value (minibar item
  and count: ``*83*1202#``); the PMS gets a ``STATUS`` message. Any room, occupied or not (the
  housekeeping staff dial them in vacant rooms).
* Wake-up calls from the guest: ``«wakeup_code»*HHMM#`` (``*55*0730#``) programmes one at the
  next 07:30, ``«wakeup_cancel_code»#`` (``*56#``) cancels the room's; the PMS is told.

The PBX answers with a short confirmation (two beeps) and hangs up; a code it cannot carry out
is refused with the reason (484 a code that needs a value, 403 no guest, 404 nothing to
cancel). ``#`` may arrive percent-encoded (``%23``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from urllib.parse import unquote

from ..calls.model import Call
from ..cdr import Disposition
from ..destinations.base import answer_here
from ..directory import Directory
from ..routing import Caller, Route, RouteKind, reject
from .dialcode import RoomCode, RoomCodeKind
from .model import WakeUpSource
from .repo import HotelRepo
from .reports import Reports
from .times import TimeError, wakeup_instant

log = logging.getLogger("pbx.pms")

_CODE = re.compile(r"^(\*[0-9]{1,6})(?:\*([0-9]{1,12}))?#?$")
CONFIRM_PROMPT = "confirm"


class RoomCodes:
    """The router's :class:`~pbx.routing.DialCodes` for room phones."""

    def __init__(self, repo: HotelRepo, directory: Directory) -> None:
        self.repo = repo
        self.directory = directory

    async def match(self, dialled: str, caller: Caller) -> Route | None:
        if "*" not in dialled and "%2a" not in dialled.lower():
            return None
        assert caller.extension is not None
        m = _CODE.match(unquote(dialled))
        if m is None:
            return None
        room = await self.directory.room_of_extension(caller.extension.id)
        if room is None:
            return None
        dial, value = m.group(1), m.group(2) or ""
        config = await self.repo.config()
        if dial == config.wakeup_code or dial == config.wakeup_cancel_code:
            if not room.occupied:
                return reject(dialled, caller, 403, f"No guest in room {room.room}")
            if dial == config.wakeup_code:
                if not value:
                    return reject(dialled, caller, 484, f"Dial {dial}*HHMM# for a wake-up call")
                return _route(dialled, caller, RoomCode(RoomCodeKind.WAKEUP, room.room,
                                                        value=value))
            return _route(dialled, caller, RoomCode(RoomCodeKind.WAKEUP_CANCEL, room.room))
        for code in await self.repo.status_codes():
            if code.dial != dial:
                continue
            if code.takes_value and not value:
                return reject(dialled, caller, 484, f"Dial {dial}*<value># for {code.label}")
            if value and not code.takes_value:
                return reject(dialled, caller, 484, f"Dial {dial}# for {code.label}")
            return _route(dialled, caller, RoomCode(RoomCodeKind.STATUS, room.room, code.code,
                                                    code.label, value))
        return None


def _route(dialled: str, caller: Caller, code: RoomCode) -> Route:
    return Route(RouteKind.ROOM_CODE, dialled, caller, room_code=code)


class RoomCodeDestination:
    """Carries out a room code, confirms it to the phone and hangs up."""

    def __init__(self, repo: HotelRepo, reports: Reports, wakeups_changed: Callable[[], None],
                 media_host: str, clock: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self.reports = reports
        self.wakeups_changed = wakeups_changed
        self.media_host = media_host
        self.clock = clock

    async def deliver(self, call: Call, route: Route, depth: int) -> None:
        code = route.room_code
        assert code is not None
        config = await self.repo.config()
        now = self.clock()
        if code.kind is RoomCodeKind.STATUS:
            await self.reports.status(code.room, code.code, code.value, code.label, config)
            log.info("room status code", extra={"room": code.room, "code": code.code,
                                                "call_id": call.call_id})
        elif code.kind is RoomCodeKind.WAKEUP:
            try:
                due = wakeup_instant(code.value, None, now, config.zone)
            except TimeError:
                call.refuse(484, "Not a time: dial HHMM")
                return
            wid, new = await self.repo.add_wakeup(code.room, due, WakeUpSource.PHONE, now)
            if new:
                await self.reports.wakeup(code.room, due, True, config)
            self.wakeups_changed()
            log.info("wake-up programmed from the room", extra={
                "room": code.room, "wakeup_id": wid, "due_at": due, "call_id": call.call_id})
        else:
            cancelled = await self.repo.cancel_wakeups(code.room, None, now)
            if not cancelled:
                call.refuse(404, "No wake-up call programmed")
                return
            for w in cancelled:
                await self.reports.wakeup(code.room, w.due_at, False, config)
            self.wakeups_changed()
            log.info("wake-up cancelled from the room", extra={
                "room": code.room, "count": len(cancelled), "call_id": call.call_id})
        await self._confirm(call)

    async def _confirm(self, call: Call) -> None:
        if answer_here(call, self.media_host) is None:
            return
        call.answered_at = time.time()
        call.disposition = Disposition.ANSWERED
        player = call.a.media.play_prompt(CONFIRM_PROMPT)
        await asyncio.wait([player, call.a.ended], return_when=asyncio.FIRST_COMPLETED)
