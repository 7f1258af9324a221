"""A call through the B2BUA: its legs, who placed it and for whom, where it went, and how it
ended, as its CDR rows will tell.

The call observes its legs (:class:`~pbx.calls.leg.LegObserver`): a hangup wakes whoever
supervises the call; any other event (re-INVITE, INFO, REFER) goes to the in-call features
(:class:`LegEventHandler`, see :mod:`pbx.features`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from ..cdr import Direction, Disposition
from ..events import CallProgress
from ..routing import Caller
from .leg import CallLeg, Hangup, LegEvent

log = logging.getLogger("pbx.calls")


class CallState(StrEnum):
    ROUTING = "routing"
    """Being admitted and delivered: ringing, queued, forwarded."""
    CONNECTED = "connected"
    VOICEMAIL = "voicemail"
    CONFERENCE = "conference"
    """The caller is a participant of a conference room (answered by the PBX)."""
    ENDED = "ended"


@dataclass(slots=True)
class Attempt:
    """One try to reach a phone, a trunk or a queue member (a technical CDR row)."""

    target: str
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    disposition: Disposition = Disposition.FAILED
    code: int = 0
    trunk: str = ""


class LegEventHandler(Protocol):
    """What a connected call does with its legs' requests (hold, DTMF, transfer…)."""

    def handle(self, call: Call, leg: CallLeg, event: LegEvent) -> Awaitable[None] | None: ...


EndHook = Callable[["Call", float], Awaitable[None]]
"""Run when the call has ended (with the end time), before its CDR rows are written."""


@dataclass(eq=False, slots=True, weakref_slot=True)
class Call:
    call_id: str
    a: CallLeg
    """The caller's leg."""
    dialled: str
    caller: Caller
    """Who the call is placed for (the authenticated phone's user, a mobility user, a trunk)."""
    features: LegEventHandler
    """What the call does with its legs' requests other than hangups."""
    started_at: float = field(default_factory=time.time)
    answered_at: float | None = None
    b: CallLeg | None = None
    """The answering party's leg, once someone answered."""
    state: CallState = CallState.ROUTING
    disposition: Disposition = Disposition.FAILED
    hangup_cause: str = ""
    trunk: str = ""
    direction: Direction = Direction.INTERNAL
    peer_user_id: int | None = None
    callee: str = ""
    """The number the call was delivered to (after forwarding or a transfer)."""
    attempts: list[Attempt] = field(default_factory=list)
    ringing_sent: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a leg hangs up or is swapped, for whoever supervises the call."""
    merged: bool = False
    """The call's parties went to another call (attended transfer): nothing left to end."""
    extensions: list[str] = field(default_factory=list)
    """Extensions whose lines the call holds until it ends."""
    trunks: list[str] = field(default_factory=list)
    """Trunks the call is on (came in by, went out by) until it ends."""
    transferred_by: str = ""
    """The number of whoever last transferred the call elsewhere (placed it as theirs)."""
    end_hooks: list[EndHook] | None = None

    # ------------------------------------------------------------------ legs
    def other(self, leg: CallLeg) -> CallLeg | None:
        return self.b if leg is self.a else self.a

    def legs(self) -> list[CallLeg]:
        return [leg for leg in (self.a, self.b) if leg is not None]

    def attach(self, leg: CallLeg) -> None:
        """``leg`` reports its events to this call."""
        leg.observe(self)

    def on_leg_event(self, leg: CallLeg, event: LegEvent) -> Awaitable[None] | None:
        if isinstance(event, Hangup):
            self.changed.set()
            return None
        return self.features.handle(self, leg, event)

    @property
    def caller_gone(self) -> bool:
        return self.a.terminated

    # ------------------------------------------------------------------ outcome
    def refuse(self, status: int, reason: str,
               disposition: Disposition | None = None) -> None:
        """End the call unanswered: the caller gets ``status`` if still waiting; the
        disposition follows from the status unless given."""
        self.a.reject(status, reason)
        self.state = CallState.ENDED
        self.hangup_cause = self.hangup_cause or f"{status} {reason}"
        self.disposition = disposition or disposition_of(status, reason)

    def add_end_hook(self, hook: EndHook) -> None:
        if self.end_hooks is None:
            self.end_hooks = []
        self.end_hooks.append(hook)

    def presented_as(self) -> tuple[str, str | None]:
        """The number and name shown to the parties the call rings."""
        caller = self.caller
        from_ = self.a.caller_id
        number = caller.display_number or (from_.uri.user or "anonymous")
        name = caller.user.display_name if caller.user else from_.display_name
        return number, name

    def progress(self, kind: type[CallProgress]) -> CallProgress:
        """The bus event ``kind`` (started, answered) for this call."""
        caller = self.caller
        return kind(self.call_id, caller.number, self.dialled,
                    caller.user.id if caller.user else None, self.peer_user_id,
                    self.direction, self.started_at)


def disposition_of(status: int, reason: str) -> Disposition:
    """The disposition of a call refused with ``status``."""
    if status in (486, 600):
        return Disposition.BUSY
    if status == 480 and reason == "No answer":
        return Disposition.NO_ANSWER
    if status in (403, 404, 484, 488):
        return Disposition.REJECTED
    return Disposition.FAILED
