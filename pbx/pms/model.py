"""The hotel's records as the PMS interface works on them: settings, rooms, stays, wake-up
calls, room status codes, billed calls and messages for the PMS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class RoomState(StrEnum):
    VACANT = "vacant"
    """No guest: the extension is closed (only internal and emergency calls go out)."""
    OCCUPIED = "occupied"


class WakeUpState(StrEnum):
    PENDING = "pending"
    CALLING = "calling"
    """A node is ringing the room now (under a lease)."""
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class WakeUpSource(StrEnum):
    PMS = "pms"
    PHONE = "phone"
    """Programmed from the room's phone (reported to the PMS)."""


class OutboxState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    REFUSED = "refused"
    """The PMS answered with an error code: kept for the admin, not sent again."""


@dataclass(frozen=True)
class HotelConfig:
    """The hotel's settings (``hotel_settings``, set by an admin in FONBO)."""

    site: str = ""
    char_user: str = ""
    char_password_hash: str = ""
    timezone: str = "Europe/Madrid"
    wakeup_ring_s: int = 30
    wakeup_retries: int = 2
    wakeup_retry_s: int = 300
    wakeup_prompt_id: int | None = None
    wakeup_repeat: int = 3
    wakeup_caller_name: str = "Despertador"
    wakeup_code: str = "*55"
    wakeup_cancel_code: str = "*56"
    report_internal_calls: bool = False

    @classmethod
    def from_row(cls, row: dict[str, Any] | None) -> HotelConfig:
        if row is None:
            return cls()
        return cls(site=row["site"], char_user=row["char_user"],
                   char_password_hash=row["char_password_hash"], timezone=row["timezone"],
                   wakeup_ring_s=int(row["wakeup_ring_s"]),
                   wakeup_retries=int(row["wakeup_retries"]),
                   wakeup_retry_s=int(row["wakeup_retry_s"]),
                   wakeup_prompt_id=row["wakeup_prompt_id"],
                   wakeup_repeat=int(row["wakeup_repeat"]),
                   wakeup_caller_name=row["wakeup_caller_name"],
                   wakeup_code=row["wakeup_code"], wakeup_cancel_code=row["wakeup_cancel_code"],
                   report_internal_calls=bool(row["report_internal_calls"]))

    @property
    def zone(self) -> ZoneInfo:
        """The hotel's time zone (wake-up times are local times); UTC when unknown."""
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")


@dataclass(frozen=True)
class Room:
    id: int
    room: str
    extension_id: int
    extension: str
    user_id: int | None
    """The extension's owner: their name is what calls from the room and the directory show."""
    vacant_name: str
    state: RoomState
    stay_id: int | None
    dnd: bool
    message_waiting: bool

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Room:
        return cls(int(r["id"]), r["room"], int(r["extension_id"]), r["extension"],
                   r["owner_user_id"], r["vacant_name"], RoomState(r["state"]),
                   r["stay_id"], bool(r["dnd"]), bool(r["message_waiting"]))

    @property
    def occupied(self) -> bool:
        return self.state is RoomState.OCCUPIED

    @property
    def shown_when_vacant(self) -> str:
        return self.vacant_name or f"Habitación {self.room}"


@dataclass(frozen=True)
class Stay:
    id: int
    room: str
    guest_name: str
    guest_id: str
    language: str
    checkin_at: float
    checkout_at: float | None

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Stay:
        return cls(int(r["id"]), r["room"], r["guest_name"], r["guest_id"], r["language"],
                   float(r["checkin_at"]), r["checkout_at"])


@dataclass(frozen=True)
class WakeUp:
    id: int
    room: str
    due_at: float
    next_at: float
    state: WakeUpState
    attempts: int
    source: WakeUpSource

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> WakeUp:
        return cls(int(r["id"]), r["room"], float(r["due_at"]), float(r["next_at"]),
                   WakeUpState(r["state"]), int(r["attempts"]), WakeUpSource(r["source"]))


@dataclass(frozen=True)
class StatusCode:
    """A code a room phone dials (``dial``) and what the PMS receives (``code``)."""

    dial: str
    code: str
    label: str
    takes_value: bool


@dataclass(frozen=True)
class BilledCall:
    room: str
    call_id: str
    number: str
    external: bool
    trunk: str
    started_at: float
    answered_at: float | None
    ended_at: float
    billsec: float

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> BilledCall:
        return cls(r["room"], r["call_id"], r["number"], bool(r["external"]), r["trunk"],
                   float(r["started_at"]), r["answered_at"], float(r["ended_at"]),
                   float(r["billsec"]))


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    action: str
    address: str
    data: dict[str, Any]
    attempts: int

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> OutboxMessage:
        return cls(int(r["id"]), r["action"], r["address"], json.loads(r["data"]),
                   int(r["attempts"]))
