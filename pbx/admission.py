"""Admission: the one gate every call passes before the PBX places it for someone.

A call is always placed *for* someone (:class:`~pbx.routing.Caller`): the phone that dialled
it (its user, category and extension), the user of a call-by-call mobility code, a user whose
forwarding sends the call on, a trunk for calls from outside, or the PBX itself for what its
configuration names (:data:`~pbx.routing.SYSTEM`: a queue's overflow target). Whoever places a
call — a dialled call, a forward, a transfer, a queue overflow — asks :meth:`Admission.admit`
with that someone, and gets the same checks a dialled call gets:

1. flow control (mdflow): the phones' or the trunks' flow, by the number dialled;
2. routing with the caller's restrictions: «solo entrantes» users, the category's allowed
   destination classes, mobility codes;
3. the destination, and for an outside number the trunks to try in order (the CDR's trunk is
   the one that carried the call).

Parts with rules of their own add a :class:`Restriction` (a hotel room: closed while vacant,
do not disturb): it may narrow whom the call is placed for before routing and refuse the
route after.

The answer is a :class:`~pbx.routing.Route`; a refusal is a route of kind ``REJECT`` with the
SIP status and reason to give.
"""

from __future__ import annotations

import logging
from typing import Protocol

from .core import PbxCore
from .mdflow import OK
from .routing import Caller, Route, RouteKind

log = logging.getLogger("pbx.admission")


class Restriction(Protocol):
    async def restrict(self, placed_for: Caller) -> Caller:
        """Whom the call is placed for, narrowed (a narrower category)."""

    async def check(self, route: Route) -> Route:
        """The route, or a ``REJECT`` route saying why the call may not go there."""


class Admission:
    def __init__(self, core: PbxCore) -> None:
        self.core = core
        self.restrictions: list[Restriction] = []

    async def admit(self, number: str, placed_for: Caller) -> Route:
        """Where a call to ``number`` placed for ``placed_for`` goes, or why it may not."""
        for restriction in self.restrictions:
            placed_for = await restriction.restrict(placed_for)
        settings = self.core.settings
        flow = settings.mdflow_flow_trunks if placed_for.trunk is not None \
            else settings.mdflow_flow_phones
        verdict = await self.core.mdflow.admit(flow, number)
        if verdict != OK:
            log.info("flow control refused a call", extra={"flow": flow, "number": number,
                                                           "verdict": verdict})
            return Route(RouteKind.REJECT, number, placed_for, status=503,
                         reason=f"Flow control: {verdict}", flow_verdict=verdict)
        route = await self.core.router.route(number, placed_for)
        for restriction in self.restrictions:
            if route.kind is RouteKind.REJECT:
                break
            route = await restriction.check(route)
        return route
