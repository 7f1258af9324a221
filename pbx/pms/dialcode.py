"""What a hotel room's phone dialled for the PMS interface rather than for someone: a room
status code (room clean, minibar…) or a wake-up call programmed or cancelled. The router
gives it in the route (:attr:`pbx.routing.Route.room_code`); :mod:`pbx.pms.codes` carries
it out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RoomCodeKind(StrEnum):
    STATUS = "status"
    WAKEUP = "wakeup"
    WAKEUP_CANCEL = "wakeup_cancel"


@dataclass(frozen=True)
class RoomCode:
    kind: RoomCodeKind
    room: str
    code: str = ""
    """The status code the PMS receives."""
    label: str = ""
    value: str = ""
    """What was dialled after the code (``*83*2#``: a minibar item; ``*55*0730#``: a time)."""
