"""An outside number as destination: out by the trunks admission chose, in order.

This is the only way out to a trunk, and it takes admitted routes only
(:func:`~pbx.admission.admitted`): a dialled call, a forward, a routing rule's trunk and a
blind transfer all leave through :meth:`TrunkDestination.ring_out`, and a first leg the PBX
places itself (a campaign's call) through :meth:`TrunkDestination.originate`, so the category,
flow control and the trunks of whoever the call is placed for apply to each, each counts
against the trunk's limit, and the CDR's trunk is recorded for each.

Each trunk is tried for ``trunk_timeout_s``; a trunk that is unavailable (503, 408, 5xx, no
response) or full (``max_calls_per_trunk`` calls in progress) passes the call to the next
one, as the seed's ``Cen_Sub_SiguienteTrunk`` does; any other final answer (busy, not found…)
ends the call. The CDR's trunk is the last one tried. A route a routing rule gave may carry a
prefix sent in front of the number on the trunk (a carrier selection code).

An extension's answered call to an outside number makes it the last to have spoken with that
number (a sticky queue offers that party's call back to it first, :mod:`pbx.sticky`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from webfon.sip import Address, SipURI

from ..admission import NotAdmitted, admitted
from ..calls.active import ActiveCalls
from ..calls.leg import CallLeg
from ..calls.model import Call
from ..calls.originate import Originated, Originator
from ..calls.ringer import Contact, Ringer, RingResult, RingStatus
from ..cdr import Direction
from ..directory import Trunk
from ..routing import Caller, Route, RouteKind, should_failover, trunk_number
from ..sticky import StickyAgents

log = logging.getLogger("pbx.destinations")

ALL_UNAVAILABLE = RingResult(RingStatus.FAILED, 503, "All trunks unavailable")
ALL_BUSY = RingResult(RingStatus.FAILED, 503, "All trunks busy")


def _trunk_uri(trunk: Trunk, route: Route) -> str:
    """Where a call to ``route``'s number goes on ``trunk`` (a rule's prefix in front)."""
    params: dict[str, str | None] = {}
    if trunk.transport != "udp":
        params["transport"] = trunk.transport
    return str(SipURI("sip", trunk_number(trunk, route.dial_prefix + route.number), trunk.host,
                      trunk.port, params=params))


class TrunkDestination:
    def __init__(self, ringer: Ringer, active: ActiveCalls, trunk_timeout_s: float,
                 max_calls_per_trunk: int = 0, sticky: StickyAgents | None = None,
                 tls_names: dict[tuple[str, int], str] | None = None) -> None:
        self.ringer = ringer
        self.active = active
        self.trunk_timeout_s = trunk_timeout_s
        self.max_calls_per_trunk = max_calls_per_trunk
        self.sticky = sticky
        self.tls_names = tls_names if tls_names is not None else {}
        """The SIP endpoint's names for TLS peers known by address (SNI, name check)."""

    async def deliver(self, call: Call, route: Route, depth: int) -> None:
        call.direction = Direction.OUTBOUND if call.caller.trunk is None else Direction.INBOUND
        result = await self.ring_out(call, route)
        if result.status is RingStatus.ANSWERED:
            ext = call.caller.extension
            if self.sticky is not None and ext is not None and call.caller.trunk is None:
                await self.sticky.remember(route.number, ext.id, time.time())
            return
        if result.status is RingStatus.CALLER_GONE:
            return
        call.refuse(result.code or 500, result.reason or "Failed")

    async def ring_out(self, call: Call, route: Route,
                       anchor: CallLeg | None = None) -> RingResult:
        """Call ``route``'s number out by its trunks in order and connect whoever answers
        with ``anchor`` (default: the caller). Raises :class:`NotAdmitted` for a route that
        did not come from admission."""
        _check(route)

        async def ring(trunk: Trunk) -> RingResult:
            call.trunk = trunk.name
            return await self.ringer.ring(call, [Contact(_trunk_uri(trunk, route))],
                                          self.trunk_timeout_s, callee=route.number,
                                          trunk=trunk.name, anchor=anchor,
                                          party=Caller(trunk=trunk), srtp=trunk.srtp)

        result, trunk = await self._by_trunks(route, call.call_id, ring)
        if trunk is not None:
            call.trunks.append(trunk.name)  # held until the call ends
        return result

    async def originate(self, route: Route, originator: Originator, shown_as: Address,
                        timeout: float, *, party: Caller | None = None) -> Originated:
        """A first leg the PBX places itself to ``route``'s outside number (a campaign's
        call), by the same trunks in order, within the same limits, as any call out. Whoever
        answers is on the leg as ``party``, reached through the trunk (the trunk's rights,
        never more: default the trunk itself). An answered leg holds its trunk: the call
        built on it must list it in ``Call.trunks`` (after ``ActiveCalls.add``) so that its
        end gives it back, or give it back with :meth:`release`. Raises
        :class:`NotAdmitted` for a route that did not come from admission."""
        _check(route)
        placed: list[Originated] = []

        async def ring(trunk: Trunk) -> RingResult:
            on_it = Caller(trunk=trunk) if party is None else replace(party, trunk=trunk)
            try_ = await originator.ring([Contact(_trunk_uri(trunk, route))], timeout,
                                         shown_as, party=on_it, number=route.number,
                                         trunk=trunk.name, srtp=trunk.srtp)
            placed.append(try_)
            return try_.result

        result, trunk = await self._by_trunks(route, "", ring)
        attempts = [a for p in placed for a in p.attempts]
        if trunk is None:
            return Originated(result, trunk=placed[-1].trunk if placed else "",
                              attempts=attempts)
        return Originated(result, placed[-1].leg, trunk.name, attempts)

    def release(self, trunk: str) -> None:
        """Give back a trunk an answered :meth:`originate` leg held, when no call took it."""
        self.active.free_trunk(trunk)

    async def _by_trunks(self, route: Route, call_id: str,
                         ring: Callable[[Trunk], Awaitable[RingResult]]
                         ) -> tuple[RingResult, Trunk | None]:
        """Ring ``route``'s trunks in order with ``ring``, skipping full ones, passing
        unavailable ones; the result and the trunk now held by the answered call (None when
        nobody answered: every trunk given back)."""
        last: RingResult | None = None
        for trunk in route.trunks:
            limit = self.max_calls_per_trunk
            if limit and self.active.trunk_calls(trunk.name) >= limit:
                log.warning("trunk full: trying the next", extra={
                    "call_id": call_id, "trunk": trunk.name, "limit": limit})
                continue
            self.active.take_trunk(trunk.name)
            if trunk.transport == "tls" and trunk.tls_server_name:
                self.tls_names[(trunk.host, trunk.port)] = trunk.tls_server_name
            result = await ring(trunk)
            if result.status is RingStatus.ANSWERED:
                return result, trunk
            self.active.free_trunk(trunk.name)
            if result.status is RingStatus.CALLER_GONE:
                return result, None
            code = None if result.status is RingStatus.NO_ANSWER or result.code == 0 \
                else result.code
            if should_failover(code):
                log.info("Cen_Sub_SiguienteTrunk: trunk unavailable, trying the next",
                         extra={"call_id": call_id, "trunk": trunk.name,
                                "status": result.code})
                last = result
                continue
            return result, None
        if last is None:
            return ALL_BUSY, None
        if last.status is RingStatus.NO_ANSWER:
            return RingResult(RingStatus.NO_ANSWER, 480, "No answer"), None
        return ALL_UNAVAILABLE, None


def all_full(result: RingResult) -> bool:
    """Whether ``result`` is a call no trunk took because every one was at its limit
    (``max_calls_per_trunk``): nothing was dialled, a later try may pass."""
    return result is ALL_BUSY


def _check(route: Route) -> None:
    if not admitted(route) or route.kind is not RouteKind.EXTERNAL:
        raise NotAdmitted(f"not an admitted outside route: {route.kind} {route.number}")
