"""DTMF by SIP INFO (``application/dtmf-relay`` ``Signal=5`` or ``application/dtmf``, read by
webfon's one INFO DTMF parser): the digit is sent on to the other party as an RFC 4733 event,
or taken by the PBX itself when it listens for keys on that leg (a conference PIN). RFC 4733
events themselves pass through the media relay untouched."""

from __future__ import annotations

import logging

from webfon.sip.dtmf_info import parse_dtmf_info

from ..calls.leg import CallLeg, Info
from ..calls.model import Call

log = logging.getLogger("pbx.features")

class InfoDtmf:
    async def handle(self, call: Call, leg: CallLeg, event: Info) -> None:
        dtmf = parse_dtmf_info(event.content_type, event.body)
        if dtmf is None:
            return
        digit = dtmf.digit
        log.info("dtmf info", extra={"call_id": call.call_id, "digit": digit})
        if leg.media.on_digit is not None:
            leg.media.on_digit(digit)
            return
        other = call.other(leg)
        if other is not None:
            await other.media.send_dtmf(digit)
