"""Who does what in the groups: the queues a user is an agent of (through their own
extensions, or the web extension their web phone holds), the queues they supervise, their
member rows, and agent state changes (log in/out, pause with a reason)."""

from __future__ import annotations

import time
from typing import Any

from webfon.store.base import Executor, Row

from .util import placeholders

_QUEUE_COLS = "q.id, q.number, q.name, q.kind, q.strategy, q.wrapup_s, q.sla_s"


async def agent_queues(db: Executor, user_id: int) -> list[Row]:
    """The groups ``user_id`` takes calls of, with their member row (the active one: the web
    extension while the web phone is logged in, else their own extension)."""
    rows = await db.fetchall(
        f"SELECT {_QUEUE_COLS}, m.extension_id, e.number AS extension, e.kind AS ext_kind, "
        "m.penalty, m.paused, m.logged_in, m.pause_reason, m.state_since "
        "FROM queue_members m JOIN queues q ON q.id = m.queue_id "
        "JOIN extensions e ON e.id = m.extension_id "
        "LEFT JOIN webphone_sessions ws ON ws.extension_id = e.id "
        "WHERE ws.user_id = ? OR (e.owner_user_id = ? AND ws.user_id IS NULL) "
        "ORDER BY q.number, e.kind DESC", (user_id, user_id))
    out: dict[int, Row] = {}
    for r in rows:
        # a web extension row (kind 'web' sorts first) stands for the user while logged in
        out.setdefault(int(r["id"]), r)
    return list(out.values())


async def active_rows(db: Executor, queue_id: int, user_id: int) -> list[Row]:
    """The member rows through which ``user_id`` takes the group's calls now: their web
    extension's while their web phone is logged in and a member, otherwise their own."""
    web = await db.fetchall(
        "SELECT m.* FROM queue_members m JOIN webphone_sessions ws "
        "ON ws.extension_id = m.extension_id WHERE m.queue_id = ? AND ws.user_id = ?",
        (queue_id, user_id))
    if web:
        return web
    return await db.fetchall(
        "SELECT m.* FROM queue_members m JOIN extensions e ON e.id = m.extension_id "
        "WHERE m.queue_id = ? AND e.owner_user_id = ? AND e.kind = 'hard'",
        (queue_id, user_id))


async def supervised(db: Executor, user_id: int) -> list[Row]:
    return await db.fetchall(
        f"SELECT {_QUEUE_COLS} FROM queue_supervisors s JOIN queues q ON q.id = s.queue_id "
        "WHERE s.user_id = ? ORDER BY q.number", (user_id,))


async def all_queues(db: Executor) -> list[Row]:
    return await db.fetchall(f"SELECT {_QUEUE_COLS} FROM queues q ORDER BY q.number")


async def queue(db: Executor, queue_id: int) -> Row | None:
    return await db.fetchone(f"SELECT {_QUEUE_COLS} FROM queues q WHERE q.id = ?", (queue_id,))


async def is_supervisor(db: Executor, queue_id: int, user_id: int) -> bool:
    return bool(await db.fetchval("SELECT COUNT(*) AS n FROM queue_supervisors "
                                  "WHERE queue_id = ? AND user_id = ?", (queue_id, user_id)))


async def related_queue_ids(db: Executor, user_id: int, admin: bool) -> list[int]:
    """Every group whose live changes ``user_id`` may follow."""
    if admin:
        return [int(r["id"]) for r in await db.fetchall("SELECT id FROM queues")]
    ids = {int(r["id"]) for r in await agent_queues(db, user_id)}
    ids |= {int(r["id"]) for r in await supervised(db, user_id)}
    return sorted(ids)


async def set_state(db: Executor, queue_id: int, extension_ids: list[int],
                    **fields: Any) -> None:
    fields["state_since"] = time.time()
    sets = ", ".join(f"{k} = ?" for k in fields)
    await db.execute(
        f"UPDATE queue_members SET {sets} WHERE queue_id = ? AND extension_id IN "
        f"({placeholders(extension_ids)})", [*fields.values(), queue_id, *extension_ids])


async def pause_reasons(db: Executor) -> list[str]:
    return [str(r["name"]) for r in await db.fetchall(
        "SELECT name FROM acd_pause_reasons ORDER BY name")]


async def user_names(db: Executor, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await db.fetchall(f"SELECT id, display_name FROM users WHERE id IN "
                             f"({placeholders(ids)})", ids)
    return {int(r["id"]): str(r["display_name"]) for r in rows}
