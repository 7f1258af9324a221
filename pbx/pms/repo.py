"""The SQL of the hotel: settings, rooms and stays, wake-up calls, status codes, billed calls
and the outbox of messages for the PMS.

State changes that go together (a check-out, its CDR message for the PMS and the room's name)
are one transaction; rows another node may take (a due wake-up, a message to deliver) are
claimed with a conditional update and a lease, so two PBX nodes never both take one.
"""

from __future__ import annotations

import json
from typing import Any

from webfon.store import Store
from webfon.store.base import Executor

from .model import (
    BilledCall,
    HotelConfig,
    OutboxMessage,
    OutboxState,
    Room,
    RoomState,
    StatusCode,
    Stay,
    WakeUp,
    WakeUpSource,
    WakeUpState,
)

_ROOM_SELECT = ("SELECT r.*, e.number AS extension, e.owner_user_id FROM hotel_rooms r "
                "JOIN extensions e ON e.id = r.extension_id ")


class RoomConflict(Exception):
    """The room changed meanwhile (another request got there first)."""


class HotelRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------------ settings, codes
    async def config(self) -> HotelConfig:
        return HotelConfig.from_row(
            await self.store.fetchone("SELECT * FROM hotel_settings WHERE id = 1"))

    async def status_codes(self) -> list[StatusCode]:
        rows = await self.store.fetchall(
            "SELECT dial, code, label, takes_value FROM hotel_status_codes ORDER BY dial")
        return [StatusCode(r["dial"], r["code"], r["label"], bool(r["takes_value"]))
                for r in rows]

    # ------------------------------------------------------------------ rooms and stays
    async def room(self, number: str, db: Executor | None = None) -> Room | None:
        row = await (db or self.store).fetchone(_ROOM_SELECT + "WHERE r.room = ?", (number,))
        return Room.from_row(row) if row else None

    async def room_by_extension(self, extension_id: int) -> Room | None:
        row = await self.store.fetchone(_ROOM_SELECT + "WHERE r.extension_id = ?",
                                        (extension_id,))
        return Room.from_row(row) if row else None

    async def stay(self, stay_id: int, db: Executor | None = None) -> Stay | None:
        row = await (db or self.store).fetchone("SELECT * FROM hotel_stays WHERE id = ?",
                                                (stay_id,))
        return Stay.from_row(row) if row else None

    async def check_in(self, room: Room, name: str, guest_id: str, language: str,
                       now: float) -> Stay:
        async with self.store.transaction() as tx:
            stay_id = await tx.insert(
                "INSERT INTO hotel_stays (room, guest_name, guest_id, language, checkin_at) "
                "VALUES (?, ?, ?, ?, ?)", (room.room, name, guest_id, language, now))
            changed = await tx.execute(
                "UPDATE hotel_rooms SET state = ?, stay_id = ?, dnd = 0, message_waiting = 0, "
                "updated_at = ? WHERE id = ? AND state = ?",
                (RoomState.OCCUPIED.value, stay_id, now, room.id, RoomState.VACANT.value))
            if changed != 1:
                raise RoomConflict(room.room)
            await self._show_name(tx, room, name)
            stay = await self.stay(stay_id, tx)
        assert stay is not None
        return stay

    async def update_guest(self, room: Room, stay: Stay, *, name: str | None,
                           guest_id: str | None, language: str | None) -> None:
        async with self.store.transaction() as tx:
            await tx.execute(
                "UPDATE hotel_stays SET guest_name = ?, guest_id = ?, language = ? WHERE id = ?",
                (name if name is not None else stay.guest_name,
                 guest_id if guest_id is not None else stay.guest_id,
                 language if language is not None else stay.language, stay.id))
            if name is not None:
                await self._show_name(tx, room, name)

    async def move(self, old: Room, new: Room, stay: Stay, now: float) -> None:
        """The guest of ``old`` moves to the vacant ``new`` with their DND, message waiting
        and pending wake-up calls; ``old`` is left vacant."""
        async with self.store.transaction() as tx:
            changed = await tx.execute(
                "UPDATE hotel_rooms SET state = ?, stay_id = ?, dnd = ?, message_waiting = ?, "
                "updated_at = ? WHERE id = ? AND state = ?",
                (RoomState.OCCUPIED.value, stay.id, int(old.dnd), int(old.message_waiting), now,
                 new.id, RoomState.VACANT.value))
            if changed != 1:
                raise RoomConflict(new.room)
            changed = await tx.execute(
                "UPDATE hotel_rooms SET state = ?, stay_id = NULL, dnd = 0, message_waiting = 0,"
                " updated_at = ? WHERE id = ? AND stay_id = ?",
                (RoomState.VACANT.value, now, old.id, stay.id))
            if changed != 1:
                raise RoomConflict(old.room)
            await tx.execute("UPDATE hotel_stays SET room = ? WHERE id = ?", (new.room, stay.id))
            await tx.execute(
                "UPDATE hotel_wakeups SET room = ?, updated_at = ? WHERE room = ? AND state IN "
                "(?, ?)",
                (new.room, now, old.room, WakeUpState.PENDING.value, WakeUpState.CALLING.value))
            await self._show_name(tx, new, stay.guest_name)
            await self._show_name(tx, old, old.shown_when_vacant)

    async def check_out(self, room: Room, stay: Stay, now: float,
                        message: tuple[str, dict[str, Any]] | None = None) -> list[WakeUp]:
        """Close the room; its pending wake-up calls are cancelled (returned), and
        ``message`` (action, data) is queued for the PMS in the same transaction."""
        async with self.store.transaction() as tx:
            changed = await tx.execute(
                "UPDATE hotel_rooms SET state = ?, stay_id = NULL, dnd = 0, message_waiting = 0,"
                " updated_at = ? WHERE id = ? AND stay_id = ?",
                (RoomState.VACANT.value, now, room.id, stay.id))
            if changed != 1:
                raise RoomConflict(room.room)
            await tx.execute("UPDATE hotel_stays SET checkout_at = ? WHERE id = ?",
                             (now, stay.id))
            cancelled = await self._cancel_wakeups(tx, room.room, None, now)
            await self._show_name(tx, room, room.shown_when_vacant)
            if message is not None:
                await self.enqueue(message[0], room.room, message[1], now, tx)
        return cancelled

    async def message_waiting_for(self, user_id: int) -> bool:
        """Whether the PMS lit the lamp of a room whose extension ``user_id`` owns."""
        found = await self.store.fetchval(
            "SELECT COUNT(*) FROM hotel_rooms r JOIN extensions e ON e.id = r.extension_id "
            "WHERE e.owner_user_id = ? AND r.message_waiting = 1", (user_id,))
        return bool(found)

    async def set_flag(self, room: Room, flag: str, on: bool, now: float) -> None:
        if flag not in ("dnd", "message_waiting"):
            raise ValueError(flag)
        await self.store.execute(
            f"UPDATE hotel_rooms SET {flag} = ?, updated_at = ? WHERE id = ?",
            (int(on), now, room.id))

    async def _show_name(self, tx: Executor, room: Room, name: str) -> None:
        if room.user_id is not None:
            await tx.execute("UPDATE users SET display_name = ? WHERE id = ?",
                             (name[:128], room.user_id))

    # ------------------------------------------------------------------ billed calls
    async def add_call(self, stay_id: int, call: BilledCall) -> None:
        await self.store.execute(
            "INSERT INTO hotel_calls (stay_id, room, call_id, number, external, trunk, "
            "started_at, answered_at, ended_at, billsec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (stay_id, call.room, call.call_id, call.number[:64], int(call.external),
             call.trunk, call.started_at, call.answered_at, call.ended_at, call.billsec))

    async def stay_at(self, room: str, at: float) -> int | None:
        """The stay the room had at ``at`` (its guest may have checked out since)."""
        value = await self.store.fetchval(
            "SELECT id FROM hotel_stays WHERE room = ? AND checkin_at <= ? AND "
            "(checkout_at IS NULL OR checkout_at >= ?) ORDER BY checkin_at DESC LIMIT 1",
            (room, at, at))
        return int(value) if value is not None else None

    async def stay_calls(self, stay_id: int) -> list[BilledCall]:
        rows = await self.store.fetchall(
            "SELECT * FROM hotel_calls WHERE stay_id = ? ORDER BY started_at, id", (stay_id,))
        return [BilledCall.from_row(r) for r in rows]

    async def room_calls(self, room: str, since: float, until: float) -> list[BilledCall]:
        rows = await self.store.fetchall(
            "SELECT * FROM hotel_calls WHERE room = ? AND started_at >= ? AND started_at < ? "
            "ORDER BY started_at, id LIMIT 10000", (room, since, until))
        return [BilledCall.from_row(r) for r in rows]

    # ------------------------------------------------------------------ wake-up calls
    async def add_wakeup(self, room: str, due_at: float, source: WakeUpSource,
                         now: float) -> tuple[int, bool]:
        """Programme a wake-up call; (id, False) when that room already has one then."""
        async with self.store.transaction() as tx:
            existing = await tx.fetchval(
                "SELECT id FROM hotel_wakeups WHERE room = ? AND due_at = ? AND state = ?",
                (room, due_at, WakeUpState.PENDING.value))
            if existing is not None:
                return int(existing), False
            wid = await tx.insert(
                "INSERT INTO hotel_wakeups (room, due_at, next_at, state, source, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (room, due_at, due_at, WakeUpState.PENDING.value, source.value, now, now))
        return wid, True

    async def cancel_wakeups(self, room: str, due_at: float | None,
                             now: float) -> list[WakeUp]:
        """Cancel the room's pending wake-up calls (only the one at ``due_at`` if given)."""
        async with self.store.transaction() as tx:
            return await self._cancel_wakeups(tx, room, due_at, now)

    async def _cancel_wakeups(self, tx: Executor, room: str, due_at: float | None,
                              now: float) -> list[WakeUp]:
        sql = "SELECT * FROM hotel_wakeups WHERE room = ? AND state = ?"
        params: tuple[Any, ...] = (room, WakeUpState.PENDING.value)
        if due_at is not None:
            sql += " AND due_at = ?"
            params += (due_at,)
        found = [WakeUp.from_row(r) for r in await tx.fetchall(sql, params)]
        for w in found:
            await tx.execute(
                "UPDATE hotel_wakeups SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
                (WakeUpState.CANCELLED.value, now, w.id, WakeUpState.PENDING.value))
        return found

    async def wakeups(self, room: str | None = None, *, active_only: bool = True,
                      limit: int = 500) -> list[WakeUp]:
        sql = "SELECT * FROM hotel_wakeups WHERE 1 = 1"
        params: tuple[Any, ...] = ()
        if room is not None:
            sql += " AND room = ?"
            params += (room,)
        if active_only:
            sql += " AND state IN (?, ?)"
            params += (WakeUpState.PENDING.value, WakeUpState.CALLING.value)
        rows = await self.store.fetchall(sql + " ORDER BY next_at, id LIMIT ?",
                                         (*params, limit))
        return [WakeUp.from_row(r) for r in rows]

    async def due_wakeups(self, now: float, limit: int = 50) -> list[WakeUp]:
        """Pending wake-up calls whose time has come, and calls a node left unfinished
        (its lease ran out)."""
        rows = await self.store.fetchall(
            "SELECT * FROM hotel_wakeups WHERE (state = ? AND next_at <= ?) "
            "OR (state = ? AND lease_until < ?) ORDER BY next_at, id LIMIT ?",
            (WakeUpState.PENDING.value, now, WakeUpState.CALLING.value, now, limit))
        return [WakeUp.from_row(r) for r in rows]

    async def next_wakeup_at(self) -> float | None:
        value = await self.store.fetchval(
            "SELECT MIN(next_at) FROM hotel_wakeups WHERE state = ?", (WakeUpState.PENDING.value,))
        return float(value) if value is not None else None

    async def claim_wakeup(self, w: WakeUp, now: float, lease_s: float) -> bool:
        changed = await self.store.execute(
            "UPDATE hotel_wakeups SET state = ?, attempts = attempts + 1, lease_until = ?, "
            "updated_at = ? WHERE id = ? AND ((state = ? AND next_at <= ?) OR "
            "(state = ? AND lease_until < ?))",
            (WakeUpState.CALLING.value, now + lease_s, now, w.id, WakeUpState.PENDING.value, now,
             WakeUpState.CALLING.value, now))
        return changed == 1

    async def wakeup_state(self, wakeup_id: int) -> WakeUpState | None:
        value = await self.store.fetchval("SELECT state FROM hotel_wakeups WHERE id = ?",
                                          (wakeup_id,))
        return WakeUpState(value) if value is not None else None

    async def retry_wakeup(self, wakeup_id: int, next_at: float, result: str,
                           now: float) -> None:
        await self.store.execute(
            "UPDATE hotel_wakeups SET state = ?, next_at = ?, lease_until = 0, result = ?, "
            "updated_at = ? WHERE id = ? AND state = ?",
            (WakeUpState.PENDING.value, next_at, result[:128], now, wakeup_id,
             WakeUpState.CALLING.value))

    async def end_wakeup(self, wakeup_id: int, state: WakeUpState, result: str, now: float,
                         message: tuple[str, str, dict[str, Any]] | None = None) -> bool:
        """Mark a wake-up call done or failed, queueing ``message`` (action, address, data)
        for the PMS with it; False when it was no longer being called (cancelled)."""
        async with self.store.transaction() as tx:
            changed = await tx.execute(
                "UPDATE hotel_wakeups SET state = ?, lease_until = 0, result = ?, "
                "updated_at = ? WHERE id = ? AND state = ?",
                (state.value, result[:128], now, wakeup_id, WakeUpState.CALLING.value))
            if changed == 1 and message is not None:
                await self.enqueue(message[0], message[1], message[2], now, tx)
        return changed == 1

    # ------------------------------------------------------------------ outbox
    async def enqueue(self, action: str, address: str, data: dict[str, Any], now: float,
                      db: Executor | None = None) -> int:
        return await (db or self.store).insert(
            "INSERT INTO hotel_outbox (action, address, data, state, next_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (action, address, json.dumps(data, ensure_ascii=False), OutboxState.PENDING.value, now,
             now))

    async def next_message(self, now: float) -> tuple[OutboxMessage | None, float | None]:
        """The oldest message not delivered yet if it is due (messages go in order), and
        when the oldest one is due otherwise."""
        row = await self.store.fetchone(
            "SELECT * FROM hotel_outbox WHERE state = ? ORDER BY id LIMIT 1",
            (OutboxState.PENDING.value,))
        if row is None:
            return None, None
        due = max(float(row["next_at"]), float(row["lease_until"]))
        if due > now:
            return None, due
        return OutboxMessage.from_row(row), None

    async def claim_message(self, message_id: int, now: float, lease_s: float) -> bool:
        changed = await self.store.execute(
            "UPDATE hotel_outbox SET attempts = attempts + 1, lease_until = ? "
            "WHERE id = ? AND state = ? AND lease_until <= ?",
            (now + lease_s, message_id, OutboxState.PENDING.value, now))
        return changed == 1

    async def delivered(self, message_id: int, now: float) -> None:
        await self.store.execute(
            "UPDATE hotel_outbox SET state = ?, delivered_at = ?, lease_until = 0, "
            "last_error = '' WHERE id = ?", (OutboxState.DELIVERED.value, now, message_id))

    async def refused(self, message_id: int, error: str) -> None:
        await self.store.execute(
            "UPDATE hotel_outbox SET state = ?, lease_until = 0, last_error = ? WHERE id = ?",
            (OutboxState.REFUSED.value, error[:255], message_id))

    async def retry_message(self, message_id: int, next_at: float, error: str) -> None:
        await self.store.execute(
            "UPDATE hotel_outbox SET next_at = ?, lease_until = 0, last_error = ? WHERE id = ?",
            (next_at, error[:255], message_id))
