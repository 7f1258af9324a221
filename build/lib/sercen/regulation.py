"""Brute-force regulation: ``max_retries`` failures within ``find_time`` ban for ``ban_time``.

Failures of either factor count against the user and against the client address; both get
banned. The user subject is ``u:<id>`` for a known account and ``n:<login as typed>``
otherwise, so an unknown login is regulated exactly like a real one and a ban says nothing
about whether the account exists. Failures and bans live in the shared store, so every sercen
node behind a balancer enforces the same bans.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sercen import authlog
from sercen.repo import SercenRepo


def user_subject(user_id: int | None, login: str) -> str:
    return f"u:{user_id}" if user_id is not None else f"n:{login.strip().lower()[:80]}"


@dataclass
class Regulator:
    repo: SercenRepo
    max_retries: int = 3
    find_time: float = 120.0
    ban_time: float = 300.0

    async def banned_for(self, user: str | None, ip: str) -> float:
        """Seconds left on a ban of this user or address; 0 when neither is banned."""
        now = time.time()
        subjects = [("ip", ip)] + ([("user", user)] if user else [])
        until = await self.repo.banned_until(subjects, now)
        return max(0.0, until - now)

    async def fail(self, user: str | None, ip: str, factor: str) -> bool:
        """Record a failure; True when it banned the user or the address."""
        now = time.time()
        banned = False
        for kind, subject in (("user", user), ("ip", ip)):
            if not subject:
                continue
            await self.repo.add_failure(kind, subject, factor, now)
            count = await self.repo.count_failures(kind, subject, now - self.find_time)
            if count >= self.max_retries:
                await self.repo.ban(kind, subject, now, now + self.ban_time)
                await self.repo.clear_failures(kind, subject)
                authlog.ban(kind, subject, self.ban_time)
                banned = True
        return banned

    async def succeeded(self, user: str) -> None:
        await self.repo.clear_failures("user", user)
