"""Voicemail queries: a user's messages, unread count, heard flag, removal."""

from __future__ import annotations

from typing import Any

from fonbo.repo.util import bools
from webfon.store.base import Executor, Row

_COLS = "id, caller, caller_name, call_id, created_at, duration_s, heard"


async def list_messages(db: Executor, user_id: int, *, heard: bool | None = None,
                        limit: int = 50, offset: int = 0) -> tuple[list[Row], int]:
    cond = "user_id = ?"
    params: list[Any] = [user_id]
    if heard is not None:
        cond += " AND heard = ?"
        params.append(int(heard))
    total = int(await db.fetchval(f"SELECT COUNT(*) AS n FROM voicemail_messages WHERE {cond}",
                                  params) or 0)
    rows = await db.fetchall(f"SELECT {_COLS} FROM voicemail_messages WHERE {cond} "
                             f"ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                             [*params, limit, offset])
    return [bools(r, "heard") for r in rows], total


async def unread_count(db: Executor, user_id: int) -> int:
    return int(await db.fetchval(
        "SELECT COUNT(*) AS n FROM voicemail_messages WHERE user_id = ? AND heard = 0",
        (user_id,)) or 0)


async def get_message(db: Executor, user_id: int, message_id: int, *, with_path: bool = False
                      ) -> Row | None:
    cols = _COLS + (", path" if with_path else "")
    row = await db.fetchone(f"SELECT {cols} FROM voicemail_messages WHERE id = ? AND user_id = ?",
                            (message_id, user_id))
    return bools(row, "heard") if row else None


async def set_heard(db: Executor, user_id: int, message_id: int, heard: bool) -> Row | None:
    if await get_message(db, user_id, message_id) is None:
        return None
    await db.execute("UPDATE voicemail_messages SET heard = ? WHERE id = ? AND user_id = ?",
                     (int(heard), message_id, user_id))
    return await get_message(db, user_id, message_id)


async def delete_message(db: Executor, user_id: int, message_id: int) -> str | None:
    """Remove the row; return the audio path (the caller deletes the file)."""
    row = await get_message(db, user_id, message_id, with_path=True)
    if row is None:
        return None
    await db.execute("DELETE FROM voicemail_messages WHERE id = ? AND user_id = ?",
                     (message_id, user_id))
    return str(row["path"])
