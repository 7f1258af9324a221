"""Hold and resume: a re-INVITE whose offer is ``sendonly``/``inactive`` holds the call (what
the holder sends is no longer relayed, the other party hears music on hold); ``sendrecv``
resumes it. The re-INVITE is answered with the leg's SDP in the matching direction."""

from __future__ import annotations

import logging

from webfon.rtp.srtp import add_crypto, remove_crypto
from webfon.sip.sdp import SessionDescription, answer_direction, with_direction

from .. import sdp as sdpx
from ..calls.leg import CallLeg, Reinvite
from ..calls.model import Call

log = logging.getLogger("pbx.features")


class Hold:
    async def handle(self, call: Call, leg: CallLeg, event: Reinvite) -> None:
        request, tx = event.request, event.tx
        ours = leg.sip.local_sdp
        if not ours:
            leg.sip.answer_update(tx, None, 488)
            return
        direction = "sendrecv"
        if request.body:
            try:
                offer = sdpx.parse(request.body)
            except sdpx.SdpError as exc:
                tx.respond(exc.status, exc.reason)
                return
            info = sdpx.info(offer)
            direction = info.direction
            if info.host and info.port:
                leg.media.set_remote(info.host, info.port, info.rtcp_port)
            if leg.media.crypto is not None:
                if info.crypto is None:  # an SRTP leg stays SRTP
                    leg.sip.answer_update(tx, None, 488)
                    return
                leg.media.secure(info.crypto)
            leg.sdp = offer
        other = call.other(leg)
        if direction in ("sendonly", "inactive"):
            leg.media.muted = True
            if other is not None:
                other.media.play_prompt("hold_music", loop=True)
            log.info("call held", extra={"call_id": call.call_id, "by": leg.number})
        else:
            leg.media.muted = False
            if other is not None:
                other.media.stop_playing()
            log.info("call resumed", extra={"call_id": call.call_id, "by": leg.number})
        answer = with_direction(SessionDescription.parse(ours), answer_direction(direction))
        crypto = leg.media.crypto
        if crypto is not None and answer.audio is not None:  # our key, as it is now
            remove_crypto(answer.audio)
            add_crypto(answer.audio, crypto)
        leg.sip.answer_update(tx, answer.encode())
