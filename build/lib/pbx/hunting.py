"""Multiterminal hunting: which phones of an extension ring, and in which rounds.

Seed 002: an extension has up to 8 phones; the lowest «orden» rings first, phones with the
same order ring together, order 0 never rings; disabled phones never ring. A phone with no
reachable registration is skipped, so the next order rings instead. Web Call «exclusivo»: while
the user's web phone is logged in (and registered) only it rings (the user's number is routed
to the web extension); «multiterminal»: the web phone is one more phone of the extension, rung
by order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .directory import Phone


@dataclass(frozen=True)
class RingTarget:
    phone_id: int
    contact: str
    source: str = ""
    transport: str = "udp"


def ring_rounds(phones: Sequence[Phone],
                reachable: Iterable[int] | None = None) -> list[list[Phone]]:
    """Phones grouped by ring order, lowest first; order 0 and disabled phones never ring.

    ``reachable`` (phone ids with a live registration) filters phones out when given.
    """
    live = None if reachable is None else set(reachable)
    rounds: dict[int, list[Phone]] = {}
    for phone in phones:
        if not phone.enabled or phone.ring_order <= 0:
            continue
        if live is not None and phone.id not in live:
            continue
        rounds.setdefault(phone.ring_order, []).append(phone)
    return [sorted(rounds[k], key=lambda p: p.position) for k in sorted(rounds)]


def exclusive_target(mode: str | None, logged_in: bool) -> bool:
    """True when the call must go to the web extension only (exclusivo mode, logged in)."""
    return logged_in and mode == "exclusivo"
