"""The PBX's events on the bus, as typed records, and the one place that publishes them.

Each event names its topic and builds its own JSON payload (the payload's keys are what the
subscribers, FONBO's realtime gateway among them, read). :class:`Events` sends them on the
optional bus; a failing bus is logged and never breaks a call or a registration.
``call.ended`` carries a CDR row and is published by :class:`pbx.cdr.CdrWriter` once the row
is stored. ``acd.queue`` tells that a group's live state changed (FONBO relays it to the
agents and supervisors of that group).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

log = logging.getLogger("pbx.events")


class Publisher(Protocol):
    """The bus as the PBX uses it (``webfon.bus`` or a test double)."""

    async def publish(self, topic: str, payload: dict[str, Any]) -> Any: ...


class BusEvent(Protocol):
    topic: ClassVar[str]

    def payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class CallProgress:
    """What ``call.started`` and ``call.answered`` say about a call."""

    call_id: str
    caller: str
    callee: str
    user_id: int | None
    peer_user_id: int | None
    direction: str
    started_at: float

    def payload(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "caller": self.caller, "callee": self.callee,
                "user_id": self.user_id, "peer_user_id": self.peer_user_id,
                "direction": str(self.direction), "started_at": self.started_at}


@dataclass(frozen=True, slots=True)
class CallStarted(CallProgress):
    """A call was admitted and is being delivered."""

    topic: ClassVar[str] = "call.started"


@dataclass(frozen=True, slots=True)
class CallAnswered(CallProgress):
    """A call's first answer (later answers, e.g. after a transfer, are not announced)."""

    topic: ClassVar[str] = "call.answered"


@dataclass(frozen=True, slots=True)
class VoicemailNew:
    """A message was left in a user's mailbox; ``unread`` counts its unheard messages."""

    topic: ClassVar[str] = "voicemail.new"
    user_id: int
    message_id: int | None
    unread: int

    def payload(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "message_id": self.message_id, "unread": self.unread}


@dataclass(frozen=True, slots=True)
class RegistrationChanged:
    """A contact of an extension was registered, unregistered or expired."""

    topic: ClassVar[str] = "registration"
    extension: str
    contact: str
    state: str

    def payload(self) -> dict[str, Any]:
        return {"extension": self.extension, "contact": self.contact, "state": self.state}


@dataclass(frozen=True, slots=True)
class QueueChanged:
    """Something changed in a group's live state: a caller joined or left its waiting line
    (``event`` joined, answered, abandoned, overflowed, moved) or a member's state changed
    (``agent``). Says what changed, not who: listeners that may see more ask the status."""

    topic: ClassVar[str] = "acd.queue"
    queue_id: int
    event: str
    waiting: int
    call_id: str = ""
    extension_id: int | None = None
    state: str = ""

    def payload(self) -> dict[str, Any]:
        return {"queue_id": self.queue_id, "event": self.event, "waiting": self.waiting,
                "call_id": self.call_id, "extension_id": self.extension_id,
                "state": self.state}


class Events:
    """Publishes :class:`BusEvent` s on the bus, if there is one."""

    def __init__(self, bus: Publisher | None) -> None:
        self.bus = bus

    async def emit(self, event: BusEvent) -> None:
        if self.bus is None:
            return
        try:
            await self.bus.publish(event.topic, event.payload())
        except Exception:
            log.exception("publish failed", extra={"topic": event.topic})
