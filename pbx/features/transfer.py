"""Call transfer by REFER (RFC 3515), reported to the transferor by NOTIFYs.

A transfer places a call *for the transferor* — whoever sent the REFER, caller or callee,
from a phone, a web phone through the gateway or a trunk — so it is admitted exactly as a
call they dial (:class:`~pbx.admission.Admission`: their category, «solo entrantes»,
mobility codes, flow control, the trunks). Nobody is transferred with anyone else's rights.

* Blind: the target number is admitted for the transferor; a refusal is reported with its
  status (NOTIFY ``SIP/2.0 403 …``) and nothing is called. Otherwise the target's contacts
  ring, or the trunks are tried in order (:meth:`~pbx.destinations.trunks.TrunkDestination.
  ring_out`, which records the CDR's trunk), for the party that stays (the transferee); once
  one answers, the transferor's leg leaves the call.
* To a conference room (a room's number is an internal destination, admitted for the
  transferor like any other): the transferee goes into the room (no ringing), the
  transferor's leg leaves (how the web phone's «Conferencia» gathers its active and held
  lines' parties); only the room's owner may transfer into a room with a PIN. See
  :meth:`~pbx.conference.service.Conferences.take_transferee`.
* Attended (``Replaces``, RFC 3891): the transferor holds two calls; the dialog named in
  Replaces must be one of the transferor's own (same phone, user or extension), and if its
  other party is an outside number the transferor must be allowed to call that number. The
  transferee and that party are then joined in this call and the transferor's two legs leave.
"""

from __future__ import annotations

import contextlib
import logging
from urllib.parse import unquote

from webfon.sip import SipError

from ..admission import Admission
from ..calls.active import ActiveCalls
from ..calls.factory import LegFactory
from ..calls.leg import CallLeg, Refer
from ..calls.model import Call
from ..calls.ringer import Ringer, RingResult, RingStatus
from ..conference.service import Conferences
from ..destinations.reach import Reach
from ..destinations.trunks import TrunkDestination
from ..media import connect
from ..mobility import redact
from ..routing import Caller, RouteKind, Router
from .parties import Parties, same_party

log = logging.getLogger("pbx.features")

TRANSFERABLE = (RouteKind.USER, RouteKind.EXTENSION, RouteKind.EXTERNAL)


class Transfer:
    def __init__(self, admission: Admission, parties: Parties, router: Router, reach: Reach,
                 active: ActiveCalls, ringer: Ringer, trunks: TrunkDestination,
                 legs: LegFactory, no_answer_timeout_s: float,
                 conferences: Conferences | None = None) -> None:
        self.admission = admission
        self.parties = parties
        self.router = router
        self.reach = reach
        self.active = active
        self.ringer = ringer
        self.trunks = trunks
        self.legs = legs
        self.no_answer_timeout_s = no_answer_timeout_s
        self.conferences = conferences

    async def handle(self, call: Call, leg: CallLeg, event: Refer) -> None:
        transferee = call.other(leg)
        if transferee is None:
            await _notify(leg, 503)
            return
        transferor = await self.parties.of(leg)
        if transferor is None:
            log.warning("transfer refused: the transferor is unknown",
                        extra={"call_id": call.call_id, "leg": leg.number})
            await _notify(leg, 403)
            return
        await _notify(leg, 100)
        if event.replaces:
            await _notify(leg, await self._attended(call, leg, transferor, transferee,
                                                    event.replaces))
            return
        await self._blind(call, leg, transferor, transferee,
                          unquote(event.target.uri.user or ""))

    async def _blind(self, call: Call, leg: CallLeg, transferor: Caller, transferee: CallLeg,
                     number: str) -> None:
        route = await self.admission.admit(number, transferor, call_id=call.call_id)
        log.info("blind transfer", extra={"call_id": call.call_id, "target": redact(number),
                                          "placed_for": transferor.display_number or "-",
                                          "route": str(route.kind), "status": route.status})
        if route.kind is RouteKind.CONFERENCE and self.conferences is not None:
            status = await self.conferences.take_transferee(call, leg, transferor, transferee,
                                                            route)
            await _notify(leg, status)
            if status == 200:
                self.legs.drop(leg)
                call.changed.set()  # nobody is left in this call
            return
        if route.kind not in TRANSFERABLE:
            await _notify(leg, route.status or 404)
            return
        transferee.media.stop_playing()
        transferee.media.muted = False
        result: RingResult
        if route.kind is RouteKind.EXTERNAL:
            previous_trunk = call.trunk
            result = await self.trunks.ring_out(call, route, anchor=transferee)
            if result.status is not RingStatus.ANSWERED:
                call.trunk = previous_trunk
        else:
            user = route.user
            ext = route.extension
            if user is not None:
                ext = await self.reach.extension_for(user, ext)
            contacts = await self.reach.contacts(ext.number) if ext is not None else []
            if not contacts:
                await _notify(leg, 480)
                return
            result = await self.ringer.ring(call, contacts, self.no_answer_timeout_s,
                                            callee=route.number, callee_user=user,
                                            anchor=transferee)
        answered = result.status is RingStatus.ANSWERED
        await _notify(leg, 200 if answered else (result.code or 480))
        if answered:
            call.callee = route.number
            call.transferred_by = route.caller.display_number
            self.legs.drop(leg)  # the transferor leaves once the new party answered

    async def _attended(self, call: Call, leg: CallLeg, transferor: Caller,
                        transferee: CallLeg, replaces: str) -> int:
        """Join the transferee with the other party of the replaced dialog: the status to
        report (200, 403 not the transferor's or not allowed, 481 no such dialog)."""
        parts = [p.strip() for p in replaces.split(";")]
        tags = {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in parts[1:])}
        found = self.active.find_dialog(parts[0], {tags.get("to-tag"), tags.get("from-tag")},
                                        besides=call)
        if found is None:
            return 481
        other_call, replaced = found
        target = other_call.other(replaced)
        if target is None:
            return 481
        owner = await self.parties.of(replaced)
        if owner is None or not same_party(transferor, owner):
            log.warning("attended transfer refused: the replaced call is not the transferor's",
                        extra={"call_id": call.call_id, "with": other_call.call_id,
                               "placed_for": transferor.display_number or "-"})
            return 403
        why = self._bridge_refusal(transferor, target)
        if why:
            log.warning("attended transfer refused: %s", why,
                        extra={"call_id": call.call_id, "with": other_call.call_id,
                               "placed_for": transferor.display_number or "-"})
            return 403
        log.info("attended transfer", extra={"call_id": call.call_id,
                                             "with": other_call.call_id})
        for party in (transferee, target):
            party.media.stop_playing()
            party.media.muted = False
        connect(transferee.media, target.media)
        # the transferor's two legs go; the two remaining parties share this call
        other_call.merged = True
        other_call.b = None
        other_call.a = replaced
        call.trunks += other_call.trunks  # the trunk the target is on stays in use
        other_call.trunks = []
        call.trunk = call.trunk or other_call.trunk
        other_call.changed.set()
        self.legs.drop(replaced)
        if leg is call.a:
            call.a = target
        else:
            call.b = target
        call.attach(target)
        call.transferred_by = transferor.display_number
        self.legs.drop(leg)
        call.changed.set()
        return 200

    def _bridge_refusal(self, transferor: Caller, target: CallLeg) -> str | None:
        """Why ``transferor`` may not bridge someone to ``target``: when target is an outside
        number the PBX called, the transferor must be allowed to call it themselves."""
        if target.party is None or target.party.trunk is None or target.sip.direction != "out":
            return None
        return self.router.outside_refusal(transferor, target.number)


async def _notify(leg: CallLeg, status: int) -> None:
    """Report the transfer's progress to the transferor (NOTIFY with a sipfrag)."""
    with contextlib.suppress(SipError):
        await leg.sip.notify_refer(status)
