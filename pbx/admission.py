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

The answer is a :class:`~pbx.routing.Route`; a refusal is a route of kind ``REJECT`` with the
SIP status and reason to give.
"""

from __future__ import annotations

import logging

from .core import PbxCore
from .mdflow import OK
from .routing import Caller, Route, RouteKind

log = logging.getLogger("pbx.admission")


class Admission:
    def __init__(self, core: PbxCore) -> None:
        self.core = core

    async def admit(self, number: str, placed_for: Caller) -> Route:
        """Where a call to ``number`` placed for ``placed_for`` goes, or why it may not."""
        settings = self.core.settings
        flow = settings.mdflow_flow_trunks if placed_for.trunk is not None \
            else settings.mdflow_flow_phones
        verdict = await self.core.mdflow.admit(flow, number)
        if verdict != OK:
            log.info("flow control refused a call", extra={"flow": flow, "number": number,
                                                           "verdict": verdict})
            return Route(RouteKind.REJECT, number, placed_for, status=503,
                         reason=f"Flow control: {verdict}", flow_verdict=verdict)
        return await self.core.router.route(number, placed_for)
