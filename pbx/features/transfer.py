"""Call transfer by REFER (RFC 3515), reported to the transferor by NOTIFYs.

* Blind: the target number is admitted like any call placed for someone (the caller's
  transfers as the caller; a callee's are not restricted by a category), then the target's
  contacts ring for the party that stays (the transferee); once one answers, the transferor's
  leg leaves the call.
* To a conference room: the transferee goes into the room (no ringing), the transferor's leg
  leaves (how the web phone's «Conferencia» gathers its active and held lines' parties); see
  :meth:`~pbx.conference.service.Conferences.take_transferee`.
* Attended (``Replaces``, RFC 3891): the transferor holds two calls; the dialog named in
  Replaces is found among the calls in progress, the transferee and that call's other party
  are joined in this call, and the transferor's two legs leave.
"""

from __future__ import annotations

import contextlib
import logging

from webfon.sip import SipError

from ..admission import Admission
from ..calls.active import ActiveCalls
from ..calls.factory import LegFactory
from ..calls.leg import CallLeg, Refer
from ..calls.model import Call
from ..calls.ringer import Ringer, RingStatus
from ..conference.service import Conferences
from ..destinations.reach import Reach
from ..destinations.trunks import trunk_uri
from ..media import connect
from ..routing import SYSTEM, RouteKind

log = logging.getLogger("pbx.features")

TRANSFERABLE = (RouteKind.USER, RouteKind.EXTENSION, RouteKind.EXTERNAL)


class Transfer:
    def __init__(self, admission: Admission, reach: Reach, active: ActiveCalls,
                 ringer: Ringer, legs: LegFactory, no_answer_timeout_s: float,
                 conferences: Conferences | None = None) -> None:
        self.admission = admission
        self.reach = reach
        self.active = active
        self.ringer = ringer
        self.legs = legs
        self.no_answer_timeout_s = no_answer_timeout_s
        self.conferences = conferences

    async def handle(self, call: Call, leg: CallLeg, event: Refer) -> None:
        transferee = call.other(leg)
        if transferee is None:
            await _notify(leg, 503)
            return
        await _notify(leg, 100)
        if event.replaces:
            await _notify(leg, 200 if self._attended(call, leg, transferee, event.replaces)
                          else 481)
            return
        await self._blind(call, leg, transferee, event.target.uri.user or "")

    async def _blind(self, call: Call, leg: CallLeg, transferee: CallLeg, number: str) -> None:
        placed_for = call.caller if leg is call.a else SYSTEM
        route = await self.admission.admit(number, placed_for)
        log.info("blind transfer", extra={"call_id": call.call_id, "target": number})
        if route.kind is RouteKind.CONFERENCE and route.conference is not None \
                and self.conferences is not None:
            status = await self.conferences.take_transferee(call, leg, transferee,
                                                            route.conference)
            await _notify(leg, status)
            if status == 200:
                self.legs.drop(leg)
                call.changed.set()  # nobody is left in this call
            return
        if route.kind not in TRANSFERABLE:
            await _notify(leg, route.status or 404)
            return
        contacts: list[str] = []
        user = route.user
        ext = route.extension
        if route.kind is RouteKind.EXTERNAL:
            contacts = [trunk_uri(route.trunks[0], route.number)]
        else:
            if user is not None:
                ext = await self.reach.extension_for(user, ext)
            if ext is not None:
                contacts = await self.reach.contacts(ext.number)
        if not contacts:
            await _notify(leg, 480)
            return
        transferee.media.stop_playing()
        transferee.media.muted = False
        result = await self.ringer.ring(call, contacts, self.no_answer_timeout_s,
                                        callee=route.number, callee_user=user,
                                        anchor=transferee)
        await _notify(leg, 200 if result.status is RingStatus.ANSWERED else (result.code or 480))
        if result.status is RingStatus.ANSWERED:
            call.callee = route.number
            self.legs.drop(leg)  # the transferor leaves once the new party answered

    def _attended(self, call: Call, leg: CallLeg, transferee: CallLeg, replaces: str) -> bool:
        parts = [p.strip() for p in replaces.split(";")]
        tags = {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in parts[1:])}
        found = self.active.find_dialog(parts[0], {tags.get("to-tag"), tags.get("from-tag")},
                                        besides=call)
        if found is None:
            return False
        other_call, replaced = found
        target = other_call.other(replaced)
        if target is None:
            return False
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
        other_call.changed.set()
        self.legs.drop(replaced)
        if leg is call.a:
            call.a = target
        else:
            call.b = target
        call.attach(target)
        self.legs.drop(leg)
        call.changed.set()
        return True


async def _notify(leg: CallLeg, status: int) -> None:
    """Report the transfer's progress to the transferor (NOTIFY with a sipfrag)."""
    with contextlib.suppress(SipError):
        await leg.sip.notify_refer(status)
