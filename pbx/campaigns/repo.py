"""Campaign state in the store (``campaigns``, ``campaign_numbers``): which campaigns run and
who runs them (a lease, so two PBX processes never dial the same campaign), which numbers are
due, and each attempt's outcome with the retry it earns.

A number is *claimed* for a call (``dialling``, one more attempt) and then given its outcome:
answered and refused are final; busy, no answer and failed come back as ``pending`` after the
campaign's delay for that outcome while the number has had fewer retries than allowed, and are
final otherwise. A call a limit of the PBX kept from being placed is *deferred*: ``pending``
again shortly, a failure recorded, the attempt not counted. Numbers left ``dialling`` by a PBX
that stopped are such a failed attempt ("interrupted") when the campaign is taken up again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webfon.store import Store
from webfon.timewindow import TimeWindow

RETRIED = ("busy", "no_answer", "failed")


@dataclass(frozen=True)
class Campaign:
    id: int
    name: str
    owner_user_id: int
    destination: str
    max_concurrent: int
    calls_per_s: float
    ring_timeout_s: int
    window: TimeWindow
    retries: dict[str, tuple[int, int]]
    """Outcome → (retries allowed, seconds before the next try)."""

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Campaign:
        return cls(int(r["id"]), r["name"], int(r["owner_user_id"]), r["destination"],
                   int(r["max_concurrent"]), float(r["calls_per_s"]), int(r["ring_timeout_s"]),
                   TimeWindow.parse(r["days"], r["time_from"], r["time_to"], r["timezone"]),
                   {kind: (int(r[f"{kind}_retries"]), int(r[f"{kind}_retry_s"]))
                    for kind in RETRIED})


@dataclass(frozen=True)
class Due:
    id: int
    number: str
    name: str
    attempts: int


class CampaignRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def claim(self, owner: str, lease_s: float, now: float) -> list[dict[str, Any]]:
        """The running campaigns this process holds or may take (free or expired lease),
        their leases renewed; each row says whether it was ``held`` already."""
        rows = await self.store.fetchall(
            "SELECT * FROM campaigns WHERE state = 'running' AND (lease_owner = ? OR "
            "lease_until < ?) ORDER BY id", (owner, now))
        mine = []
        for row in rows:
            taken = await self.store.execute(
                "UPDATE campaigns SET lease_owner = ?, lease_until = ? WHERE id = ? AND "
                "state = 'running' AND (lease_owner = ? OR lease_until < ?)",
                (owner, now + lease_s, row["id"], owner, now))
            if taken:
                mine.append({**row, "held": row["lease_owner"] == owner})
        return mine

    async def recover(self, campaign: Campaign, now: float) -> int:
        """Attempts a stopped PBX left in progress become failed attempts ("interrupted")."""
        rows = await self.store.fetchall(
            "SELECT id, attempts FROM campaign_numbers WHERE campaign_id = ? AND "
            "state = 'dialling'", (campaign.id,))
        for row in rows:
            await self.outcome(campaign, int(row["id"]), int(row["attempts"]), "failed", 0,
                               "interrupted: the PBX stopped during the call", now)
        return len(rows)

    async def due(self, campaign_id: int, now: float, limit: int) -> list[Due]:
        rows = await self.store.fetchall(
            "SELECT id, number, name, attempts FROM campaign_numbers WHERE campaign_id = ? AND "
            "state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?",
            (campaign_id, now, limit))
        return [Due(int(r["id"]), r["number"], r["name"], int(r["attempts"])) for r in rows]

    async def start_attempt(self, number_id: int, now: float) -> bool:
        """Claim a due number for a call; False when someone else did."""
        return bool(await self.store.execute(
            "UPDATE campaign_numbers SET state = 'dialling', attempts = attempts + 1, "
            "last_attempt_at = ? WHERE id = ? AND state = 'pending'", (now, number_id)))

    async def outcome(self, campaign: Campaign, number_id: int, attempts: int, outcome: str,
                      status: int, reason: str, now: float, call_id: str = "") -> bool:
        """Record an attempt's outcome; True when the number will be tried again."""
        again = False
        next_at = 0.0
        if outcome in campaign.retries:
            allowed, delay = campaign.retries[outcome]
            again = attempts - 1 < allowed
            next_at = now + delay
        await self.store.execute(
            "UPDATE campaign_numbers SET state = ?, outcome = ?, last_status = ?, "
            "last_reason = ?, next_at = ?, call_id = ?, answered_at = ? WHERE id = ?",
            ("pending" if again else "done", outcome, status, reason[:128], next_at,
             call_id[:255], now if outcome == "answered" else None, number_id))
        return again

    async def defer(self, number_id: int, status: int, reason: str, next_at: float) -> None:
        """A call a limit of the PBX kept from being placed (every trunk full, flow control):
        the number is due again at ``next_at``, recorded as a failure that will be retried,
        and the attempt it was claimed for is not counted (nothing was dialled)."""
        await self.store.execute(
            "UPDATE campaign_numbers SET state = 'pending', outcome = 'failed', "
            "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, "
            "last_status = ?, last_reason = ?, next_at = ? WHERE id = ? AND "
            "state = 'dialling'", (status, reason[:128], next_at, number_id))

    async def note(self, number_id: int, reason: str) -> None:
        """What became of an answered call (connected to whom, or not)."""
        await self.store.execute("UPDATE campaign_numbers SET last_reason = ? WHERE id = ?",
                                 (reason[:128], number_id))

    async def finish_if_done(self, campaign_id: int, owner: str, now: float) -> bool:
        left = await self.store.fetchval(
            "SELECT COUNT(*) AS n FROM campaign_numbers WHERE campaign_id = ? AND "
            "state <> 'done'", (campaign_id,))
        if left:
            return False
        return bool(await self.store.execute(
            "UPDATE campaigns SET state = 'finished', finished_at = ?, lease_owner = '', "
            "lease_until = 0 WHERE id = ? AND state = 'running' AND lease_owner = ?",
            (now, campaign_id, owner)))
