"""Call history queries over ``cdr``: filtered keyset pages, recents, scroll and counts.

A user's history is the CDR rows whose ``user_id`` is that user (the PBX writes one row per
user leg). Rows come newest first ordered by ``(started_at, id)``; the index
``cdr_user_started (user_id, started_at, id)`` serves every page, however deep, with a range
scan. Cursors are opaque to clients (base64 of the last row's key).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

from fonbo.repo.agenda import numbers_of_user
from fonbo.repo.util import like_pattern, placeholders
from webfon.store.base import Executor, Row

COLUMNS = ("id, call_id, caller, caller_name, callee, extension, direction, started_at, "
           "answered_at, ended_at, duration_s, billsec, disposition, trunk")
BATCH = 500


class CursorError(ValueError):
    """A cursor or scroll id this server did not produce."""


@dataclass(frozen=True)
class HistoryFilter:
    direction: str | None = None
    missed: bool | None = None
    answered: bool | None = None
    since: float | None = None
    until: float | None = None
    number: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _b64(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()
                                    ).rstrip(b"=").decode()


def _unb64(text: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise CursorError("invalid cursor") from None


def encode_cursor(started_at: float, row_id: int) -> str:
    return _b64(["c1", started_at, row_id])


def _key(value: Any) -> tuple[float, int]:
    if (not isinstance(value, list) or len(value) != 2
            or not isinstance(value[0], int | float) or isinstance(value[0], bool)
            or not math.isfinite(value[0])
            or not isinstance(value[1], int) or isinstance(value[1], bool)
            or not 0 <= value[1] < 2**63):
        raise CursorError("invalid cursor")
    return float(value[0]), int(value[1])


def decode_cursor(text: str) -> tuple[float, int]:
    data = _unb64(text)
    if not isinstance(data, list) or len(data) != 3 or data[0] != "c1":
        raise CursorError("invalid cursor")
    return _key(data[1:])


def encode_scroll(flt: HistoryFilter, after: tuple[float, int] | None, size: int) -> str:
    return _b64({"v": 1, "f": flt.as_dict(), "a": list(after) if after else None, "s": size})


def decode_scroll(text: str) -> tuple[HistoryFilter, tuple[float, int] | None, int]:
    data = _unb64(text)
    if not isinstance(data, dict) or data.get("v") != 1 or not isinstance(data.get("f"), dict):
        raise CursorError("invalid scroll id")
    try:
        flt = HistoryFilter(**data["f"])
    except TypeError:
        raise CursorError("invalid scroll id") from None
    for name, kinds in (("direction", str), ("number", str), ("missed", bool),
                        ("answered", bool), ("since", int | float), ("until", int | float)):
        value = getattr(flt, name)
        if value is not None and not isinstance(value, kinds):
            raise CursorError("invalid scroll id")
    after = _key(data["a"]) if data.get("a") is not None else None
    size = data.get("s")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise CursorError("invalid scroll id")
    return flt, after, size


def _conditions(user_id: int, flt: HistoryFilter, mine: list[str]) -> tuple[list[str], list[Any]]:
    where = ["user_id = ?"]
    params: list[Any] = [user_id]
    if flt.direction:
        where.append("direction = ?")
        params.append(flt.direction)
    if flt.missed is not None:
        incoming = "(direction = 'inbound' OR direction = 'internal')"
        if mine:
            incoming = (f"(direction = 'inbound' OR (direction = 'internal' "
                        f"AND caller NOT IN ({placeholders(mine)})))")
        if flt.missed:
            where.append(f"answered_at IS NULL AND {incoming}")
            params += mine
        else:
            where.append(f"NOT (answered_at IS NULL AND {incoming})")
            params += mine
    if flt.answered is not None:
        where.append("answered_at IS NOT NULL" if flt.answered else "answered_at IS NULL")
    if flt.since is not None:
        where.append("started_at >= ?")
        params.append(flt.since)
    if flt.until is not None:
        where.append("started_at < ?")
        params.append(flt.until)
    if flt.number:
        pattern = like_pattern(flt.number)
        where.append("(caller LIKE ? ESCAPE '!' OR callee LIKE ? ESCAPE '!')")
        params += [pattern, pattern]
    return where, params


def record(row: Row, mine: list[str]) -> Row:
    """A CDR row as the user sees it: the peer, whether it was outgoing, whether missed."""
    direction = row["direction"]
    outgoing = direction == "outbound" or (direction == "internal" and row["caller"] in mine)
    peer = row["callee"] if outgoing else row["caller"]
    missed = row["answered_at"] is None and not outgoing
    return {"id": row["id"], "call_id": row["call_id"], "direction": direction,
            "outgoing": outgoing, "missed": missed, "peer_number": peer,
            "peer_name": "" if outgoing else (row.get("caller_name") or ""),
            "caller": row["caller"], "callee": row["callee"], "extension": row["extension"],
            "started_at": row["started_at"], "answered_at": row["answered_at"],
            "ended_at": row["ended_at"], "duration_s": row["duration_s"],
            "billsec": row["billsec"], "disposition": row["disposition"],
            "trunk": row["trunk"]}


async def resolve_names(db: Executor, user_id: int, numbers: list[str]) -> dict[str, str]:
    """Names for numbers: my contacts first, then users, extension owners, corporate."""
    wanted = sorted({n for n in numbers if n})
    if not wanted:
        return {}
    marks = placeholders(wanted)
    names: dict[str, str] = {}
    for r in await db.fetchall(
            f"SELECT c.number, c.name, c.owner_user_id FROM contacts c WHERE c.number IN ({marks}) "
            f"AND (c.owner_user_id = ? OR c.owner_user_id IS NULL) ORDER BY c.owner_user_id",
            [*wanted, user_id]):
        if r["owner_user_id"] is not None or r["number"] not in names:
            names[str(r["number"])] = str(r["name"])
    missing = [n for n in wanted if n not in names]
    if missing:
        marks = placeholders(missing)
        for r in await db.fetchall(
                f"SELECT login_number AS number, display_name AS name FROM users "
                f"WHERE login_number IN ({marks})", missing):
            names.setdefault(str(r["number"]), str(r["name"]))
        for r in await db.fetchall(
                f"SELECT e.number, u.display_name AS name FROM extensions e "
                f"JOIN users u ON u.id = e.owner_user_id WHERE e.number IN ({marks})", missing):
            names.setdefault(str(r["number"]), str(r["name"]))
    return names


async def _named(db: Executor, user_id: int, records: list[Row]) -> list[Row]:
    names = await resolve_names(db, user_id, [r["peer_number"] for r in records])
    for r in records:
        r["peer_contact_name"] = names.get(r["peer_number"], "")
        if not r["peer_name"]:
            r["peer_name"] = r["peer_contact_name"]
    return records


async def page(db: Executor, user_id: int, flt: HistoryFilter, limit: int,
               cursor: str | None = None, mine: list[str] | None = None
               ) -> tuple[list[Row], str | None]:
    """One page, newest first, and the cursor of the next page (None at the end)."""
    if mine is None:
        mine = await numbers_of_user(db, user_id)
    where, params = _conditions(user_id, flt, mine)
    if cursor:
        t, i = decode_cursor(cursor)
        where.append("started_at <= ? AND (started_at < ? OR id < ?)")
        params += [t, t, i]
    rows = await db.fetchall(
        f"SELECT {COLUMNS} FROM cdr WHERE {' AND '.join(where)} "
        f"ORDER BY started_at DESC, id DESC LIMIT ?", [*params, limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    records = await _named(db, user_id, [record(r, mine) for r in rows])
    next_cursor = encode_cursor(rows[-1]["started_at"], int(rows[-1]["id"])) if more else None
    return records, next_cursor


async def recents(db: Executor, user_id: int, limit: int, scan_max: int,
                  mine: list[str] | None = None) -> list[Row]:
    """One row per peer (the latest call), newest first, over the last ``scan_max`` calls."""
    if mine is None:
        mine = await numbers_of_user(db, user_id)
    peers: dict[str, Row] = {}
    scanned = 0
    key: tuple[float, int] | None = None
    while len(peers) < limit and scanned < scan_max:
        batch = min(BATCH if peers else max(limit * 4, 100), scan_max - scanned)
        params: list[Any] = [user_id]
        cond = "user_id = ?"
        if key is not None:
            cond += " AND started_at <= ? AND (started_at < ? OR id < ?)"
            params += [key[0], key[0], key[1]]
        rows = await db.fetchall(f"SELECT {COLUMNS} FROM cdr WHERE {cond} "
                                 f"ORDER BY started_at DESC, id DESC LIMIT ?", [*params, batch])
        for row in rows:
            rec = record(row, mine)
            entry = peers.get(rec["peer_number"])
            if entry is None:
                if len(peers) >= limit:
                    continue
                peers[rec["peer_number"]] = {"peer_number": rec["peer_number"], "last": rec,
                                             "calls": 1, "missed": int(rec["missed"])}
            else:
                entry["calls"] += 1
                entry["missed"] += int(rec["missed"])
        scanned += len(rows)
        if len(rows) < batch:
            break
        key = (rows[-1]["started_at"], int(rows[-1]["id"]))
    items = list(peers.values())
    await _named(db, user_id, [e["last"] for e in items])
    for e in items:
        e["peer_name"] = e["last"]["peer_name"]
    return items


async def scroll(db: Executor, user_id: int, flt: HistoryFilter, after: tuple[float, int] | None,
                 size: int, mine: list[str] | None = None
                 ) -> tuple[list[Row], tuple[float, int] | None]:
    """A batch in ascending order after ``after``; returns the key to continue from."""
    if mine is None:
        mine = await numbers_of_user(db, user_id)
    where, params = _conditions(user_id, flt, mine)
    if after is not None:
        where.append("started_at >= ? AND (started_at > ? OR id > ?)")
        params += [after[0], after[0], after[1]]
    rows = await db.fetchall(
        f"SELECT {COLUMNS} FROM cdr WHERE {' AND '.join(where)} "
        f"ORDER BY started_at, id LIMIT ?", [*params, size])
    records = await _named(db, user_id, [record(r, mine) for r in rows])
    last = (rows[-1]["started_at"], int(rows[-1]["id"])) if len(rows) == size else None
    return records, last


async def iterate(db: Executor, user_id: int, flt: HistoryFilter, size: int = BATCH
                  ) -> AsyncIterator[list[Row]]:
    """Every matching row in ascending order, batch by batch (for exports)."""
    mine = await numbers_of_user(db, user_id)
    after: tuple[float, int] | None = None
    while True:
        batch, after = await scroll(db, user_id, flt, after, size, mine)
        if batch:
            yield batch
        if after is None:
            return


async def missed_count(db: Executor, user_id: int, since: float | None) -> int:
    mine = await numbers_of_user(db, user_id)
    where, params = _conditions(user_id, HistoryFilter(missed=True, since=since), mine)
    return int(await db.fetchval(f"SELECT COUNT(*) AS n FROM cdr WHERE {' AND '.join(where)}",
                                 params) or 0)


async def get_record(db: Executor, user_id: int, cdr_id: int) -> Row | None:
    row = await db.fetchone(f"SELECT {COLUMNS} FROM cdr WHERE id = ? AND user_id = ?",
                            (cdr_id, user_id))
    if row is None:
        return None
    mine = await numbers_of_user(db, user_id)
    return (await _named(db, user_id, [record(row, mine)]))[0]
