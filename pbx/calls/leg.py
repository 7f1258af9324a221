"""A call leg: one SIP dialog of the B2BUA with its media endpoint in the PBX's relay.

A call is made of legs: the caller's (an incoming INVITE, or an outgoing one for calls the PBX
places itself) and the answering party's; a transfer swaps one for another. A leg reports what
happens in its dialog as typed events (:data:`LegEvent`) to its observer, the call it belongs
to. Observing ties leg and call together (the dialog's callbacks reach the call), so
:meth:`CallLeg.detach` must run when the leg leaves the call: the call is then freed by
reference counting, with no cycle left for the garbage collector.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from webfon.sip import Address, Request, ServerTransaction, SipError, SipURI
from webfon.sip.sdp import SessionDescription
from webfon.sip.ua import Call as SipCall

from ..media import Leg as MediaLeg
from ..routing import Caller

HANGUP_TIMEOUT_S = 40.0


@dataclass(frozen=True, slots=True)
class Hangup:
    """The dialog ended: BYE, CANCEL or a final failure; ``by`` is ``local`` or ``remote``."""

    code: int
    reason: str
    by: str


@dataclass(frozen=True, slots=True)
class Info:
    """An INFO request in the dialog (already answered 200)."""

    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Refer:
    """A REFER (already answered 202): a blind transfer, or an attended one when ``replaces``
    names the dialog to replace (``call-id;to-tag=…;from-tag=…``)."""

    target: Address
    replaces: str | None


@dataclass(frozen=True, slots=True)
class Reinvite:
    """A re-INVITE or UPDATE with the leg's new offer; the observer answers ``tx``."""

    request: Request
    tx: ServerTransaction


LegEvent = Hangup | Info | Refer | Reinvite


class LegObserver(Protocol):
    def on_leg_event(self, leg: CallLeg, event: LegEvent) -> Awaitable[None] | None: ...


class CallLeg:
    """One side of a call: its dialog (``sip``), its media in the PBX, who is on it.

    Who is on it, for what they do in the call (a transfer places a call *as them*): ``party``
    when known as a caller (the caller's leg, a trunk's), else ``phone``, the SIP user name of
    the registered phone that answered (its rights are looked up when needed).
    """

    __slots__ = ("__weakref__", "_observer", "media", "number", "party", "phone", "sdp", "sip",
                 "user_id")

    def __init__(self, sip: SipCall, media: MediaLeg, number: str = "",
                 user_id: int | None = None, sdp: SessionDescription | None = None, *,
                 party: Caller | None = None, phone: str | None = None) -> None:
        self.sip = sip
        self.media = media
        self.number = number
        self.user_id = user_id
        self.sdp = sdp
        """What this party last offered or answered."""
        self.party = party
        self.phone = phone
        self._observer: LegObserver | None = None

    # ------------------------------------------------------------------ state
    @property
    def ended(self) -> asyncio.Future[tuple[int, str]]:
        return self.sip.ended

    @property
    def terminated(self) -> bool:
        return self.sip.state == "terminated"

    @property
    def pending(self) -> bool:
        """An incoming INVITE not answered yet."""
        return self.sip.direction == "in" and self.sip.state in ("incoming", "ringing")

    @property
    def caller_id(self) -> Address:
        """The From of the leg's INVITE."""
        return self.sip.invite.from_

    def has_dialog(self, call_id: str, tags: set[str | None]) -> bool:
        """Whether this leg's dialog is ``call_id`` with these two tags (in either role)."""
        d = self.sip.dialog
        return d is not None and d.call_id == call_id and {d.local_tag, d.remote_tag} == tags

    # ------------------------------------------------------------------ answering
    def ringing(self) -> None:
        with contextlib.suppress(SipError):
            self.sip.ringing()

    def accept(self, sdp: bytes) -> bool:
        """Answer the incoming INVITE; False when it can no longer be answered."""
        try:
            self.sip.accept(sdp)
        except SipError:
            return False
        return True

    def reject(self, status: int, reason: str) -> None:
        """Refuse the incoming INVITE if it is still pending."""
        if self.pending:
            with contextlib.suppress(SipError):
                self.sip.reject(status, reason)

    @property
    def remote_target(self) -> SipURI | None:
        """Where the other end of the dialog is reached (its Contact), once there is one."""
        d = self.sip.dialog
        return d.remote_target if d is not None else None

    def abandon(self, reason: str) -> None:
        """End the dialog here without a word to its peer, known to be gone (a gateway node
        that died): a BYE could only time out. The call sees the leg end as any other."""
        self.sip.abandon(reason)

    async def hangup(self, timeout: float = HANGUP_TIMEOUT_S) -> None:
        """End the dialog whatever its state (BYE, CANCEL or a final response); never
        raises."""
        with contextlib.suppress(SipError, OSError, TimeoutError):
            async with asyncio.timeout(timeout):
                await self.sip.hangup()

    # ------------------------------------------------------------------ observing
    def observe(self, observer: LegObserver) -> None:
        """Report this leg's events to ``observer`` from now on (one observer at a time)."""
        self._observer = observer
        self.sip.on_event = self._sip_event
        self.sip.on_reinvite = self._sip_reinvite

    def detach(self) -> None:
        """Stop reporting events (re-INVITEs are then answered by the dialog itself)."""
        self._observer = None
        self.sip.on_event = None
        self.sip.on_reinvite = None

    def _sip_event(self, name: str, data: dict[str, Any]) -> Awaitable[None] | None:
        observer = self._observer
        if observer is None:
            return None
        event: LegEvent
        if name == "hangup":
            event = Hangup(data["code"], data["reason"], data["by"])
        elif name == "info":
            event = Info(data.get("content_type") or "", data.get("body") or b"")
        elif name == "refer":
            event = Refer(data["target"], data.get("replaces"))
        else:
            return None
        return observer.on_leg_event(self, event)

    def _sip_reinvite(self, request: Request, tx: ServerTransaction) -> Awaitable[None] | None:
        observer = self._observer
        if observer is None:
            tx.respond(488)
            return None
        return observer.on_leg_event(self, Reinvite(request, tx))

    def __repr__(self) -> str:
        return f"<CallLeg {self.number or '?'} {self.sip!r}>"
