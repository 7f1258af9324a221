"""A new call: an out-of-dialog INVITE from a phone or a trunk, from its first response to its
CDR rows.

The caller is identified (a trunk by its source address, a phone by digest authentication,
challenged with 407), its SDP offer must carry G.711 over RTP or SDES-SRTP (a «publicable en
internet» phone must call over TLS with SRTP: 403 or 488 otherwise), the caller's extension or
trunk must be under its limit of calls in progress (``max_calls_per_extension``,
``max_calls_per_trunk``), and the call is admitted (:class:`~pbx.admission.Admission`) for the
caller. A mobility code's PIN is kept out of everything the call leaves (records, events).
The caller's leg gets its media endpoint, ``call.started`` is published, the route is
delivered (:class:`~pbx.destinations.base.Delivery`), a connected call is supervised until a
party leaves, and the call is finished (:class:`~pbx.calls.lifecycle.CallLifecycle`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from urllib.parse import unquote

from webfon.sip import ParseError, Request, SipError
from webfon.sip.transaction import InviteServerTransaction

from . import sdp as sdpx
from .admission import Admission
from .calls.active import ActiveCalls
from .calls.factory import LegFactory
from .calls.lifecycle import CallLifecycle
from .calls.model import Call, CallState, LegEventHandler
from .calls.records import from_user, refused_record
from .cdr import CdrWriter, Direction, Disposition
from .destinations.base import Delivery
from .directory import Directory, Trunk
from .events import CallStarted, Events
from .mobility import redact
from .registrar import PhoneAuth
from .routing import Caller, Router

log = logging.getLogger("pbx.inbound")


class InboundCalls:
    def __init__(self, *, directory: Directory, router: Router, auth: PhoneAuth,
                 admission: Admission, legs: LegFactory, active: ActiveCalls,
                 delivery: Delivery, lifecycle: CallLifecycle, features: LegEventHandler,
                 events: Events, cdr: CdrWriter, media_host: str,
                 max_calls_per_extension: int = 0, max_calls_per_trunk: int = 0) -> None:
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
        self.max_calls_per_extension = max_calls_per_extension
        self.max_calls_per_trunk = max_calls_per_trunk

    async def handle(self, request: Request, tx: InviteServerTransaction) -> None:
        dialled = unquote(request.uri.user or "")  # phones send '#' as %23 (*43#, *72*…#)
        if not dialled:
            tx.respond(484, "No number in Request-URI")
            return
        caller = await self._caller(request, tx)
        if caller is None:
            return
        over = self._over_limit(caller)
        if over is not None:
            log.warning("call refused: %s", over[1], extra={"call_id": request.call_id})
            tx.respond(*over)
            self.cdr.submit(refused_record(request, caller, redact(dialled), "call limit",
                                           time.time()))
            return
        if not request.body:
            tx.respond(488, "SDP offer required")
            return
        try:
            offer = sdpx.parse(request.body)
            sdpx.check_relayable(offer)
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
        route = await self.admission.admit(dialled, caller, call_id=request.call_id)
        dialled = redact(dialled)  # from here on, a mobility code without its PIN
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
        a.party = route.caller  # a mobility code's user, when one was dialled
        call = Call(request.call_id, a, dialled, caller, self.features,
                    direction=Direction.INBOUND if caller.trunk else Direction.INTERNAL)
        if caller.extension is not None:
            call.extensions.append(caller.extension.number)
        if caller.trunk is not None:
            call.trunks.append(caller.trunk.name)
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
        address = request.source[0] if request.source else ""
        if trunk is not None:
            return Caller(trunk=trunk, address=address,
                          calling_number=from_user(request)[:64])
        phone = await self.auth.check(request, tx, proxy=True)
        if phone is None:
            return None
        if phone.publishable and (request.transport or "udp").lower() != "tls":
            log.warning("publicable phone called without TLS",
                        extra={"call_id": request.call_id, "phone": phone.sip_username,
                               "transport": request.transport})
            tx.respond(403, "TLS required (publicable phone)")
            return None
        return replace(await self.router.caller_for_phone(phone), address=address)

    def _over_limit(self, caller: Caller) -> tuple[int, str] | None:
        """The answer for a caller whose extension or trunk is at its limit of calls."""
        ext = caller.extension
        limit = self.max_calls_per_extension
        if ext is not None and limit and self.active.lines_in_use(ext.number) >= limit:
            return 403, f"Too many calls in progress on extension {ext.number}"
        trunk = caller.trunk
        limit = self.max_calls_per_trunk
        if trunk is not None and limit and self.active.trunk_calls(trunk.name) >= limit:
            return 503, "Too many calls on this trunk"
        return None

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
