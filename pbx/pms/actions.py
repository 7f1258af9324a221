"""What the PMS asks of the PBX (through CHAR), carried out.

Actions and the fields of their entries (``room`` defaults to the request's ``address``):

=============  ==========================================================================
``CHECKIN``    ``name`` (guest's name: shown on calls from the room and in the directory),
               ``language``, ``guest`` (the PMS's id) — opens the room's extension
``GUESTDATA``  ``name``, ``language``, ``guest`` — changes the guest's data
``ROOMCHANGE`` ``newroom`` — the guest, their DND, message waiting and wake-up calls move
``DND``        ``status`` ``1``/``0`` — calls to the room are refused while on
``MW``         ``status`` ``1``/``0`` — the room phone's message-waiting lamp (SIP NOTIFY)
``WAKEUP``     ``status`` ``1`` with ``time`` (``HH:MM[:SS]``, local) and optional ``date``
               (``YYYY-MM-DD``) programmes a wake-up call; ``0`` cancels it (every pending
               one of the room without ``time``)
``CHECKOUT``   — closes the extension; the reply (and a ``CDR`` message) carries the stay's
               calls
``CDR``        ``date`` (a local day; default the current stay) — the room's calls
=============  ==========================================================================

Every entry is checked before any is carried out, so a request with a mistake changes
nothing; each failure has its :class:`~.protocol.ResultCode` and says which room and field.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..directory import Directory
from .model import BilledCall, HotelConfig, Room, Stay, WakeUpSource
from .protocol import CharError, CharRequest, ResultCode, reply
from .repo import HotelRepo, RoomConflict
from .times import TimeError, day_bounds, local, wakeup_instant

log = logging.getLogger("pbx.pms")

Apply = Callable[[], Awaitable[list[dict[str, str]] | None]]
"""Carries out one checked entry; returns the calls it reports, if any."""

MAX_NAME = 128


class PmsActions:
    def __init__(self, repo: HotelRepo, directory: Directory,
                 notify_mwi: Callable[[int], Awaitable[Any]],
                 wakeups_changed: Callable[[], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self.directory = directory
        self.notify_mwi = notify_mwi
        self.wakeups_changed = wakeups_changed
        self.clock = clock
        self._checks: dict[str, Callable[[dict[str, Any], HotelConfig], Awaitable[Apply]]] = {
            "CHECKIN": self._checkin, "GUESTDATA": self._guestdata,
            "ROOMCHANGE": self._roomchange, "DND": self._dnd, "MW": self._mw,
            "WAKEUP": self._wakeup, "CHECKOUT": self._checkout, "CDR": self._cdr}

    @property
    def actions(self) -> list[str]:
        return list(self._checks)

    async def handle(self, request: CharRequest, config: HotelConfig) -> dict[str, Any]:
        """Carry out an authenticated request for this site; the reply document."""
        check = self._checks.get(request.action)
        if check is None:
            raise CharError(ResultCode.UNKNOWN_ACTION,
                            f"Unknown action {request.action!r}; known: "
                            f"{', '.join(self._checks)}")
        entries = request.entries() or [{}]
        for entry in entries:
            if not entry.get("room"):
                if not request.address:
                    raise CharError(ResultCode.INVALID_DATA, "No room: give address or room")
                entry["room"] = request.address
        planned = [await check(entry, config) for entry in entries]
        reported: list[dict[str, str]] = []
        for apply in planned:
            calls = await apply()
            if calls is not None:
                reported += calls
        self.directory.invalidate()
        log.info("pms action", extra={"action": request.action, "address": request.address,
                                      "rooms": [str(e["room"]) for e in entries]})
        if request.action in ("CHECKOUT", "CDR"):
            return reply(data={"CDR": reported})
        return reply()

    # ------------------------------------------------------------------ checks
    async def _room(self, entry: dict[str, Any], *, occupied: bool | None = True,
                    key: str = "room") -> Room:
        number = _text(entry, key, 16, required=True)
        room = await self.repo.room(number)
        if room is None:
            raise CharError(ResultCode.UNKNOWN_ROOM, f"Unknown room {number!r}")
        if occupied is True and not room.occupied:
            raise CharError(ResultCode.CONFLICT, f"Room {number} has no guest checked in")
        if occupied is False and room.occupied:
            raise CharError(ResultCode.CONFLICT,
                            f"Room {number} is occupied (check the guest out first)")
        return room

    async def _stay(self, room: Room) -> Stay:
        stay = await self.repo.stay(room.stay_id) if room.stay_id is not None else None
        if stay is None:
            raise CharError(ResultCode.CONFLICT, f"Room {room.room} has no guest checked in")
        return stay

    async def _checkin(self, entry: dict[str, Any], config: HotelConfig) -> Apply:
        room = await self._room(entry, occupied=False)
        name = _text(entry, "name", MAX_NAME, required=True)
        guest = _text(entry, "guest", 64)
        language = _text(entry, "language", 8)

        async def apply() -> None:
            stay = await self._guarded(self.repo.check_in(room, name, guest, language,
                                                          self.clock()))
            log.info("check-in", extra={"room": room.room, "stay_id": stay.id,
                                        "extension": room.extension})
            return None

        return apply

    async def _guestdata(self, entry: dict[str, Any], config: HotelConfig) -> Apply:
        room = await self._room(entry)
        stay = await self._stay(room)
        fields = {k: (_text(entry, k, n) if k in entry else None)
                  for k, n in (("name", MAX_NAME), ("guest", 64), ("language", 8))}
        if all(v is None for v in fields.values()):
            raise CharError(ResultCode.INVALID_DATA,
                            f"Room {room.room}: nothing to change (name, language, guest)")
        if fields["name"] == "":
            raise CharError(ResultCode.INVALID_DATA, f"Room {room.room}: name is empty")

        async def apply() -> None:
            await self.repo.update_guest(room, stay, name=fields["name"],
                                         guest_id=fields["guest"], language=fields["language"])
            return None

        return apply

    async def _roomchange(self, entry: dict[str, Any], config: HotelConfig) -> Apply:
        old = await self._room(entry)
        stay = await self._stay(old)
        key = next((k for k in ("newroom", "new_room", "to") if entry.get(k)), "newroom")
        new = await self._room(entry, occupied=False, key=key)
        if new.id == old.id:
            raise CharError(ResultCode.INVALID_DATA, f"Room {old.room}: newroom is the same")

        async def apply() -> None:
            await self._guarded(self.repo.move(old, new, stay, self.clock()))
            self.wakeups_changed()
            if old.message_waiting:
                await self._lamp(old)
                await self._lamp(new)
            log.info("room change", extra={"room": old.room, "to": new.room,
                                           "stay_id": stay.id})
            return None

        return apply

    async def _dnd(self, entry: dict[str, Any], config: HotelConfig) -> Apply:
        room = await self._room(entry)
        on = _status(entry, room)

        async def apply() -> None:
            await self.repo.set_flag(room, "dnd", on, self.clock())
            return None

        return apply

    async def _mw(self, entry: dict[str, Any], config: HotelConfig) -> Apply:
        room = await self._room(entry)
        on = _status(entry, room)

        async def apply() -> None:
            await self.repo.set_flag(room, "message_waiting", on, self.clock())
            await self._lamp(room)
            return None

        return apply

    async def _wakeup(self, entry: dict[str, Any], config: HotelConfig) -> Apply:
        room = await self._room(entry)
        on = _status(entry, room, default="1")
        time_text = _text(entry, "time", 8, required=on)
        date_text = _text(entry, "date", 10) or None
        due: float | None = None
        if time_text:
            try:
                due = wakeup_instant(time_text, date_text, self.clock(), config.zone)
            except TimeError as exc:
                raise CharError(ResultCode.INVALID_DATA, f"Room {room.room}: {exc}") from None

        async def apply() -> None:
            now = self.clock()
            if on:
                assert due is not None
                wid, _ = await self.repo.add_wakeup(room.room, due, WakeUpSource.PMS, now)
                log.info("wake-up programmed", extra={"room": room.room, "wakeup_id": wid,
                                                      "due_at": due})
            else:
                cancelled = await self.repo.cancel_wakeups(room.room, due, now)
                if due is not None and not cancelled:
                    raise CharError(ResultCode.CONFLICT,
                                    f"Room {room.room} has no wake-up call at {time_text}")
                log.info("wake-up cancelled", extra={"room": room.room,
                                                     "count": len(cancelled)})
            self.wakeups_changed()
            return None

        return apply

    async def _checkout(self, entry: dict[str, Any], config: HotelConfig) -> Apply:
        room = await self._room(entry)
        stay = await self._stay(room)

        async def apply() -> list[dict[str, str]]:
            calls = [call_entry(c, config) for c in await self.repo.stay_calls(stay.id)]
            await self._guarded(self.repo.check_out(room, stay, self.clock(),
                                                    message=("CDR", {"CDR": calls})))
            self.wakeups_changed()
            if room.message_waiting:
                await self._lamp(room)
            log.info("check-out", extra={"room": room.room, "stay_id": stay.id,
                                         "calls": len(calls)})
            return calls

        return apply

    async def _cdr(self, entry: dict[str, Any], config: HotelConfig) -> Apply:
        room = await self._room(entry, occupied=None)
        date_text = _text(entry, "date", 10)
        if date_text:
            try:
                since, until = day_bounds(date_text, config.zone)
            except TimeError as exc:
                raise CharError(ResultCode.INVALID_DATA, f"Room {room.room}: {exc}") from None

            async def by_day() -> list[dict[str, str]]:
                return [call_entry(c, config)
                        for c in await self.repo.room_calls(room.room, since, until)]

            return by_day
        if not room.occupied:
            raise CharError(ResultCode.CONFLICT,
                            f"Room {room.room} has no guest checked in: give a date")
        stay = await self._stay(room)

        async def of_stay() -> list[dict[str, str]]:
            return [call_entry(c, config) for c in await self.repo.stay_calls(stay.id)]

        return of_stay

    # ------------------------------------------------------------------ helpers
    async def _lamp(self, room: Room) -> None:
        if room.user_id is not None:
            await self.notify_mwi(room.user_id)

    @staticmethod
    async def _guarded(step: Awaitable[Any]) -> Any:
        try:
            return await step
        except RoomConflict as exc:
            raise CharError(ResultCode.CONFLICT,
                            f"Room {exc} changed meanwhile: ask again") from None


def call_entry(call: BilledCall, config: HotelConfig) -> dict[str, str]:
    """A billed call as the PMS receives it (``CALL`` messages, ``CDR`` lists)."""
    date, at = local(call.answered_at or call.started_at, config.zone)
    return {"room": call.room, "call_id": call.call_id, "number": call.number, "date": date,
            "time": at, "duration": str(int(-(-call.billsec // 1))),
            "external": "1" if call.external else "0", "trunk": call.trunk}


def _text(entry: dict[str, Any], key: str, limit: int, *, required: bool = False) -> str:
    value = entry.get(key)
    if value is None or value == "":
        if required:
            where = f"Room {entry['room']}: " if key != "room" and entry.get("room") else ""
            raise CharError(ResultCode.INVALID_DATA, f"{where}{key} is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise CharError(ResultCode.INVALID_DATA, f"{key} must be text")
    text = str(value).strip()
    if len(text) > limit or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise CharError(ResultCode.INVALID_DATA,
                        f"{key} must be at most {limit} printable characters")
    return text


def _status(entry: dict[str, Any], room: Room, default: str | None = None) -> bool:
    value = entry.get("status", default)
    text = str(value).strip().lower() if value is not None else ""
    if text in ("1", "true", "on"):
        return True
    if text in ("0", "false", "off"):
        return False
    raise CharError(ResultCode.INVALID_DATA, f"Room {room.room}: status must be 1 or 0")
