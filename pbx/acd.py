"""Groups and their strategies: which members ring, in which order, with penalties and pauses.

The three kinds of group (:class:`GroupKind`) behave differently (see pbx/README.md): a hunt
group («grupo de salto») rings its members and never keeps the caller waiting; an operator group
(«grupo de operadoras») answers the caller, who waits with music and hears their position; a
corporate ACD group queues callers for agents who log in and out, pause with a reason and have
wrap-up time after each call.

All three pick members with the same strategies. A plan is a list of rounds; each round is the
members rung together for ``ring_timeout_s``. Paused and logged-out members never ring; members
with a lower penalty are tried before any with a higher one.

* ``ringall``: every available member of the best penalty level together, then the next level.
* ``linear``: one at a time in member order (extension number).
* ``roundrobin``: one at a time, starting after the member that rang last (memory kept).
* ``leastrecent``: one at a time, the member whose last call is oldest first.
* ``fewestcalls``: one at a time, the member with fewest calls taken first.
* ``random``: one at a time in random order.

The caller waits for at most ``timeout_s``; then the call overflows to ``overflow_target``.
"""

from __future__ import annotations

import random as _random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

STRATEGIES = ("ringall", "linear", "roundrobin", "leastrecent", "fewestcalls", "random")


class GroupKind(StrEnum):
    HUNT = "hunt"
    """«Grupo de salto»: members rung by strategy; no waiting; busy or overflow at once when
    every member is busy, overflow when nobody answers within ``timeout_s``."""
    OPERATOR = "operator"
    """«Grupo de operadoras» (attendant group): the caller is answered, waits in line with music
    and hears their position; static members (no login)."""
    ACD = "acd"
    """Corporate ACD group: a queue with agents who log in and out, penalties, pause with a
    reason, wrap-up time after each call, and a service level."""

    @property
    def waits(self) -> bool:
        """Callers wait in line (answered, music, position) instead of only ringing."""
        return self is not GroupKind.HUNT

    @property
    def has_agents(self) -> bool:
        """Members log in and out, and have wrap-up time."""
        return self is GroupKind.ACD


@dataclass(frozen=True)
class Member:
    extension_id: int
    number: str
    penalty: int = 0
    paused: bool = False
    last_call_at: float = 0.0
    calls_taken: int = 0
    logged_in: bool = True
    pause_reason: str = ""
    state_since: float = 0.0
    user_id: int | None = None
    """Who answers at this extension: its owner, or the user whose web phone it is."""
    user_name: str = ""

    @property
    def ready(self) -> bool:
        """Logged in and not paused (whether free right now is another matter)."""
        return self.logged_in and not self.paused


def plan(strategy: str, members: Sequence[Member], *, last_rr: int | None = None,
         rng: _random.Random | None = None) -> list[list[Member]]:
    """Rounds of members to ring, in order."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}")
    available = [m for m in members if m.ready]
    levels = sorted({m.penalty for m in available})
    rounds: list[list[Member]] = []
    for level in levels:
        group = sorted((m for m in available if m.penalty == level), key=_number_key)
        if strategy == "ringall":
            rounds.append(group)
            continue
        if strategy == "roundrobin":
            ordered = _after(group, last_rr)
        elif strategy == "leastrecent":
            ordered = sorted(group, key=lambda m: (m.last_call_at, _number_key(m)))
        elif strategy == "fewestcalls":
            ordered = sorted(group, key=lambda m: (m.calls_taken, _number_key(m)))
        elif strategy == "random":
            ordered = list(group)
            (rng or _random.Random()).shuffle(ordered)
        else:
            ordered = group
        rounds.extend([m] for m in ordered)
    return rounds


def _number_key(m: Member) -> tuple[int, str]:
    return (len(m.number), m.number)


def _after(group: list[Member], last: int | None) -> list[Member]:
    if last is None:
        return group
    ids = [m.extension_id for m in group]
    if last in ids:
        i = ids.index(last) + 1
        return group[i:] + group[:i]
    # The last member left the group: start from the next number after where it stood.
    return group
