"""An outside number as destination: out by the trunks admission chose, in order.

This is the only way out to a trunk, and it takes admitted routes only
(:func:`~pbx.admission.admitted`): a dialled call, a forward and a blind transfer all leave
through :meth:`TrunkDestination.ring_out`, so the category, flow control and the trunks of
whoever the call is placed for apply to each, and the CDR's trunk is recorded for each.

Each trunk is tried for ``trunk_timeout_s``; a trunk that is unavailable (503, 408, 5xx, no
response) or full (``max_calls_per_trunk`` calls in progress) passes the call to the next
one, as the seed's ``Cen_Sub_SiguienteTrunk`` does; any other final answer (busy, not found…)
ends the call. The CDR's trunk is the last one tried.
"""

from __future__ import annotations

import logging

from webfon.sip import SipURI

from ..admission import NotAdmitted, admitted
from ..calls.active import ActiveCalls
from ..calls.leg import CallLeg
from ..calls.model import Call
from ..calls.ringer import Contact, Ringer, RingResult, RingStatus
from ..cdr import Direction
from ..directory import Trunk
from ..routing import Caller, Route, RouteKind, should_failover, trunk_number

log = logging.getLogger("pbx.destinations")

ALL_UNAVAILABLE = RingResult(RingStatus.FAILED, 503, "All trunks unavailable")
ALL_BUSY = RingResult(RingStatus.FAILED, 503, "All trunks busy")


def _trunk_uri(trunk: Trunk, number: str) -> str:
    """Where a call to ``number`` goes on ``trunk``."""
    params: dict[str, str | None] = {}
    if trunk.transport != "udp":
        params["transport"] = trunk.transport
    return str(SipURI("sip", trunk_number(trunk, number), trunk.host, trunk.port,
                      params=params))


class TrunkDestination:
    def __init__(self, ringer: Ringer, active: ActiveCalls, trunk_timeout_s: float,
                 max_calls_per_trunk: int = 0,
                 tls_names: dict[tuple[str, int], str] | None = None) -> None:
        self.ringer = ringer
        self.active = active
        self.trunk_timeout_s = trunk_timeout_s
        self.max_calls_per_trunk = max_calls_per_trunk
        self.tls_names = tls_names if tls_names is not None else {}
        """The SIP endpoint's names for TLS peers known by address (SNI, name check)."""

    async def deliver(self, call: Call, route: Route, depth: int) -> None:
        call.direction = Direction.OUTBOUND if call.caller.trunk is None else Direction.INBOUND
        result = await self.ring_out(call, route)
        if result.status in (RingStatus.ANSWERED, RingStatus.CALLER_GONE):
            return
        call.refuse(result.code or 500, result.reason or "Failed")

    async def ring_out(self, call: Call, route: Route,
                       anchor: CallLeg | None = None) -> RingResult:
        """Call ``route``'s number out by its trunks in order and connect whoever answers
        with ``anchor`` (default: the caller). Raises :class:`NotAdmitted` for a route that
        did not come from admission."""
        if not admitted(route) or route.kind is not RouteKind.EXTERNAL:
            raise NotAdmitted(f"not an admitted outside route: {route.kind} {route.number}")
        last: RingResult | None = None
        for trunk in route.trunks:
            limit = self.max_calls_per_trunk
            if limit and self.active.trunk_calls(trunk.name) >= limit:
                log.warning("trunk full: trying the next", extra={
                    "call_id": call.call_id, "trunk": trunk.name, "limit": limit})
                continue
            call.trunk = trunk.name
            self.active.take_trunk(trunk.name)
            if trunk.transport == "tls" and trunk.tls_server_name:
                self.tls_names[(trunk.host, trunk.port)] = trunk.tls_server_name
            result = await self.ringer.ring(call, [Contact(_trunk_uri(trunk, route.number))],
                                            self.trunk_timeout_s, callee=route.number,
                                            trunk=trunk.name, anchor=anchor,
                                            party=Caller(trunk=trunk), srtp=trunk.srtp)
            if result.status is RingStatus.ANSWERED:
                call.trunks.append(trunk.name)  # held until the call ends
                return result
            self.active.free_trunk(trunk.name)
            if result.status is RingStatus.CALLER_GONE:
                return result
            code = None if result.status is RingStatus.NO_ANSWER or result.code == 0 \
                else result.code
            if should_failover(code):
                log.info("Cen_Sub_SiguienteTrunk: trunk unavailable, trying the next",
                         extra={"call_id": call.call_id, "trunk": trunk.name,
                                "status": result.code})
                last = result
                continue
            return result
        if last is None:
            return ALL_BUSY
        if last.status is RingStatus.NO_ANSWER:
            return RingResult(RingStatus.NO_ANSWER, 480, "No answer")
        return ALL_UNAVAILABLE
