"""SQL of conference rooms: a room by number (with its «Conferencias BEEP» resolved), and
the ad-hoc rooms that go away."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from webfon.store import Store

_ROOM = (
    "SELECT r.id, r.number, r.name, r.owner_user_id, r.pin_hash, r.beep, r.max_participants, "
    "r.adhoc, u.beep AS owner_beep, "
    "(SELECT e.beep FROM extensions e WHERE e.owner_user_id = r.owner_user_id "
    " AND e.kind = 'hard' ORDER BY e.id LIMIT 1) AS extension_beep "
    "FROM conference_rooms r LEFT JOIN users u ON u.id = r.owner_user_id ")


@dataclass(frozen=True)
class ConferenceRoom:
    """A room as the PBX uses it; ``beep`` is resolved (the room's, else its owner's
    «Conferencias BEEP», else their extension's)."""

    id: int
    number: str
    name: str
    owner_user_id: int | None
    pin_hash: str | None
    beep: bool
    max_participants: int
    adhoc: bool

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ConferenceRoom:
        return cls(int(row["id"]), row["number"], row["name"] or "", row["owner_user_id"],
                   row["pin_hash"] or None, resolve_beep(row), int(row["max_participants"]),
                   bool(row["adhoc"]))


def resolve_beep(row: dict[str, Any]) -> bool:
    """-1 inherits: room → owner user → owner's extension (none: no beep)."""
    for key in ("beep", "owner_beep", "extension_beep"):
        value = row.get(key)
        if value is not None and int(value) >= 0:
            return bool(int(value))
    return False


class ConferenceRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def by_number(self, number: str) -> ConferenceRoom | None:
        row = await self.store.fetchone(_ROOM + "WHERE r.number = ?", (number,))
        return ConferenceRoom.from_row(row) if row else None

    async def delete_adhoc(self, room_id: int) -> None:
        """An ad-hoc room that emptied: the room and its number go."""
        async with self.store.transaction() as tx:
            number = await tx.fetchval(
                "SELECT number FROM conference_rooms WHERE id = ? AND adhoc = 1", (room_id,))
            if number is None:
                return
            await tx.execute("DELETE FROM conference_rooms WHERE id = ?", (room_id,))
            await tx.execute("DELETE FROM numbering WHERE number = ? AND kind = 'conference'",
                             (number,))

    async def expired_adhoc(self, now: float | None = None) -> list[tuple[int, str]]:
        """Ad-hoc rooms past their expiry (nobody joined in time)."""
        rows = await self.store.fetchall(
            "SELECT id, number FROM conference_rooms WHERE adhoc = 1 AND expires_at IS NOT NULL "
            "AND expires_at < ?", (now if now is not None else time.time(),))
        return [(int(r["id"]), r["number"]) for r in rows]
