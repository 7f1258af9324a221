"""DTMF by SIP INFO (``application/dtmf-relay`` ``Signal=5`` or ``application/dtmf``): the
digit is sent on to the other party as an RFC 4733 event, or taken by the PBX itself when it
listens for keys on that leg (a conference PIN). RFC 4733 events themselves pass through the
media relay untouched."""

from __future__ import annotations

import logging

from ..calls.leg import CallLeg, Info
from ..calls.model import Call

log = logging.getLogger("pbx.features")

DIGITS = "0123456789*#ABCD"


def info_digit(content_type: str, body: bytes) -> str | None:
    """The DTMF digit an INFO carries, or None."""
    text = body.decode("utf-8", "replace")
    ctype = content_type.lower()
    digit = ""
    if "dtmf-relay" in ctype:
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip().lower() == "signal":
                digit = value.strip()
    elif "dtmf" in ctype:
        digit = text.strip()
    if len(digit) != 1 or digit.upper() not in DIGITS:
        return None
    return digit.upper()


class InfoDtmf:
    async def handle(self, call: Call, leg: CallLeg, event: Info) -> None:
        digit = info_digit(event.content_type, event.body)
        if digit is None:
            return
        log.info("dtmf info", extra={"call_id": call.call_id, "digit": digit})
        if leg.media.on_digit is not None:
            leg.media.on_digit(digit)
            return
        other = call.other(leg)
        if other is not None:
            await other.media.send_dtmf(digit)
