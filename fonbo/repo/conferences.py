"""Conference rooms in the store: lists, one room, «Salas de conferencia Webphone» (how many
rooms a user may have) and the numbers rooms get."""

from __future__ import annotations

from typing import Any

from fonbo.repo.util import bools, like_pattern
from webfon.store.base import Executor, Row

COLUMNS = ("id, number, name, owner_user_id, beep, max_participants, adhoc, created_at, "
           "expires_at, pin_hash")


def to_out(row: Row) -> Row:
    """A room as the API shows it: whether it has a PIN, never the PIN's hash."""
    out = {k: v for k, v in row.items() if k != "pin_hash"}
    out["has_pin"] = bool(row.get("pin_hash"))
    return bools(out, "adhoc")


async def rooms_of(db: Executor, user_id: int) -> list[Row]:
    rows = await db.fetchall(f"SELECT {COLUMNS} FROM conference_rooms WHERE owner_user_id = ? "
                             f"ORDER BY adhoc, number", (user_id,))
    return [to_out(r) for r in rows]


async def room(db: Executor, room_id: int, owner: int | None = None) -> Row | None:
    """A room by id (only ``owner``'s when given); the raw row, PIN hash included."""
    if owner is None:
        return await db.fetchone(f"SELECT {COLUMNS} FROM conference_rooms WHERE id = ?",
                                 (room_id,))
    return await db.fetchone(f"SELECT {COLUMNS} FROM conference_rooms WHERE id = ? AND "
                             f"owner_user_id = ?", (room_id, owner))


async def all_rooms(db: Executor, q: str, limit: int, offset: int) -> tuple[list[Row], int]:
    where, params = "1 = 1", []
    if q:
        where, params = "(number LIKE ? ESCAPE '!' OR name LIKE ? ESCAPE '!')", \
            [like_pattern(q)] * 2
    total = await db.fetchval(f"SELECT COUNT(*) AS n FROM conference_rooms WHERE {where}",
                              params)
    rows = await db.fetchall(f"SELECT {COLUMNS} FROM conference_rooms WHERE {where} "
                             f"ORDER BY number LIMIT ? OFFSET ?", [*params, limit, offset])
    return [to_out(r) for r in rows], int(total or 0)


async def room_limit(db: Executor, user_id: int) -> int:
    """«Salas de conferencia Webphone» of a user: their own value, or (-1) their extension's;
    0 when neither has one."""
    row = await db.fetchone(
        "SELECT u.conference_rooms AS own, (SELECT e.conference_rooms FROM extensions e "
        "WHERE e.owner_user_id = u.id AND e.kind = 'hard' ORDER BY e.id LIMIT 1) AS inherited "
        "FROM users u WHERE u.id = ?", (user_id,))
    if row is None:
        return 0
    if row["own"] is not None and int(row["own"]) >= 0:
        return int(row["own"])
    return int(row["inherited"] or 0)


async def rooms_owned(db: Executor, user_id: int) -> int:
    return int(await db.fetchval("SELECT COUNT(*) AS n FROM conference_rooms WHERE "
                                 "owner_user_id = ?", (user_id,)) or 0)


async def free_number(db: Executor, low: int, high: int) -> str | None:
    """The lowest number of the range that nothing uses."""
    used: set[int] = set()
    for r in await db.fetchall("SELECT number FROM numbering"):
        text = str(r["number"])
        if text.isdigit() and low <= int(text) <= high and text == str(int(text)):
            used.add(int(text))
    return next((str(n) for n in range(low, high + 1) if n not in used), None)


async def insert(db: Executor, row: dict[str, Any]) -> int:
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    return await db.insert(f"INSERT INTO conference_rooms ({cols}) VALUES ({marks})",
                           list(row.values()))
