"""Call history queries over ``cdr``: filtered keyset pages, recents, scroll and counts.

A user's history is the CDR rows whose ``user_id`` is that user (the PBX writes one row per
user leg). Rows come newest first ordered by ``(started_at, id)``; the index
``cdr_user_started (user_id, started_at, id)`` serves every page, however deep, with a range
scan. Cursors are opaque to clients (base64 of the last row's key).

Each row carries the call's quality (E-model MOS, worst loss and jitter, end-to-end round
trip: :mod:`webfon.rtp.quality`); a call is *bad* when its MOS is below the filter's
``bad_mos``. The admin's listing (:func:`admin_page`) has every call once, with each leg's
node, network and codec.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

from fonbo.repo.agenda import numbers_of_user
from fonbo.repo.util import like_pattern, placeholders
from webfon.rtp.quality import CallQuality
from webfon.store.base import Executor, Row, Store

COLUMNS = ("id, call_id, caller, caller_name, callee, extension, direction, started_at, "
           "answered_at, ended_at, duration_s, billsec, disposition, trunk, mos, loss_pct, "
           "jitter_ms, rtt_ms")
BATCH = 500
BAD_MOS = 3.6
"""Below this MOS a call is bad (E-model: "many users dissatisfied" below R = 70)."""


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
    bad: bool | None = None
    """True: only calls whose MOS is below ``bad_mos``; False: only the others."""
    bad_mos: float = BAD_MOS

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
                        ("answered", bool), ("since", int | float), ("until", int | float),
                        ("bad", bool), ("bad_mos", int | float)):
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
    _common(flt, where, params)
    if flt.missed is not None:
        # missed = not answered and not outgoing (outgoing: outbound, or internal from me)
        incoming = "(direction = 'inbound' OR direction = 'internal')"
        if mine:
            incoming = (f"(direction = 'inbound' OR (direction = 'internal' "
                        f"AND caller NOT IN ({placeholders(mine)})))")
        missed = f"(answered_at IS NULL AND {incoming})"
        where.append(missed if flt.missed else f"NOT {missed}")
        params += mine
    return where, params


def _common(flt: HistoryFilter, where: list[str], params: list[Any]) -> None:
    """The conditions users' and the admin's listings share."""
    if flt.bad is not None:
        where.append("(mos IS NOT NULL AND mos < ?)" if flt.bad
                     else "(mos IS NULL OR mos >= ?)")
        params.append(flt.bad_mos)
    if flt.direction:
        where.append("direction = ?")
        params.append(flt.direction)
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


async def _rows(db: Executor, where: list[str], params: list[Any], descending: bool,
                limit: int) -> list[Row]:
    order = "DESC" if descending else "ASC"
    return await db.fetchall(
        f"SELECT {COLUMNS} FROM cdr WHERE {' AND '.join(where)} "
        f"ORDER BY started_at {order}, id {order} LIMIT ?", [*params, limit])


async def _mine_and_rows(db: Executor, user_id: int, flt: HistoryFilter,
                         extra: list[str], extra_params: list[Any], descending: bool,
                         limit: int) -> tuple[list[str], list[Row]]:
    """The user's numbers and the matching rows; both at once when the filter allows (on a
    pooled store that saves a round trip)."""
    if flt.missed is None and isinstance(db, Store):
        where, params = _conditions(user_id, flt, [])
        mine, rows = await asyncio.gather(
            numbers_of_user(db, user_id),
            _rows(db, where + extra, params + extra_params, descending, limit))
        return mine, rows
    mine = await numbers_of_user(db, user_id)
    where, params = _conditions(user_id, flt, mine)
    return mine, await _rows(db, where + extra, params + extra_params, descending, limit)


def quality(row: Row, bad_mos: float = BAD_MOS) -> Row:
    """A row's quality figures; ``bad`` when its MOS is below ``bad_mos``."""
    mos = row.get("mos")
    return {"mos": mos, "loss_pct": row.get("loss_pct"), "jitter_ms": row.get("jitter_ms"),
            "rtt_ms": row.get("rtt_ms"), "bad": mos is not None and mos < bad_mos}


def record(row: Row, mine: list[str] | None = None, bad_mos: float = BAD_MOS) -> Row:
    """A CDR row as the user sees it: the peer, whether it was outgoing, whether missed.

    ``outgoing`` comes from the query; for a row built elsewhere, ``mine`` (the user's
    numbers) decides it.
    """
    direction = row["direction"]
    if row.get("outgoing") is not None:
        outgoing = bool(row["outgoing"])
    else:
        outgoing = direction == "outbound" or (direction == "internal"
                                               and row["caller"] in (mine or []))
    peer = row["callee"] if outgoing else row["caller"]
    missed = row["answered_at"] is None and not outgoing
    contact = str(row.get("peer_contact_name") or "")
    caller_name = "" if outgoing else str(row.get("caller_name") or "")
    return {"id": row["id"], "call_id": row["call_id"], "direction": direction,
            "outgoing": outgoing, "missed": missed, "peer_number": peer,
            "peer_name": caller_name or contact, "peer_contact_name": contact,
            "caller": row["caller"], "callee": row["callee"], "extension": row["extension"],
            "started_at": row["started_at"], "answered_at": row["answered_at"],
            "ended_at": row["ended_at"], "duration_s": row["duration_s"],
            "billsec": row["billsec"], "disposition": row["disposition"],
            "trunk": row["trunk"], "quality": quality(row, bad_mos)}


async def resolve_names(db: Executor, user_id: int, numbers: list[str]) -> dict[str, str]:
    """Names for numbers in one query: my contacts first, then corporate contacts, users and
    extension owners."""
    wanted = sorted({n for n in numbers if n})
    if not wanted:
        return {}
    marks = placeholders(wanted)
    rows = await db.fetchall(
        f"SELECT 0 AS k, number, name FROM contacts WHERE number IN ({marks}) "
        f"AND owner_user_id = ? "
        f"UNION ALL SELECT 1 AS k, number, name FROM contacts WHERE number IN ({marks}) "
        f"AND owner_user_id IS NULL "
        f"UNION ALL SELECT 2 AS k, login_number AS number, display_name AS name FROM users "
        f"WHERE login_number IN ({marks}) "
        f"UNION ALL SELECT 3 AS k, e.number, u.display_name AS name FROM extensions e "
        f"JOIN users u ON u.id = e.owner_user_id WHERE e.number IN ({marks})",
        [*wanted, user_id, *wanted, *wanted, *wanted])
    names: dict[str, str] = {}
    for r in sorted(rows, key=lambda r: (r["k"], str(r["name"]))):
        names.setdefault(str(r["number"]), str(r["name"]))
    return names


async def _named(db: Executor, user_id: int, records: list[Row]) -> list[Row]:
    names = await resolve_names(db, user_id, [r["peer_number"] for r in records])
    for r in records:
        r["peer_contact_name"] = names.get(r["peer_number"], "")
        r["peer_name"] = r["peer_name"] or r["peer_contact_name"]
    return records


async def page(db: Executor, user_id: int, flt: HistoryFilter, limit: int,
               cursor: str | None = None) -> tuple[list[Row], str | None]:
    """One page, newest first, and the cursor of the next page (None at the end)."""
    extra: list[str] = []
    extra_params: list[Any] = []
    if cursor:
        t, i = decode_cursor(cursor)
        extra.append("started_at <= ? AND (started_at < ? OR id < ?)")
        extra_params += [t, t, i]
    mine, rows = await _mine_and_rows(db, user_id, flt, extra, extra_params, True, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["started_at"], int(rows[-1]["id"])) if more else None
    return await _named(db, user_id, [record(r, mine, flt.bad_mos) for r in rows]), next_cursor


async def recents(db: Executor, user_id: int, limit: int, scan_max: int) -> list[Row]:
    """One row per peer (the latest call), newest first, over the last ``scan_max`` calls."""
    peers: dict[str, Row] = {}
    scanned = 0
    key: tuple[float, int] | None = None
    mine: list[str] = []
    while len(peers) < limit and scanned < scan_max:
        batch = min(BATCH if peers else max(limit * 4, 100), scan_max - scanned)
        extra, extra_params = [], []
        if key is not None:
            extra.append("started_at <= ? AND (started_at < ? OR id < ?)")
            extra_params += [key[0], key[0], key[1]]
        mine, rows = await _mine_and_rows(db, user_id, HistoryFilter(), extra, extra_params,
                                          True, batch)
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
                 size: int) -> tuple[list[Row], tuple[float, int] | None]:
    """A batch in ascending order after ``after``; returns the key to continue from."""
    extra: list[str] = []
    extra_params: list[Any] = []
    if after is not None:
        extra.append("started_at >= ? AND (started_at > ? OR id > ?)")
        extra_params += [after[0], after[0], after[1]]
    mine, rows = await _mine_and_rows(db, user_id, flt, extra, extra_params, False, size)
    last = (rows[-1]["started_at"], int(rows[-1]["id"])) if len(rows) == size else None
    return await _named(db, user_id, [record(r, mine, flt.bad_mos) for r in rows]), last


async def iterate(db: Executor, user_id: int, flt: HistoryFilter, size: int = BATCH
                  ) -> AsyncIterator[list[Row]]:
    """Every matching row in ascending order, batch by batch (for exports)."""
    after: tuple[float, int] | None = None
    while True:
        batch, after = await scroll(db, user_id, flt, after, size)
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
    mine, rows = await _mine_and_rows(db, user_id, HistoryFilter(), ["id = ?"], [cdr_id],
                                      True, 1)
    if not rows:
        return None
    return (await _named(db, user_id, [record(rows[0], mine)]))[0]


# --- the admin's listing ---------------------------------------------------------------------
ADMIN_COLUMNS = (f"{COLUMNS}, user_id, peer_user_id, hangup_cause, quality")


def admin_record(row: Row, bad_mos: float = BAD_MOS) -> Row:
    """A call as the admin sees it: both parties, and every leg's figures with the node that
    measured it, the endpoint's address and network, codec and SRTP."""
    return {"id": row["id"], "call_id": row["call_id"], "direction": row["direction"],
            "caller": row["caller"], "caller_name": row["caller_name"],
            "callee": row["callee"], "extension": row["extension"],
            "user_id": row["user_id"], "peer_user_id": row["peer_user_id"],
            "started_at": row["started_at"], "answered_at": row["answered_at"],
            "ended_at": row["ended_at"], "duration_s": row["duration_s"],
            "billsec": row["billsec"], "disposition": row["disposition"],
            "trunk": row["trunk"], "hangup_cause": row["hangup_cause"],
            "quality": {**quality(row, bad_mos),
                        "legs": CallQuality.legs_from_details(row.get("quality"))}}


async def admin_page(db: Executor, flt: HistoryFilter, limit: int, cursor: str | None = None
                     ) -> tuple[list[Row], str | None]:
    """Every call once (its first user row: an internal call has one per party), newest
    first, and the next page's cursor."""
    where = ["leg = 0", "id = (SELECT MIN(c2.id) FROM cdr c2 WHERE c2.call_id = cdr.call_id "
                        "AND c2.leg = 0)"]
    params: list[Any] = []
    _common(flt, where, params)
    if flt.missed is not None:
        where.append("answered_at IS NULL" if flt.missed else "answered_at IS NOT NULL")
    if cursor:
        t, i = decode_cursor(cursor)
        where.append("started_at <= ? AND (started_at < ? OR id < ?)")
        params += [t, t, i]
    rows = await db.fetchall(
        f"SELECT {ADMIN_COLUMNS} FROM cdr WHERE {' AND '.join(where)} "
        f"ORDER BY started_at DESC, id DESC LIMIT ?", [*params, limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["started_at"], int(rows[-1]["id"])) if more else None
    return [admin_record(r, flt.bad_mos) for r in rows], next_cursor
