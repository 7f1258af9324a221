"""The PBX's conference rooms in progress, and how a call gets into one.

* Dialled (:mod:`pbx.destinations.conference`): the caller's leg takes part until it leaves
  (:meth:`Conferences.take_part`); its call is the participant's call.
* Transferred (REFER to the room's number, how the web phone's «Conferencia» brings in the
  parties of its active and held lines): the room's number is admitted for the transferor as
  any blind transfer is (:mod:`pbx.features.transfer`); the transferee's leg leaves its call
  for a call of its own in the room (:meth:`Conferences.take_transferee`), which holds the
  transferee's extension line, knows who is on it (its party) and writes its own CDR rows
  (with who transferred it) when it ends; the transferor's leg is let go by the transfer.
  Only the room's owner may transfer into a room with a PIN.

A room is opened by its first participant and closed by its last; an ad-hoc room (made by
FONBO for one «Conferencia») is deleted with its number when it closes, or by :meth:`sweep`
when nobody joined it before it expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time

from ..admission import NotAdmitted, admitted
from ..calls.active import ActiveCalls
from ..calls.leg import CallLeg
from ..calls.lifecycle import CallLifecycle
from ..calls.model import Call, CallState
from ..cdr import Direction, Disposition
from ..directory import Directory
from ..features.parties import Parties
from ..repo.conferences import ConferenceRepo, ConferenceRoom
from ..routing import Caller, Route, RouteKind
from ..tasks import Background
from .room import Room

log = logging.getLogger("pbx.conference")

SWEEP_INTERVAL_S = 30.0


class Conferences:
    def __init__(self, repo: ConferenceRepo, directory: Directory, parties: Parties,
                 active: ActiveCalls, lifecycle: CallLifecycle, background: Background) -> None:
        self.repo = repo
        self.directory = directory
        self.parties = parties
        self.active = active
        self.lifecycle = lifecycle
        self.background = background
        self.rooms: dict[str, Room] = {}
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ rooms
    def full(self, config: ConferenceRoom) -> bool:
        room = self.rooms.get(config.number)
        return room is not None and room.full

    def _open(self, config: ConferenceRoom) -> Room:
        room = self.rooms.get(config.number)
        if room is None:
            room = self.rooms[config.number] = Room(config, self._closed)
            log.info("conference opened", extra={"room": config.number,
                                                 "adhoc": config.adhoc, "beep": config.beep})
        return room

    def _closed(self, room: Room) -> None:
        if self.rooms.get(room.number) is room:
            del self.rooms[room.number]
        log.info("conference closed", extra={"room": room.number, "peak": room.peak})
        if room.config.adhoc:
            self.background.spawn(self.repo.delete_adhoc(room.config.id))

    def listing(self) -> list[dict[str, object]]:
        """The rooms in progress, for the control API."""
        return [{"number": r.number, "adhoc": r.config.adhoc,
                 "participants": [{"number": p.leg.number, "user_id": p.leg.user_id,
                                   "joined_at": p.joined_at} for p in r.participants]}
                for r in self.rooms.values()]

    # ------------------------------------------------------------------ taking part
    async def take_part(self, call: Call, config: ConferenceRoom) -> None:
        """``call.a`` (answered) is in the room until it hangs up or the room puts it out;
        then it is hung up."""
        leg = call.a
        room = self._open(config)
        participant = room.join(leg)
        left = asyncio.ensure_future(participant.left.wait())
        try:
            await asyncio.wait([left, leg.ended], return_when=asyncio.FIRST_COMPLETED)
        finally:
            left.cancel()
            room.leave(participant)
        if not leg.terminated:
            await leg.hangup()

    async def take_transferee(self, call: Call, leg: CallLeg, transferor: Caller,
                              transferee: CallLeg, route: Route) -> int:
        """Move ``transferee`` from ``call`` into the room of ``route``, at the request of
        ``transferor`` on ``leg`` (the route admitted for them:
        :class:`~pbx.admission.NotAdmitted` for any other route); the SIP status for the
        transfer's NOTIFY (200 when it is in; 403 not the owner of a room with a PIN; 486
        full)."""
        config = route.conference
        if not admitted(route) or route.kind is not RouteKind.CONFERENCE or config is None:
            raise NotAdmitted(f"not an admitted conference route: {route.kind} {route.number}")
        if config.pin_hash and (transferor.user is None
                                or transferor.user.id != config.owner_user_id):
            return 403
        if self.full(config):
            return 486
        was_caller = transferee is call.a
        line = self._line_of(call, transferee, was_caller)
        caller = call.caller if was_caller else await self._caller_of(transferee)
        if transferee.party is None:
            transferee.party = caller  # the caller's leg of its own call from now on
        transferee.detach()
        if was_caller:
            call.a = leg
        call.b = None
        if line is not None:
            call.extensions.remove(line)
        trunk = self._trunk_of(call, transferee)
        if trunk:
            call.trunks.remove(trunk)
        now = time.time()
        moved = Call(f"{call.call_id}-conf{next(self._ids)}", transferee, config.number, caller,
                     call.features, direction=Direction.INTERNAL, started_at=now,
                     answered_at=now, disposition=Disposition.ANSWERED,
                     state=CallState.CONFERENCE)
        moved.callee = config.number
        moved.transferred_by = transferor.display_number
        self.active.add(moved)
        if line is not None:
            moved.extensions.append(line)  # the line the old call held goes with its party
        if trunk:
            moved.trunks.append(trunk)  # and the trunk call an outside party is on
            moved.trunk = trunk
        moved.attach(transferee)
        log.info("transferred into a conference", extra={"call_id": call.call_id,
                                                        "room": config.number,
                                                        "number": transferee.number,
                                                        "placed_for": transferor.display_number
                                                        or "-"})
        self.background.spawn(self._host(moved, config))
        return 200

    async def _host(self, call: Call, config: ConferenceRoom) -> None:
        try:
            await self.take_part(call, config)
        except Exception:
            log.exception("conference participant failed", extra={"call_id": call.call_id})
        finally:
            await self.lifecycle.finish(call)

    @staticmethod
    def _line_of(call: Call, leg: CallLeg, was_caller: bool) -> str | None:
        """The extension line ``call`` holds for the party on ``leg``."""
        own = call.caller.extension.number if call.caller.extension else None
        if was_caller:
            return own if own in call.extensions else None
        return next((n for n in call.extensions if n != own), None)

    @staticmethod
    def _trunk_of(call: Call, leg: CallLeg) -> str:
        """The trunk ``call`` holds for an outside party on ``leg``, or ""."""
        party = leg.party
        name = party.trunk.name if party is not None and party.trunk is not None else ""
        return name if name in call.trunks else ""

    async def _caller_of(self, leg: CallLeg) -> Caller:
        """Who is on ``leg``: its party, the rights of the phone that answered on it, else
        (no phone known) its user, with no rights of their own."""
        party = await self.parties.of(leg)
        if party is not None:
            return party
        user = await self.directory.user(leg.user_id) if leg.user_id is not None else None
        return Caller(user=user)

    # ------------------------------------------------------------------ upkeep
    async def sweep(self) -> int:
        """Delete ad-hoc rooms nobody joined before they expired; how many went."""
        gone = 0
        for room_id, number in await self.repo.expired_adhoc():
            if number in self.rooms:
                continue
            await self.repo.delete_adhoc(room_id)
            gone += 1
        return gone

    async def run_sweeper(self, interval: float = SWEEP_INTERVAL_S) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("conference sweep failed")

    def close(self) -> None:
        for room in list(self.rooms.values()):
            with contextlib.suppress(Exception):
                room.close()
        self.rooms.clear()
