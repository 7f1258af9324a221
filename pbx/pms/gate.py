"""The hotel's rules at the PBX's admission gate (:class:`~pbx.admission.Admission`).

* A vacant room's extension is closed: calls placed for its phone may reach only internal
  and emergency numbers, whatever the extension's category allows once a guest checks in.
* A room in «no molestar» (DND) takes no calls, except those the PBX places itself (the
  guest's wake-up call).

The room's state is read through the directory's cache, which the PMS actions drop at every
change on this node (other nodes follow within ``directory_cache_s``).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from ..categories import Category
from ..directory import Directory
from ..routing import SYSTEM, Caller, Route, RouteKind, reject

log = logging.getLogger("pbx.pms")

CLOSED_ROOM_ALLOWED = frozenset({"internal", "emergency"})
DND_STATUS = 486
DND_REASON = "Do not disturb"


class RoomGate:
    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    async def restrict(self, placed_for: Caller) -> Caller:
        ext = placed_for.extension
        if ext is None or placed_for.trunk is not None or placed_for.mobility:
            return placed_for
        room = await self.directory.room_of_extension(ext.id)
        if room is None or room.occupied:
            return placed_for
        category = placed_for.category
        return replace(placed_for, category=Category(
            category.id, f"of room {room.room}, closed with no guest,",
            category.allowed & CLOSED_ROOM_ALLOWED))

    async def check(self, route: Route) -> Route:
        if route.kind not in (RouteKind.USER, RouteKind.EXTENSION) or route.extension is None \
                or route.caller == SYSTEM:
            return route
        room = await self.directory.room_of_extension(route.extension.id)
        if room is None or not room.dnd:
            return route
        log.info("room in do not disturb", extra={"room": room.room, "number": route.number})
        return reject(route.number, route.caller, DND_STATUS, DND_REASON)
