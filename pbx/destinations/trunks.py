"""An outside number as destination: out by the trunks admission chose, in order.

Each trunk is tried for ``trunk_timeout_s``; a trunk that is unavailable (503, 408, 5xx, no
response) passes the call to the next one, as the seed's ``Cen_Sub_SiguienteTrunk`` does; any
other final answer (busy, not found…) ends the call. The CDR's trunk is the last one tried.
"""

from __future__ import annotations

import logging

from webfon.sip import SipURI

from ..calls.model import Call
from ..calls.ringer import Ringer, RingResult, RingStatus
from ..cdr import Direction
from ..directory import Trunk
from ..routing import Route, should_failover, trunk_number

log = logging.getLogger("pbx.destinations")


def trunk_uri(trunk: Trunk, number: str) -> str:
    """Where a call to ``number`` goes on ``trunk``."""
    params: dict[str, str | None] = {}
    if trunk.transport != "udp":
        params["transport"] = trunk.transport
    return str(SipURI("sip", trunk_number(trunk, number), trunk.host, trunk.port,
                      params=params))


class TrunkDestination:
    def __init__(self, ringer: Ringer, trunk_timeout_s: float,
                 tls_names: dict[tuple[str, int], str] | None = None) -> None:
        self.ringer = ringer
        self.trunk_timeout_s = trunk_timeout_s
        self.tls_names = tls_names if tls_names is not None else {}
        """The SIP endpoint's names for TLS peers known by address (SNI, name check)."""

    async def deliver(self, call: Call, route: Route, depth: int) -> None:
        call.direction = Direction.OUTBOUND if call.caller.trunk is None else Direction.INBOUND
        last = RingResult(RingStatus.FAILED, 503, "All trunks unavailable")
        for trunk in route.trunks:
            call.trunk = trunk.name
            if trunk.transport == "tls" and trunk.tls_server_name:
                self.tls_names[(trunk.host, trunk.port)] = trunk.tls_server_name
            result = await self.ringer.ring(call, [trunk_uri(trunk, route.number)],
                                            self.trunk_timeout_s, callee=route.number,
                                            trunk=trunk.name, srtp=trunk.srtp)
            if result.status in (RingStatus.ANSWERED, RingStatus.CALLER_GONE):
                return
            code = None if result.status is RingStatus.NO_ANSWER or result.code == 0 \
                else result.code
            if should_failover(code):
                log.info("Cen_Sub_SiguienteTrunk: trunk unavailable, trying the next",
                         extra={"call_id": call.call_id, "trunk": trunk.name,
                                "status": result.code})
                last = result
                continue
            call.refuse(result.code or 500, result.reason or "Failed")
            return
        no_answer = last.status is RingStatus.NO_ANSWER
        call.refuse(480 if no_answer else 503,
                    "No answer" if no_answer else "All trunks unavailable")
