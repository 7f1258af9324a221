"""SQL of callbacks («Retrollamada»): booking, cancelling, the pending ones and their outcome.

A booking moves ``pending`` → ``calling`` (the PBX rings the requester) → ``done`` (the
target answered), or back to ``pending`` for another try, or ``failed`` after the last try;
``cancelled`` («Cancelar retrollamada», the portal) and ``expired`` end it too. Every change
of state is conditional on the state it comes from, so a booking cancelled from the portal
while the PBX looks at it is never called.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from webfon.store import Store


class CallbackState(StrEnum):
    PENDING = "pending"
    CALLING = "calling"
    DONE = "done"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    FAILED = "failed"


@dataclass(frozen=True)
class Booking:
    id: int
    requester_user_id: int | None
    requester_extension_id: int | None
    requester_phone_id: int | None
    requester_number: str
    target_number: str
    attempts: int
    expires_at: float

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Booking:
        return cls(int(row["id"]), row["requester_user_id"], row["requester_extension_id"],
                   row["requester_phone_id"], row["requester_number"], row["target_number"],
                   int(row["attempts"]), float(row["expires_at"]))


class CallbackRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def book(self, *, user_id: int | None, extension_id: int | None,
                   phone_id: int | None, number: str, target: str, ttl_s: float) -> int:
        """A new pending booking (an older pending one for the same requester and target is
        replaced, so pressing the button twice books once)."""
        now = time.time()
        async with self.store.transaction() as tx:
            await tx.execute(
                "UPDATE callbacks SET state = 'cancelled', finished_at = ? WHERE state = "
                "'pending' AND requester_number = ? AND target_number = ?",
                (now, number, target))
            return await tx.insert(
                "INSERT INTO callbacks (requester_user_id, requester_extension_id, "
                "requester_phone_id, requester_number, target_number, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (user_id, extension_id, phone_id, number, target, now, now + ttl_s))

    async def cancel_all(self, number: str) -> int:
        """Cancel every pending booking of requester ``number``; how many there were."""
        return await self.store.execute(
            "UPDATE callbacks SET state = 'cancelled', finished_at = ? "
            "WHERE state = 'pending' AND requester_number = ?", (time.time(), number))

    async def expire(self, now: float | None = None) -> int:
        return await self.store.execute(
            "UPDATE callbacks SET state = 'expired', finished_at = ? "
            "WHERE state = 'pending' AND expires_at < ?",
            (now or time.time(), now or time.time()))

    async def pending(self) -> list[Booking]:
        rows = await self.store.fetchall(
            "SELECT * FROM callbacks WHERE state = 'pending' ORDER BY created_at, id")
        return [Booking.from_row(r) for r in rows]

    async def start(self, booking: Booking) -> bool:
        """Claim a pending booking for a try; False when it is no longer pending."""
        changed = await self.store.execute(
            "UPDATE callbacks SET state = 'calling', attempts = attempts + 1, "
            "last_attempt_at = ? WHERE id = ? AND state = 'pending'",
            (time.time(), booking.id))
        return changed == 1

    async def finish(self, booking_id: int, state: CallbackState, call_id: str = "") -> None:
        await self.store.execute(
            "UPDATE callbacks SET state = ?, finished_at = ?, call_id = ? "
            "WHERE id = ? AND state = 'calling'",
            (str(state), time.time(), call_id[:255], booking_id))

    async def retry(self, booking_id: int) -> None:
        """The try did not reach the target: pending again."""
        await self.store.execute(
            "UPDATE callbacks SET state = 'pending' WHERE id = ? AND state = 'calling'",
            (booking_id,))

    async def reset_calling(self) -> None:
        """At start: tries a previous run left half done are pending again."""
        await self.store.execute(
            "UPDATE callbacks SET state = 'pending' WHERE state = 'calling'")
