"""The calls made from a room, billed to the guest's stay: each answered call the guest made
to someone (a trunk's number; internal ones too with ``report_internal_calls``) is kept with
the stay that had the room when the call started (the room's CDR at check-out; a call still
going on at check-out is billed to that stay when it ends) and sent to the PMS as ``CALL``.

It follows every call from the end of its life (:attr:`pbx.calls.lifecycle.CallLifecycle.
on_finished`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..calls.model import Call
from ..directory import Directory
from .model import BilledCall
from .repo import HotelRepo
from .reports import Reports

log = logging.getLogger("pbx.pms")


class RoomBilling:
    def __init__(self, repo: HotelRepo, directory: Directory, reports: Reports,
                 clock: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self.directory = directory
        self.reports = reports
        self.clock = clock

    async def call_finished(self, call: Call) -> None:
        caller = call.caller
        if caller.extension is None or caller.trunk is not None or caller.mobility \
                or call.answered_at is None or call.b is None:
            return
        room = await self.directory.room_of_extension(caller.extension.id)
        if room is None:
            return
        external = bool(call.trunk)
        config = await self.repo.config()
        if not external and not config.report_internal_calls:
            return
        # the guest who made the call, even if they checked out while talking
        stay_id = await self.repo.stay_at(room.room, call.started_at)
        if stay_id is None:
            return
        ended = max(self.clock(), call.answered_at)
        billed = BilledCall(room.room, call.call_id, call.callee or call.dialled, external,
                            call.trunk, call.started_at, call.answered_at, ended,
                            round(ended - call.answered_at, 3))
        await self.repo.add_call(stay_id, billed)
        await self.reports.call(billed, config)
        log.info("room call billed", extra={"room": room.room, "call_id": call.call_id,
                                            "stay_id": stay_id, "billsec": billed.billsec})
