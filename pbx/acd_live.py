"""The live state of the groups: callers waiting in each operator or ACD group, in order;
members being offered a call right now; agents in wrap-up after a call.

The waiting calls themselves run in :mod:`pbx.destinations.queue`; this board is what they
share, what the control API reads (queue status, agents' live state) and acts on («Mover
Cola»: a waiting caller to another group), and the one place that announces changes on the bus
(``acd.queue``). A waiting call sleeps until the board wakes it (its turn may have come, an
agent may be free, it was moved) or until its own re-check.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .acd import Member
from .calls.model import Call
from .events import Events, QueueChanged

log = logging.getLogger("pbx.acd")


class AgentState(StrEnum):
    """A member's state as supervisors see it, most decisive first."""

    LOGGED_OUT = "logged_out"
    PAUSED = "paused"
    UNAVAILABLE = "unavailable"
    """No phone of the extension is registered."""
    BUSY = "busy"
    """On a call (any call, queued or not)."""
    RINGING = "ringing"
    """Being offered a caller of a group."""
    WRAP_UP = "wrap_up"
    AVAILABLE = "available"


@dataclass(eq=False)
class Waiting:
    """A caller in a group's waiting line."""

    call: Call
    queue_id: int
    joined_at: float
    offering: bool = False
    """Ringing members for this caller right now."""
    move_to: int | None = None
    """Set by «Mover Cola»: the group the caller goes to."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Board:
    def __init__(self, events: Events, clock: Callable[[], float] = time.time) -> None:
        self.events = events
        self.clock = clock
        self._lines: dict[int, list[Waiting]] = {}
        self._by_call: dict[str, Waiting] = {}
        self._ringing: dict[int, str] = {}
        """extension id → the call it is being offered."""
        self._wrapup: dict[int, float] = {}
        """extension id → end of its wrap-up time."""
        self._timers: set[asyncio.TimerHandle] = set()

    # ------------------------------------------------------------------ the line
    def join(self, queue_id: int, call: Call) -> Waiting:
        w = Waiting(call, queue_id, self.clock())
        self._lines.setdefault(queue_id, []).append(w)
        self._by_call[call.call_id] = w
        return w

    def leave(self, w: Waiting) -> None:
        line = self._lines.get(w.queue_id, [])
        if w in line:
            line.remove(w)
            if not line:
                del self._lines[w.queue_id]
        if self._by_call.get(w.call.call_id) is w:
            del self._by_call[w.call.call_id]
        self.wake(w.queue_id)  # the callers behind moved up

    def waiting(self, queue_id: int) -> list[Waiting]:
        return list(self._lines.get(queue_id, []))

    def position(self, w: Waiting) -> int:
        """1 for the caller to be served next; 0 when no longer in line."""
        line = self._lines.get(w.queue_id, [])
        return line.index(w) + 1 if w in line else 0

    def may_offer(self, w: Waiting) -> bool:
        """Whether ``w`` may ring members now: every caller ahead of it is being offered
        already (so callers are served in order, several at once when members are free)."""
        for ahead in self._lines.get(w.queue_id, []):
            if ahead is w:
                return True
            if not ahead.offering:
                return False
        return False

    def move(self, call_id: str, from_queue: int, to_queue: int) -> bool:
        """«Mover Cola»: the waiting caller ``call_id`` of ``from_queue`` goes to
        ``to_queue``; False when no such caller waits there."""
        w = self._by_call.get(call_id)
        if w is None or w.queue_id != from_queue or w.move_to is not None:
            return False
        w.move_to = to_queue
        w.wake.set()
        return True

    def wake(self, queue_id: int | None = None) -> None:
        """Let the waiting callers of ``queue_id`` (or of every group) look again."""
        lines = [self._lines.get(queue_id, [])] if queue_id is not None \
            else list(self._lines.values())
        for line in lines:
            for w in line:
                w.wake.set()

    # ------------------------------------------------------------------ members
    def reserve(self, extension_ids: Iterable[int], call_id: str) -> None:
        for ext_id in extension_ids:
            self._ringing[ext_id] = call_id

    def release(self, extension_ids: Iterable[int]) -> None:
        for ext_id in extension_ids:
            self._ringing.pop(ext_id, None)
        self.wake()

    def ringing(self, extension_id: int) -> bool:
        return extension_id in self._ringing

    def start_wrapup(self, extension_id: int, seconds: float) -> None:
        """The agent at ``extension_id`` gets ``seconds`` of wrap-up before the next call."""
        if seconds <= 0:
            self.wake()
            return
        self._wrapup[extension_id] = self.clock() + seconds
        handle: asyncio.TimerHandle | None = None

        def over() -> None:
            self._timers.discard(handle)  # type: ignore[arg-type]
            self.wake()

        handle = asyncio.get_running_loop().call_later(seconds + 0.05, over)
        self._timers.add(handle)

    def wrapup_until(self, extension_id: int) -> float | None:
        until = self._wrapup.get(extension_id)
        if until is not None and until <= self.clock():
            del self._wrapup[extension_id]
            return None
        return until

    def state(self, member: Member, *, registered: bool, lines_in_use: int) -> AgentState:
        if not member.logged_in:
            return AgentState.LOGGED_OUT
        if member.paused:
            return AgentState.PAUSED
        if self.ringing(member.extension_id):
            return AgentState.RINGING  # (its line is held while it rings)
        if not registered:
            return AgentState.UNAVAILABLE
        if lines_in_use > 0:
            return AgentState.BUSY
        if self.wrapup_until(member.extension_id) is not None:
            return AgentState.WRAP_UP
        return AgentState.AVAILABLE

    # ------------------------------------------------------------------ announcing
    async def announce(self, queue_id: int, event: str, *, call_id: str = "",
                       extension_id: int | None = None, state: str = "") -> None:
        await self.events.emit(QueueChanged(queue_id, event, len(self._lines.get(queue_id, [])),
                                            call_id, extension_id, state))

    def listing(self, queue_id: int) -> list[dict[str, Any]]:
        """The waiting callers of a group, in order, as the control API shows them."""
        now = self.clock()
        out = []
        for i, w in enumerate(self._lines.get(queue_id, []), start=1):
            number, name = w.call.presented_as()
            out.append({"call_id": w.call.call_id, "position": i, "caller": number,
                        "caller_name": name or "", "waited_s": round(now - w.joined_at, 1),
                        "joined_at": w.joined_at, "offering": w.offering})
        return out

    def close(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
