"""Admission: the one gate every call passes before the PBX places it for someone.

A call is always placed *for* someone (:class:`~pbx.routing.Caller`): the phone that dialled
it (its user, category and extension), the user of a call-by-call mobility code, a user whose
forwarding sends the call on, the party who transfers it, a trunk for calls from outside, or
the PBX itself for what its configuration names (:data:`~pbx.routing.SYSTEM`: a queue's
overflow target). Whoever places a call — a dialled call, a forward, a transfer, a queue
overflow, a callback — asks :meth:`Admission.admit` with that someone, and gets the same
checks a dialled call gets:

1. a call-by-call mobility code (:mod:`pbx.mobility`): the call goes on as its user, to the
   code's destination (codes are limited against guessing; trunks may not use them);
2. flow control (mdflow): the phones' or the trunks' flow, by the number to call;
3. routing with the caller's restrictions: «solo entrantes» users, the category's allowed
   destination classes;
4. the destination, and for an outside number the trunks to try in order (the CDR's trunk is
   the one that carried the call).

The answer is a :class:`~pbx.routing.Route`; a refusal is a route of kind ``REJECT`` with the
SIP status and reason to give. Only routes handed out here are *admitted*
(:func:`admitted`): delivery (:class:`~pbx.destinations.base.Delivery`) and the trunks
(:class:`~pbx.destinations.trunks.TrunkDestination`) take no other, so a path that skipped
admission cannot place a call.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import replace

from webfon.passwords import PasswordChecks
from webfon.ratelimit import FailureLimiter

from .core import PbxCore
from .directory import QueueInfo, User
from .mdflow import OK
from .mobility import Attempt, MobilityCodes, MobilityError, is_mobility, parse, redact
from .routing import SYSTEM, Caller, Route, RouteKind, reject

log = logging.getLogger("pbx.admission")

_ADMITTED: weakref.WeakSet[Route] = weakref.WeakSet()


AMENDABLE = frozenset({"stats"})


def _issue(route: Route) -> Route:
    _ADMITTED.add(route)
    return route


def admitted(route: Route) -> bool:
    """Whether ``route`` is one :class:`Admission` handed out (the object itself: routes
    compare by identity, so neither a copy nor a look-alike passes)."""
    return route in _ADMITTED


class NotAdmitted(RuntimeError):
    """A route that did not come from :class:`Admission` was given for delivery."""


def mobility_codes(core: PbxCore) -> MobilityCodes:
    """The mobility codes of ``core``'s settings: PIN checks bounded, failures limited per
    source and per account."""
    s = core.settings
    return MobilityCodes(
        core.directory, PasswordChecks(s.password_checks or None),
        per_source=FailureLimiter(s.mobility_max_failures, s.mobility_window_s,
                                  s.mobility_lock_s, max_lock_s=s.mobility_max_lock_s),
        per_account=FailureLimiter(s.mobility_account_max_failures, s.mobility_window_s,
                                   s.mobility_lock_s, max_lock_s=s.mobility_max_lock_s))


class Admission:
    def __init__(self, core: PbxCore, mobility: MobilityCodes | None = None) -> None:
        self.core = core
        self.mobility = mobility or mobility_codes(core)

    async def admit(self, number: str, placed_for: Caller, *,
                    call_id: str | None = None) -> Route:
        """Where a call to ``number`` placed for ``placed_for`` goes, or why it may not."""
        if is_mobility(number):
            resolved = await self._mobility(number, placed_for, call_id)
            if isinstance(resolved, Route):
                return resolved
            number, placed_for = resolved
        settings = self.core.settings
        flow = settings.mdflow_flow_trunks if placed_for.trunk is not None \
            else settings.mdflow_flow_phones
        verdict = await self.core.mdflow.admit(flow, number)
        if verdict != OK:
            log.info("flow control refused a call", extra={"flow": flow, "number": number,
                                                           "verdict": verdict,
                                                           "call_id": call_id})
            return Route(RouteKind.REJECT, number, placed_for, status=503,
                         reason=f"Flow control: {verdict}", flow_verdict=verdict)
        route = await self.core.router.route(number, placed_for)
        return _issue(route) if route.kind is not RouteKind.REJECT else route

    def voicemail(self, user: User, caller: Caller, number: str) -> Route:
        """A route that leaves ``caller`` in ``user``'s mailbox (a forward «a mensa», an IVR
        option): nothing is placed anywhere, so nothing to check."""
        return _issue(Route(RouteKind.VOICEMAIL, number, caller, user=user))

    def queue(self, queue: QueueInfo, *, stats: bool = False) -> Route:
        """A route into ``queue`` that a supervisor or the configuration chose (a caller moved
        between groups): an internal group, placed by the PBX itself."""
        return _issue(Route(RouteKind.QUEUE, queue.number, SYSTEM, queue=queue, stats=stats))

    def amend(self, route: Route, **changes: bool) -> Route:
        """``route`` with what may change once admitted — only the group's statistics flag
        (``stats``) — still admitted; anything else must be admitted again."""
        if not admitted(route):
            raise NotAdmitted(f"{route.kind} route to {route.number} was not admitted")
        if set(changes) - AMENDABLE:
            raise ValueError(f"only {sorted(AMENDABLE)} change on an admitted route")
        return _issue(replace(route, **changes))

    async def _mobility(self, dialled: str, caller: Caller,
                        call_id: str | None) -> tuple[str, Caller] | Route:
        """The code's destination and its user as the caller, or the refusal."""
        shown = redact(dialled)
        if caller.trunk is not None:
            return reject(shown, caller, 403, "Mobility codes are not accepted from trunks")
        try:
            code = parse(dialled)
            user = await self.mobility.authorize(code, Attempt(
                caller.extension, _source_key(caller), caller.address, call_id))
        except MobilityError as exc:
            return reject(shown, caller, exc.status, exc.reason)
        as_user = replace(caller, user=user, mobility=True,
                          category=await self.core.directory.category(user.category_id))
        return code.destination, as_user


def _source_key(caller: Caller) -> str:
    """Whom failed mobility codes are counted against: the dialling phone (web phones share
    the gateway's address, so not the address), else its extension or user."""
    if caller.phone is not None:
        return f"phone:{caller.phone.id}"
    if caller.extension is not None:
        return f"extension:{caller.extension.id}"
    if caller.user is not None:
        return f"user:{caller.user.id}"
    return f"address:{caller.address or '-'}"
