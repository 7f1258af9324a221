"""Sticky agent: a queue sends a returning caller to the agent who last spoke with them.

Whenever a call between a party and an extension is answered — a queue call taken by a
member, or an outside number called from an extension — the extension is remembered as the
last to have spoken with that party's number (``agent_contacts``, one row per number). A queue
whose ``sticky_window_s`` is set asks, before its strategy, who last spoke with the caller: if
that is one of its members, ready (not paused) and within the window, the member rings first,
alone; if they are busy, unreachable or do not answer, the queue's own strategy carries on
(:func:`sticky_first`). The queue's member selection consults this module and nothing else
changes.

Numbers are compared in one form (:func:`contact_key`): a mobile presented as +34 612 345 678
by the carrier is the 612345678 an agent dialled.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, TypeVar

from webfon.store import Store

log = logging.getLogger("pbx.sticky")


class _Member(Protocol):
    @property
    def extension_id(self) -> int: ...


M = TypeVar("M", bound=_Member)


def contact_key(number: str) -> str:
    """One spelling of a party's number: digits (and * #), Spain's country code dropped."""
    digits = "".join(ch for ch in number if ch.isdigit() or ch in "*#")
    if number.startswith("+"):
        digits = "00" + digits
    if digits.startswith("0034") and len(digits) == 13:
        return digits[4:]
    return digits


def sticky_first(rounds: Sequence[Sequence[M]], member: M) -> list[list[M]]:
    """The plan's ``rounds`` with ``member`` rung alone first and left out of the rest."""
    rest = [[m for m in group if m.extension_id != member.extension_id] for group in rounds]
    return [[member], *[group for group in rest if group]]


class StickyAgents:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def last_agent(self, number: str, window_s: float, now: float) -> int | None:
        """The extension that spoke with ``number`` within ``window_s`` before ``now``."""
        key = contact_key(number)
        if not key or window_s <= 0:
            return None
        row = await self.store.fetchone(
            "SELECT extension_id, spoke_at FROM agent_contacts WHERE number = ?", (key,))
        if row is None or now - float(row["spoke_at"]) > window_s:
            return None
        return int(row["extension_id"])

    async def remember(self, number: str, extension_id: int, at: float) -> None:
        """``extension_id`` spoke with ``number`` at ``at``."""
        key = contact_key(number)
        if not key:
            return
        try:
            await self.store.upsert("agent_contacts", {"number": key[:64],
                                                       "extension_id": extension_id,
                                                       "spoke_at": at}, ["number"])
        except Exception:  # never a reason to fail the call
            log.exception("could not remember who spoke with a caller",
                          extra={"extension_id": extension_id})

    async def choose(self, window_s: float, number: str, members: Sequence[M],
                     now: float) -> M | None:
        """The member to ring first for ``number``: the last to speak with them, if a ready
        member of this queue and within the window."""
        ext = await self.last_agent(number, window_s, now)
        if ext is None:
            return None
        for m in members:
            if m.extension_id == ext and getattr(m, "ready", not getattr(m, "paused", False)):
                return m
        return None
