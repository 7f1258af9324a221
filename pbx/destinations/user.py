"""A user or an extension as destination: forwarding («Desvíos»), then the phones.

A user is reached on the extension :class:`~.reach.Reach` picks (their web phone «exclusivo»
or their own). Forwarding applies before ringing (unconditional, not logged in, busy), on busy
and on no answer; a forward to a number is placed for the forwarding user with their
forwarding category (:class:`~pbx.admission.Admission`), a forward to voicemail goes to their
mailbox. The extension's phones ring in multiterminal rounds by «orden»
(:func:`~pbx.hunting.ring_rounds`); an extension whose lines are all in use is busy.
"""

from __future__ import annotations

import logging
import time

from ..admission import Admission
from ..calls.active import ActiveCalls
from ..calls.model import Attempt, Call
from ..calls.ringer import Contact, Ringer, RingStatus
from ..cdr import Disposition
from ..directory import Directory, Extension, User
from ..forwarding import Forward, ForwardingRules, resolve
from ..hunting import ring_rounds
from ..location import Location
from ..routing import Caller, Route, RouteKind
from .base import MAX_FORWARD_DEPTH, Delivery
from .reach import Reach

log = logging.getLogger("pbx.destinations")


class UserDestination:
    def __init__(self, directory: Directory, location: Location, reach: Reach,
                 active: ActiveCalls, ringer: Ringer, admission: Admission, delivery: Delivery,
                 no_answer_timeout_s: float) -> None:
        self.directory = directory
        self.location = location
        self.reach = reach
        self.active = active
        self.ringer = ringer
        self.admission = admission
        self.delivery = delivery
        self.no_answer_timeout_s = no_answer_timeout_s

    async def deliver(self, call: Call, route: Route, depth: int) -> None:
        d = self.directory
        user = route.user
        target: Extension | None = route.extension
        if user is not None:
            call.peer_user_id = user.id
            target = await self.reach.extension_for(user, target)
        rules = ForwardingRules.from_rows(await d.forwarding_rules(user.id) if user else [])
        rounds = await self._rounds(target) if target is not None else []
        busy = target is not None and \
            self.active.lines_in_use(target.number) >= target.line_count
        fwd = resolve(rules, registered=bool(rounds), busy=busy)
        if fwd is not None:
            await self._forward(call, fwd, user, depth)
            return
        if busy:
            call.refuse(486, "Busy Here")
            return
        if not rounds:
            call.refuse(480, "Not registered")
            return
        assert target is not None
        timeout = rules.ring_timeout(self.no_answer_timeout_s)
        for contacts in rounds:
            result = await self.ringer.ring(call, contacts, timeout, callee=target.number,
                                            callee_user=user, extension=target.number)
            if result.status in (RingStatus.ANSWERED, RingStatus.CALLER_GONE):
                return
            if result.status is RingStatus.BUSY:
                fwd = rules.on("busy")
                if fwd is not None:
                    await self._forward(call, fwd, user, depth)
                else:
                    call.refuse(486, "Busy Here")
                return
        fwd = rules.on("no_answer")
        if fwd is not None:
            await self._forward(call, fwd, user, depth)
            return
        call.refuse(480, "No answer")

    async def _rounds(self, target: Extension) -> list[list[Contact]]:
        """The contacts to ring together, round after round."""
        bindings = [b for b in await self.location.lookup(target.number) if b.reachable]
        phones = await self.directory.phones(target.id)
        by_phone: dict[int, list[Contact]] = {}
        for b in bindings:
            if b.phone_id is not None:
                by_phone.setdefault(b.phone_id, []).append(Contact(b.contact, b.username))
        return [[c for p in group for c in by_phone.get(p.id, [])]
                for group in ring_rounds(phones, by_phone.keys())]

    async def _forward(self, call: Call, fwd: Forward, user: User | None, depth: int) -> None:
        log.info("forwarding", extra={"call_id": call.call_id, "rule": fwd.describe()})
        now = time.time()
        call.attempts.append(Attempt(f"forward:{fwd.describe()}", now, ended_at=now,
                                     disposition=Disposition.FORWARDED))
        if fwd.to_voicemail:
            if user is None:
                call.refuse(480, "No voicemail")
                return
            await self.delivery.deliver(
                call, self.admission.voicemail(user, call.caller, call.callee), depth)
            return
        if depth >= MAX_FORWARD_DEPTH:
            call.refuse(482, "Forwarding loop")
            return
        category = await self.directory.category(
            user.forward_category_id if user and user.forward_category_id
            else (user.category_id if user else None))
        route = await self.admission.admit(fwd.number, Caller(user=user, category=category),
                                           call_id=call.call_id)
        if route.kind is RouteKind.REJECT:
            call.refuse(route.status, route.reason)
            return
        await self.delivery.deliver(call, route, depth + 1)
