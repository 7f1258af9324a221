"""SQL of call recordings: the row of a recording in progress and of a finished one, the
«Grabar por enrutamiento» settings of users and extensions, and the expired recordings."""

from __future__ import annotations

import time

from webfon.store import Store


class RecordingRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, *, call_id: str, owner_user_id: int | None, caller: str, callee: str,
                  reason: str, started_at: float, expires_at: float) -> int:
        return await self.store.insert(
            "INSERT INTO recordings (call_id, owner_user_id, caller, callee, reason, "
            "started_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (call_id[:255], owner_user_id, caller[:64], callee[:64], reason, started_at,
             expires_at))

    async def done(self, recording_id: int, path: str, ended_at: float,
                   duration_s: float) -> None:
        await self.store.execute(
            "UPDATE recordings SET state = 'done', path = ?, ended_at = ?, duration_s = ? "
            "WHERE id = ?", (path, ended_at, duration_s, recording_id))

    async def failed(self, recording_id: int, ended_at: float) -> None:
        await self.store.execute(
            "UPDATE recordings SET state = 'failed', ended_at = ? WHERE id = ?",
            (ended_at, recording_id))

    async def modes(self) -> tuple[dict[int, str], dict[str, str]]:
        """Users (by id) and extensions (by number) that record always or on demand."""
        users = await self.store.fetchall(
            "SELECT id, recording_mode FROM users WHERE recording_mode <> 'none'")
        extensions = await self.store.fetchall(
            "SELECT number, recording_mode FROM extensions WHERE recording_mode <> 'none'")
        return ({int(r["id"]): r["recording_mode"] for r in users},
                {r["number"]: r["recording_mode"] for r in extensions})

    async def expired(self, now: float | None = None, limit: int = 500
                      ) -> list[tuple[int, str]]:
        rows = await self.store.fetchall(
            "SELECT id, path FROM recordings WHERE expires_at < ? AND state <> 'recording' "
            "ORDER BY expires_at LIMIT ?", (now if now is not None else time.time(), limit))
        return [(int(r["id"]), r["path"] or "") for r in rows]

    async def delete(self, recording_id: int) -> None:
        await self.store.execute("DELETE FROM recordings WHERE id = ?", (recording_id,))

    async def unfinished(self, before: float) -> list[int]:
        """Recordings a previous run left in progress (it stopped without finishing them)."""
        rows = await self.store.fetchall(
            "SELECT id FROM recordings WHERE state = 'recording' AND started_at < ?", (before,))
        return [int(r["id"]) for r in rows]
