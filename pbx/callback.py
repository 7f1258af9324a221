"""Callbacks («Retrollamada»): ring the requester when the busy party is free, then call it.

Someone who called a busy number dials ``*43#`` (the smart button «Retrollamada»; or
``*43*<number>#`` for any number) to book a callback to it; ``*44#`` («Cancelar
retrollamada») cancels their bookings (:mod:`pbx.destinations.codes` answers the codes). The
portal books and cancels them too (FONBO writes the ``callbacks`` table). Bookings expire
after ``callback_ttl_s``.

Every ``callback_poll_s`` the PBX looks at the pending bookings: when the target is free (its
extension holds no line and is registered; an outside number is not watched) and the requester
too, it rings the requester
(showing the target's number, «Retrollamada»; the leg's party is the requester, so what they do
in the call — a transfer — is done with their rights); once they answer, the target's number is
admitted *for the requester* — ``Admission.admit(target, placed_for=requester)``, with the
category of the phone that booked it, never as the PBX — and the admitted route is delivered
like any call the requester dials (an outside number leaves by
:meth:`~pbx.destinations.trunks.TrunkDestination.ring_out`, the CDR's trunk recorded); the
requester hears ringback from the PBX meanwhile. The booking is done when the target answers;
otherwise it is tried again, up to ``callback_max_attempts`` times.
"""

from __future__ import annotations

import asyncio
import logging
import time

from .admission import Admission
from .calls.active import ActiveCalls
from .calls.factory import LegFactory
from .calls.lifecycle import CallLifecycle
from .calls.model import Call, CallState
from .calls.originate import Originator
from .calls.ringer import Contact
from .cdr import Direction, Disposition
from .destinations.base import Delivery
from .destinations.reach import Reach
from .directory import Directory, Extension, User
from .events import CallStarted, Events
from .repo.callbacks import Booking, CallbackRepo, CallbackState
from .routing import Caller, RouteKind
from .tasks import Background

log = logging.getLogger("pbx.callback")

BUSY_MEMORY_S = 600.0
"""How long a busy call can be called back with ``*43#``."""


class NothingToCallBack(LookupError):
    """``*43#`` with no busy call to call back."""


class Callbacks:
    def __init__(self, repo: CallbackRepo, directory: Directory, reach: Reach,
                 active: ActiveCalls, admission: Admission, delivery: Delivery,
                 lifecycle: CallLifecycle, legs: LegFactory, originator: Originator,
                 events: Events, background: Background, features: object, *,
                 ttl_s: float, ring_timeout_s: float, max_attempts: int) -> None:
        self.repo = repo
        self.directory = directory
        self.reach = reach
        self.active = active
        self.admission = admission
        self.delivery = delivery
        self.lifecycle = lifecycle
        self.legs = legs
        self.originator = originator
        self.events = events
        self.background = background
        self.features = features
        self.ttl_s = ttl_s
        self.ring_timeout_s = ring_timeout_s
        self.max_attempts = max_attempts
        self._busy: dict[str, tuple[str, float]] = {}
        self._trying: set[int] = set()

    # ------------------------------------------------------------------ booking
    def call_ended(self, call: Call) -> None:
        """Remember whom each caller found busy (for ``*43#``)."""
        number = requester_number(call.caller)
        if call.disposition is Disposition.BUSY and number and call.callee:
            self._busy[number] = (call.callee, time.monotonic())

    async def book(self, caller: Caller, target: str | None = None) -> int:
        """Book a callback for ``caller`` to ``target`` (default: the last busy number they
        called); raises :class:`NothingToCallBack`."""
        number = requester_number(caller)
        if not number:
            raise NothingToCallBack("this phone cannot be called back")
        if target is None:
            last = self._busy.get(number)
            if last is None or time.monotonic() - last[1] > BUSY_MEMORY_S:
                raise NothingToCallBack("no busy call to call back")
            target = last[0]
        if target == number:
            raise NothingToCallBack("a callback to oneself")
        booking = await self.repo.book(
            user_id=caller.user.id if caller.user else None,
            extension_id=caller.extension.id if caller.extension else None,
            phone_id=caller.phone.id if caller.phone else None, number=number, target=target,
            ttl_s=self.ttl_s)
        self._busy.pop(number, None)
        log.info("callback booked", extra={"callback_id": booking, "requester": number,
                                           "target": target})
        return booking

    async def cancel(self, caller: Caller) -> int:
        number = requester_number(caller)
        count = await self.repo.cancel_all(number) if number else 0
        log.info("callbacks cancelled", extra={"requester": number, "count": count})
        return count

    # ------------------------------------------------------------------ watching
    async def run(self, interval: float) -> None:
        await self.repo.reset_calling()
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("callback check failed")
            await asyncio.sleep(interval)

    async def check(self) -> int:
        """Expire old bookings and start a try for each one whose parties are free now;
        how many were started."""
        await self.repo.expire()
        started = 0
        busy_now: set[str] = set()
        for booking in await self.repo.pending():
            if booking.id in self._trying or booking.requester_number in busy_now:
                continue
            requester = await self._requester(booking)
            if requester is None:
                await self.repo.start(booking)
                await self.repo.finish(booking.id, CallbackState.FAILED)
                continue
            contacts = await self._free_contacts(booking.requester_number)
            if not contacts or not await self._target_free(booking.target_number):
                continue
            if not await self.repo.start(booking):
                continue
            busy_now.add(booking.requester_number)
            self._trying.add(booking.id)
            self.background.spawn(self._try(booking, requester, contacts))
            started += 1
        return started

    async def _target_free(self, number: str) -> bool:
        """An outside number cannot be watched: it is tried as soon as the requester is
        free."""
        if await self.directory.number_kind(number) is None:
            return True
        return bool(await self._free_contacts(number))

    async def _free_contacts(self, number: str) -> list[Contact]:
        """The contacts of whoever ``number`` reaches, when they are in no call."""
        kind = await self.directory.number_kind(number)
        ext: Extension | None = None
        if kind == "user":
            user = await self.directory.user_by_number(number)
            if user is not None:
                ext = await self.reach.extension_for(
                    user, await self.directory.hard_extension_of(user.id))
        elif kind == "extension":
            ext = await self.directory.extension_by_number(number)
        if ext is None or self.active.lines_in_use(ext.number) > 0:
            return []
        return await self.reach.contacts(ext.number)

    async def _requester(self, booking: Booking) -> Caller | None:
        """Who the callback is placed for, as when they booked it: their user, extension
        and the category of the phone they booked it from."""
        d = self.directory
        user: User | None = None
        if booking.requester_user_id is not None:
            user = await d.user(booking.requester_user_id)
            if user is None or not user.enabled:
                return None
        ext = await d.extension(booking.requester_extension_id) \
            if booking.requester_extension_id is not None else None
        if user is None and ext is None:
            return None
        phone = None
        if ext is not None and booking.requester_phone_id is not None:
            phone = next((p for p in await d.phones(ext.id)
                          if p.id == booking.requester_phone_id), None)
        category_id = phone.category_id if phone is not None else None
        if category_id is None and user is not None:
            category_id = user.category_id
        if category_id is None and ext is not None:
            category_id = ext.category_id
        if user is not None and ext is not None and ext.kind == "web":
            ext = None  # a pool web extension may belong to someone else by now
        return Caller(user=user, extension=ext, phone=phone,
                      category=await d.category(category_id))

    # ------------------------------------------------------------------ a try
    async def _try(self, booking: Booking, requester: Caller, contacts: list[Contact]) -> None:
        outcome = CallbackState.FAILED
        call_id = ""
        try:
            outcome, call_id = await self._call(booking, requester, contacts)
        except Exception:
            log.exception("callback failed", extra={"callback_id": booking.id})
        finally:
            self._trying.discard(booking.id)
        if outcome is CallbackState.DONE:
            pass  # marked done when the target answered
        elif booking.attempts + 1 >= self.max_attempts or time.time() > booking.expires_at:
            await self.repo.finish(booking.id, CallbackState.FAILED, call_id)
        else:
            await self.repo.retry(booking.id)
        log.info("callback try", extra={"callback_id": booking.id, "outcome": str(outcome),
                                        "call_id": call_id})

    async def _call(self, booking: Booking, requester: Caller, contacts: list[Contact]
                    ) -> tuple[CallbackState, str]:
        target = booking.target_number
        shown = self.legs.caller_id(target, "Retrollamada")
        leg = await self.originator.ring(contacts, self.ring_timeout_s, shown,
                                         party=requester, number=booking.requester_number)
        if leg is None:
            return CallbackState.PENDING, ""
        call = Call(leg.sip.invite.call_id, leg, target, requester,
                    self.features,  # type: ignore[arg-type]
                    direction=Direction.INTERNAL)
        if requester.extension is not None:
            call.extensions.append(requester.extension.number)
        self.active.add(call)
        call.attach(leg)
        try:
            await self.events.emit(call.progress(CallStarted))
            route = await self.admission.admit(target, requester, call_id=call.call_id)
            if route.kind is RouteKind.EXTERNAL:
                call.direction = Direction.OUTBOUND
            await self.delivery.deliver(call, route)  # the ringer plays ringback to them
            if call.state is CallState.CONNECTED:
                await self.repo.finish(booking.id, CallbackState.DONE, call.call_id)
                await self.lifecycle.supervise(call)
                return CallbackState.DONE, call.call_id
            if not leg.terminated:
                player = leg.media.play_prompt("busy", loop=True)
                await asyncio.wait([player, leg.ended], timeout=3)
            return CallbackState.PENDING, call.call_id
        finally:
            await self.lifecycle.finish(call)


def requester_number(caller: Caller) -> str:
    """Where a caller is rung back: their user's number, else their extension's."""
    if caller.user is not None:
        return caller.user.login_number
    if caller.extension is not None:
        return caller.extension.number
    return ""
