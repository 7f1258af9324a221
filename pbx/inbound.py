"""A new call: an out-of-dialog INVITE from a phone or a trunk, from its first response to its
CDR rows.

The caller is identified (a trunk by its source address, a phone by digest authentication,
challenged with 407), its SDP offer must carry G.711 over RTP or SDES-SRTP (a «publicable en
internet» phone must call over TLS with SRTP: 403 or 488 otherwise), and the call is admitted
(:class:`~pbx.admission.Admission`) for the caller. The caller's leg gets its media endpoint,
``call.started`` is published, the route is delivered (:class:`~pbx.destinations.base.
Delivery`), a connected call is supervised until a party leaves, and the call is finished
(:class:`~pbx.calls.lifecycle.CallLifecycle`).
"""

from __future__ import annotations

import logging
import time

from webfon.sip import ParseError, Request, SipError
from webfon.sip.transaction import InviteServerTransaction

from . import sdp as sdpx
from .admission import Admission
from .calls.active import ActiveCalls
from .calls.factory import LegFactory
from .calls.lifecycle import CallLifecycle
from .calls.model import Call, CallState, LegEventHandler
from .calls.records import refused_record
from .cdr import CdrWriter, Direction, Disposition
from .destinations.base import Delivery
from .directory import Directory, Trunk
from .events import CallStarted, Events
from .registrar import PhoneAuth
from .routing import Caller, Router

log = logging.getLogger("pbx.inbound")


class InboundCalls:
    def __init__(self, *, directory: Directory, router: Router, auth: PhoneAuth,
                 admission: Admission, legs: LegFactory, active: ActiveCalls,
                 delivery: Delivery, lifecycle: CallLifecycle, features: LegEventHandler,
                 events: Events, cdr: CdrWriter, media_host: str) -> None:
        self.directory = directory
        self.router = router
        self.auth = auth
        self.admission = admission
        self.legs = legs
        self.active = active
        self.delivery = delivery
        self.lifecycle = lifecycle
        self.features = features
        self.events = events
        self.cdr = cdr
        self.media_host = media_host

    async def handle(self, request: Request, tx: InviteServerTransaction) -> None:
        dialled = request.uri.user or ""
        if not dialled:
            tx.respond(484, "No number in Request-URI")
            return
        caller = await self._caller(request, tx)
        if caller is None:
            return
        if not request.body:
            tx.respond(488, "SDP offer required")
            return
        try:
            offer = sdpx.parse(request.body)
            sdpx.relay_offer(offer, self.media_host, 1)
            info = sdpx.info(offer)
            sdpx.check_srtp(info)
        except sdpx.SdpError as exc:
            tx.respond(exc.status, exc.reason)
            return
        if caller.phone is not None and caller.phone.publishable and info.crypto is None:
            log.warning("publicable phone called without SRTP",
                        extra={"call_id": request.call_id,
                               "phone": caller.phone.sip_username})
            tx.respond(488, "SRTP required (publicable phone)")
            return
        route = await self.admission.admit(dialled, caller)
        if route.flow_verdict:
            tx.respond(route.status, route.reason)
            self.cdr.submit(refused_record(request, caller, dialled,
                                           f"mdflow {route.flow_verdict}", time.time()))
            return
        if tx.cancelled:  # the caller gave up while the call was being admitted
            self.cdr.submit(refused_record(request, caller, dialled, "cancelled", time.time(),
                                           Disposition.CANCELLED))
            return
        try:
            media = await self.legs.media_leg("a")
        except OSError:
            tx.respond(503, "No media ports")
            return
        try:
            a = self.legs.incoming(request, tx, media)
        except (SipError, ParseError):
            self.legs.release_media(media)
            tx.respond(400, "Missing Contact")
            return
        media.set_remote(info.host, info.port, info.rtcp_port)
        if info.crypto is not None:
            media.secure(info.crypto)
        media.payload_type = info.payload_type if info.payload_type is not None else 8
        media.dtmf_payload_type = info.dtmf_payload_type
        a.number = caller.number
        a.user_id = caller.user.id if caller.user else None
        a.sdp = offer
        call = Call(request.call_id, a, dialled, caller, self.features,
                    direction=Direction.INBOUND if caller.trunk else Direction.INTERNAL)
        if caller.extension is not None:
            call.extensions.append(caller.extension.number)
        self.active.add(call)
        call.attach(a)
        try:
            await self.events.emit(call.progress(CallStarted))
            call.caller = route.caller  # a mobility code's user from here on
            await self.delivery.deliver(call, route)
            if call.state is CallState.CONNECTED:
                await self.lifecycle.supervise(call)
        except Exception:
            log.exception("call failed", extra={"call_id": call.call_id})
            call.hangup_cause = "internal error"
            call.refuse(500, "Internal error")
        finally:
            await self.lifecycle.finish(call)

    async def _caller(self, request: Request, tx: InviteServerTransaction) -> Caller | None:
        """Who calls: a trunk by its address, else a phone that proves who it is (None once
        the INVITE was challenged or refused)."""
        trunk = await self._trunk_at(request.source, (request.transport or "udp").lower())
        if trunk is not None:
            return Caller(trunk=trunk)
        phone = await self.auth.check(request, tx, proxy=True)
        if phone is None:
            return None
        if phone.publishable and (request.transport or "udp").lower() != "tls":
            log.warning("publicable phone called without TLS",
                        extra={"call_id": request.call_id, "phone": phone.sip_username,
                               "transport": request.transport})
            tx.respond(403, "TLS required (publicable phone)")
            return None
        return await self.router.caller_for_phone(phone)

    async def _trunk_at(self, source: tuple[str, int] | None, transport: str | None = None
                        ) -> Trunk | None:
        """The trunk a request came from: its address and port; over TCP or TLS, its address
        and that transport (a connection's source port is the peer's choice)."""
        if source is None:
            return None
        stream = (transport or "udp").lower() in ("tcp", "tls")
        for trunk in await self.directory.trunks():
            if trunk.host != source[0]:
                continue
            if trunk.port == source[1] or (stream and trunk.transport == transport):
                return trunk
        return None
