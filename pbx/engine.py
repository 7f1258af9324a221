"""The PBX's SIP engine: endpoint, registrar, and the B2BUA that connects calls.

Every call is two (or more) dialogs with the PBX in the middle and media anchored in its RTP
relay (:mod:`pbx.media`). The incoming INVITE is authenticated (phones by digest, trunks by
source address), admitted by mdflow, routed (:mod:`pbx.routing`) and delivered:

* users/extensions: forwarding (unconditional, not logged in, busy, no answer) and
  multiterminal hunting rounds by «orden» over the registered contacts;
* queues: the ACD strategy's rounds until the queue timeout, then overflow; statistics;
* outside numbers: trunks in priority order, moving on when one is unavailable
  (503/408/no response), as the seed's ``Cen_Sub_SiguienteTrunk`` does;
* voicemail: generated greeting, recording to WAV, message stored, MWI NOTIFY.

In a connected call: hold/resume by re-INVITE with music on hold to the held party, REFER
blind and attended (Replaces) transfer, RFC 4733 DTMF relayed, SIP INFO DTMF accepted and
re-sent as RFC 4733. A CDR row is written for the call and for every leg attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable
from typing import Any

from webfon.sip import (
    ParseError,
    Request,
    ServerTransaction,
    SipEndpoint,
    SipError,
)
from webfon.sip.sdp import SessionDescription, answer_direction, with_direction
from webfon.sip.transaction import InviteServerTransaction
from webfon.sip.ua import ALLOW, UaHub

from . import sdp as sdpx
from .admission import Admission
from .calls.active import ActiveCalls
from .calls.factory import LegFactory
from .calls.leg import CallLeg, Info, LegEvent, Refer, Reinvite
from .calls.lifecycle import CallLifecycle
from .calls.model import Call, CallState
from .calls.records import refused_record
from .calls.ringer import Ringer, RingStatus
from .cdr import Direction, Disposition
from .core import PbxCore
from .destinations.base import Delivery
from .destinations.queue import QueueDestination
from .destinations.reach import Reach
from .destinations.trunks import TrunkDestination, trunk_uri
from .destinations.user import UserDestination
from .destinations.voicemail import VoicemailDestination
from .events import CallStarted
from .media import MediaManager, connect
from .mwi import MessageWaiting
from .registrar import Maintenance, PhoneAuth, Registrar
from .repo.queues import QueueRepo
from .repo.voicemail import VoicemailRepo
from .routing import SYSTEM, Caller, RouteKind
from .tasks import Background

log = logging.getLogger("pbx.engine")

SDP_TYPE = "application/sdp"
TRYING_DELAY_S = 0.2
"""100 Trying goes out only when an INVITE has had no other response for this long (RFC 3261
§17.2.1): a digest challenge or a relayed 180 usually comes first, saving a datagram."""


class SipEngine:
    def __init__(self, core: PbxCore) -> None:
        self.core = core
        self.settings = core.settings
        s = self.settings
        self.endpoint = SipEndpoint(s.sip_host, s.sip_port,
                                    transports=[t.lower() for t in s.sip_transports],
                                    public_host=s.sip_advertised_host or None,
                                    user_agent="webfon-pbx", server_header="webfon-pbx",
                                    trying_delay=TRYING_DELAY_S, eager_handlers=True)
        self.media = MediaManager(s.media_host, s.rtp_port_min, s.rtp_port_max)
        self.auth = PhoneAuth(core.directory, s.realm, tuple(a.upper() for a in
                                                             s.digest_algorithms), s.nonce_ttl_s)
        self.registrar = Registrar(s, core.directory, core.location, self.auth,
                                   events=core.events)
        self.background = Background()
        self.active = ActiveCalls()
        self.legs = LegFactory(self.endpoint, self.media, s.realm, self.background)
        self.ringer = Ringer(self.legs, self.active, core.events, s.media_host)
        self.lifecycle = CallLifecycle(self.active, self.legs, core.cdr)
        self.features = _InCall(self)
        self.stats: Counter[str] = Counter()
        self.hub: UaHub | None = None
        self.voicemail = VoicemailRepo(core.store)
        self.queues = QueueRepo(core.store)
        self.mwi = MessageWaiting(self.endpoint, s.realm, core.directory, core.location,
                                  self.voicemail)
        self.admission = Admission(core)
        self.reach = Reach(core.directory, core.location)
        self.delivery = Delivery()
        users = UserDestination(core.directory, core.location, self.reach, self.active,
                                self.ringer, self.admission, self.delivery,
                                s.no_answer_timeout_s)
        self.delivery.add(RouteKind.USER, users)
        self.delivery.add(RouteKind.EXTENSION, users)
        self.delivery.add(RouteKind.QUEUE, QueueDestination(
            self.queues, core.stats, self.reach, self.active, self.ringer, self.admission,
            self.delivery))
        self.delivery.add(RouteKind.EXTERNAL, TrunkDestination(self.ringer, s.trunk_timeout_s))
        self.delivery.add(RouteKind.VOICEMAIL, VoicemailDestination(
            self.voicemail, self.mwi, core.events, self.background, s.media_host,
            s.voicemail_path, s.voicemail_max_s))
        core.engine = self

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        return self.endpoint.port

    @property
    def calls(self) -> dict[str, Call]:
        return self.active.calls

    async def start(self) -> None:
        await self.endpoint.start()
        self.hub = self.legs.start()
        self.endpoint.handler = self.handle
        self.maintenance = Maintenance(self.settings, self.core.location, self.endpoint,
                                       events=self.core.events)
        self.background.spawn(self.maintenance.run())
        log.info("sip engine started", extra={"port": self.port,
                                              "transports": self.settings.sip_transports})

    async def close(self) -> None:
        legs = [leg for c in list(self.calls.values()) for leg in c.legs()
                if not leg.terminated]
        if legs:
            await asyncio.wait([asyncio.ensure_future(leg.hangup(2.0)) for leg in legs],
                               timeout=2.5)
        invites = self.endpoint.handler_tasks("INVITE")
        for task in invites:
            task.cancel()
        if invites:
            await asyncio.wait(invites, timeout=5)
        await self.background.close()
        self.media.close()
        await self.endpoint.close()
        close = getattr(self.core.location, "close", None)
        if close is not None:
            await close()
        await self.core.cdr.close()

    # ------------------------------------------------------------------ dispatch
    async def handle(self, request: Request, tx: ServerTransaction | None) -> None:
        assert self.hub is not None
        if request.to_tag or tx is None:
            await self.hub.handle(request, tx)
            return
        method = request.method
        self.stats[method] += 1
        if method == "REGISTER":
            await self.registrar.handle(request, tx)
        elif method == "INVITE":
            assert isinstance(tx, InviteServerTransaction)
            await self.invite(request, tx)
        elif method == "OPTIONS":
            tx.respond(200, headers=[("Allow", ALLOW), ("Accept", SDP_TYPE)])
        elif method == "SUBSCRIBE":
            tx.respond(489, "Bad Event")
        elif method in ("BYE", "INFO", "NOTIFY", "REFER", "UPDATE", "PRACK"):
            tx.respond(481)
        else:
            tx.respond(405, headers=[("Allow", ALLOW)])

    async def drop_user(self, aor: str, username: str) -> None:
        for b in await self.core.location.lookup(aor):
            if b.username == username:
                await self.core.location.remove(aor, b.contact)

    def stats_snapshot(self) -> dict[str, Any]:
        return {"calls_active": len(self.active), "sip": dict(self.endpoint.stats),
                "requests": dict(self.stats), "registrations_accepted": self.registrar.registered,
                "transactions": self.endpoint.transaction_count,
                "media": self.media.snapshot()}

    def call_list(self) -> list[dict[str, Any]]:
        return self.active.listing()

    # ------------------------------------------------------------------ INVITE
    async def _trunk_for(self, source: tuple[str, int] | None) -> Any:
        if source is None:
            return None
        for trunk in await self.core.directory.trunks():
            if trunk.host == source[0] and trunk.port == source[1]:
                return trunk
        return None

    async def invite(self, request: Request, tx: InviteServerTransaction) -> None:
        dialled = request.uri.user or ""
        if not dialled:
            tx.respond(484, "No number in Request-URI")
            return
        trunk = await self._trunk_for(request.source)
        if trunk is not None:
            caller = Caller(trunk=trunk)
        else:
            phone = await self.auth.check(request, tx, proxy=True)
            if phone is None:
                return
            caller = await self.core.router.caller_for_phone(phone)
        if not request.body:
            tx.respond(488, "SDP offer required")
            return
        try:
            offer = sdpx.parse(request.body)
            sdpx.relay_offer(offer, self.settings.media_host, 1)
        except sdpx.SdpError as exc:
            tx.respond(exc.status, exc.reason)
            return
        route = await self.admission.admit(dialled, caller)
        if route.flow_verdict:
            tx.respond(route.status, route.reason)
            self.core.cdr.submit(refused_record(request, caller, dialled,
                                                f"mdflow {route.flow_verdict}", time.time()))
            return
        if tx.cancelled:  # the caller gave up while the call was being admitted
            self.core.cdr.submit(refused_record(request, caller, dialled, "cancelled",
                                                time.time(), Disposition.CANCELLED))
            return
        try:
            a_media = await self.legs.media_leg("a")
        except OSError:
            tx.respond(503, "No media ports")
            return
        try:
            a = self.legs.incoming(request, tx, a_media)
        except (SipError, ParseError):
            self.media.release(a_media)
            tx.respond(400, "Missing Contact")
            return
        info = sdpx.info(offer)
        a_media.set_remote(info.host, info.port)
        a_media.payload_type = info.payload_type if info.payload_type is not None else 8
        a_media.dtmf_payload_type = info.dtmf_payload_type
        a.number = caller.number
        a.user_id = caller.user.id if caller.user else None
        a.sdp = offer
        call = Call(request.call_id, a, dialled, caller, features=self.features)
        if caller.extension is not None:
            call.extensions.append(caller.extension.number)
        call.direction = Direction.INBOUND if trunk else Direction.INTERNAL
        self.active.add(call)
        call.attach(a)
        try:
            await self.core.events.emit(call.progress(CallStarted))
            call.caller = route.caller
            await self.delivery.deliver(call, route)
            if call.state is CallState.CONNECTED:
                await self.lifecycle.supervise(call)
        except Exception:
            log.exception("call failed", extra={"call_id": call.call_id})
            call.hangup_cause = "internal error"
            call.refuse(500, "Internal error")
        finally:
            await self.lifecycle.finish(call)

    # ------------------------------------------------------------------ connected call
    def in_call(self, call: Call, leg: CallLeg, event: LegEvent) -> Awaitable[None] | None:
        if isinstance(event, Reinvite):
            return self._reinvite(call, leg, event)
        if isinstance(event, Info):
            return self._info(call, leg, event)
        if isinstance(event, Refer):
            return self._refer(call, leg, event)
        return None

    async def _reinvite(self, call: Call, leg: CallLeg, event: Reinvite) -> None:
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
                leg.media.set_remote(info.host, info.port)
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
        leg.sip.answer_update(tx, answer.encode())

    async def _info(self, call: Call, leg: CallLeg, event: Info) -> None:
        body = event.body.decode("utf-8", "replace")
        ctype = event.content_type.lower()
        digit = ""
        if "dtmf-relay" in ctype:
            for line in body.splitlines():
                key, _, value = line.partition("=")
                if key.strip().lower() == "signal":
                    digit = value.strip()
        elif "dtmf" in ctype:
            digit = body.strip()
        if len(digit) != 1 or digit.upper() not in "0123456789*#ABCD":
            return
        log.info("dtmf info", extra={"call_id": call.call_id, "digit": digit})
        other = call.other(leg)
        if other is not None:
            await other.media.send_dtmf(digit.upper())

    async def _refer(self, call: Call, leg: CallLeg, event: Refer) -> None:
        sip = leg.sip
        transferee = call.other(leg)
        if transferee is None:
            with contextlib.suppress(SipError):
                await sip.notify_refer(503)
            return
        with contextlib.suppress(SipError):
            await sip.notify_refer(100)
        if event.replaces:
            ok = self._attended(call, leg, transferee, event.replaces)
            with contextlib.suppress(SipError):
                await sip.notify_refer(200 if ok else 481)
            return
        number = event.target.uri.user or ""
        # the caller's transfers are placed as the caller; the callee's are not restricted
        # by any category
        route = await self.admission.admit(number, call.caller if leg is call.a else SYSTEM)
        log.info("blind transfer", extra={"call_id": call.call_id, "target": number})
        if route.kind not in (RouteKind.USER, RouteKind.EXTENSION, RouteKind.EXTERNAL):
            with contextlib.suppress(SipError):
                await sip.notify_refer(route.status or 404)
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
            with contextlib.suppress(SipError):
                await sip.notify_refer(480)
            return
        transferee.media.stop_playing()
        transferee.media.muted = False
        # the transferor leaves the call: its leg is replaced by the new callee
        result = await self.ringer.ring(call, contacts, self.settings.no_answer_timeout_s,
                                        callee=route.number, callee_user=user,
                                        anchor=transferee)
        with contextlib.suppress(SipError):
            await sip.notify_refer(200 if result.status is RingStatus.ANSWERED
                                   else (result.code or 480))
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
        transferee.media.stop_playing()
        transferee.media.muted = False
        target.media.stop_playing()
        target.media.muted = False
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

    async def notify_mwi(self, user_id: int, unread: int | None = None) -> int:
        """Send RFC 3842 message-summary NOTIFYs to every contact of the user's extensions."""
        return await self.mwi.notify(user_id, unread)


class _InCall:
    def __init__(self, engine: SipEngine) -> None:
        self.engine = engine

    def handle(self, call: Call, leg: CallLeg, event: LegEvent) -> Awaitable[None] | None:
        return self.engine.in_call(call, leg, event)
