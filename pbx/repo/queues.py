"""Group state kept between calls: members with their agent state (logged in, paused and why)
and memory (last call, calls taken), the round-robin position (``queue_members``,
``queue_member_memory``, ``queue_rr_memory``). Who answers at a member extension is its
owner, or the user whose web phone it is."""

from __future__ import annotations

from webfon.store import Store

from ..acd import Member


class QueueRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def members(self, queue_id: int) -> list[Member]:
        rows = await self.store.fetchall(
            "SELECT m.extension_id, m.penalty, m.paused, m.logged_in, m.pause_reason, "
            "m.state_since, e.number, mm.last_call_at, mm.calls_taken, "
            "COALESCE(ws.user_id, e.owner_user_id) AS user_id, u.display_name "
            "FROM queue_members m JOIN extensions e ON e.id = m.extension_id "
            "LEFT JOIN queue_member_memory mm ON mm.queue_id = m.queue_id "
            "AND mm.extension_id = m.extension_id "
            "LEFT JOIN webphone_sessions ws ON ws.extension_id = m.extension_id "
            "LEFT JOIN users u ON u.id = COALESCE(ws.user_id, e.owner_user_id) "
            "WHERE m.queue_id = ?", (queue_id,))
        return [Member(int(r["extension_id"]), r["number"], int(r["penalty"]),
                       bool(r["paused"]), float(r["last_call_at"] or 0),
                       int(r["calls_taken"] or 0), bool(r["logged_in"]),
                       r["pause_reason"] or "", float(r["state_since"] or 0),
                       int(r["user_id"]) if r["user_id"] is not None else None,
                       r["display_name"] or "") for r in rows]

    async def last_round_robin(self, queue_id: int) -> int | None:
        """The extension id of the member a round-robin queue rang last."""
        value = await self.store.fetchval(
            "SELECT last_extension_id FROM queue_rr_memory WHERE queue_id = ?", (queue_id,))
        return None if value is None else int(value)

    async def remember_answer(self, queue_id: int, extension_id: int, now: float) -> None:
        """``extension_id`` took a call of the queue at ``now``."""
        store = self.store
        updated = await store.execute(
            "UPDATE queue_member_memory SET last_call_at = ?, calls_taken = calls_taken + 1 "
            "WHERE queue_id = ? AND extension_id = ?", (now, queue_id, extension_id))
        if not updated:
            await store.upsert("queue_member_memory",
                               {"queue_id": queue_id, "extension_id": extension_id,
                                "last_call_at": now, "calls_taken": 1},
                               ["queue_id", "extension_id"])
        await store.upsert("queue_rr_memory", {"queue_id": queue_id,
                                               "last_extension_id": extension_id},
                           ["queue_id"])
