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
from pathlib import Path
from typing import Any

from webfon.rtp import g711
from webfon.rtp.packet import RtpError, RtpPacket
from webfon.rtp.wav import write_wav
from webfon.sip import (
    ParseError,
    Request,
    ServerTransaction,
    SipEndpoint,
    SipError,
    SipURI,
)
from webfon.sip.sdp import SessionDescription, answer_direction, with_direction
from webfon.sip.transaction import InviteServerTransaction
from webfon.sip.ua import ALLOW, UaHub

from . import sdp as sdpx
from .acd import Member, plan
from .calls.active import ActiveCalls
from .calls.factory import LegFactory
from .calls.leg import CallLeg, Info, LegEvent, Refer, Reinvite
from .calls.lifecycle import CallLifecycle
from .calls.model import Attempt, Call, CallState
from .calls.records import from_user, refused_record
from .calls.ringer import Ringer, RingResult, RingStatus
from .cdr import Direction, Disposition
from .core import PbxCore
from .directory import Extension, User
from .events import CallStarted, VoicemailNew
from .forwarding import Forward, ForwardingRules, resolve
from .hunting import ring_rounds
from .mdflow import OK as MDFLOW_OK
from .media import MediaManager, connect
from .mwi import MessageWaiting
from .registrar import Maintenance, PhoneAuth, Registrar
from .repo.queues import QueueRepo
from .repo.voicemail import NewMessage, VoicemailRepo
from .routing import SYSTEM, Caller, Route, RouteKind, should_failover, trunk_number
from .tasks import Background

log = logging.getLogger("pbx.engine")

MAX_FORWARD_DEPTH = 5
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
        flow = self.settings.mdflow_flow_trunks if trunk else self.settings.mdflow_flow_phones
        verdict = await self.core.mdflow.admit(flow, dialled)
        if verdict != MDFLOW_OK:
            tx.respond(503, f"Flow control: {verdict}")
            self.core.cdr.submit(refused_record(request, caller, dialled,
                                                f"mdflow {verdict}", time.time()))
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
            route = await self.core.router.route(dialled, caller)
            call.caller = route.caller
            await self._deliver(call, route, 0)
            if call.state is CallState.CONNECTED:
                await self.lifecycle.supervise(call)
        except Exception:
            log.exception("call failed", extra={"call_id": call.call_id})
            call.hangup_cause = "internal error"
            call.refuse(500, "Internal error")
        finally:
            await self.lifecycle.finish(call)

    # ------------------------------------------------------------------ delivery
    async def _deliver(self, call: Call, route: Route, depth: int) -> None:
        if call.caller_gone:
            call.disposition = Disposition.CANCELLED
            return
        if route.kind is RouteKind.REJECT:
            log.info("call rejected", extra={"call_id": call.call_id, "status": route.status,
                                             "reason": route.reason})
            call.refuse(route.status, route.reason)
            return
        call.callee = route.number
        if route.kind in (RouteKind.USER, RouteKind.EXTENSION):
            await self._deliver_user(call, route, depth)
        elif route.kind is RouteKind.QUEUE:
            await self._deliver_queue(call, route, depth)
        elif route.kind is RouteKind.EXTERNAL:
            call.direction = Direction.OUTBOUND if call.caller.trunk is None \
                else Direction.INBOUND
            await self._deliver_trunks(call, route)

    async def _deliver_user(self, call: Call, route: Route, depth: int) -> None:
        d = self.core.directory
        user = route.user
        target: Extension | None = route.extension
        if user is not None:
            call.peer_user_id = user.id
            target = await self._user_extension(user, target)
        rules = ForwardingRules.from_rows(await d.forwarding_rules(user.id) if user else [])
        rounds: list[list[str]] = []
        if target is not None:
            bindings = [b for b in await self.core.location.lookup(target.number) if b.reachable]
            phones = await d.phones(target.id)
            by_phone: dict[int, list[str]] = {}
            for b in bindings:
                if b.phone_id is not None:
                    by_phone.setdefault(b.phone_id, []).append(b.contact)
            for group in ring_rounds(phones, by_phone.keys()):
                rounds.append([c for p in group for c in by_phone.get(p.id, [])])
        busy = target is not None and \
            self.active.lines_in_use(target.number) >= target.line_count
        fwd = resolve(rules, registered=bool(rounds), busy=busy)
        if fwd is not None:
            await self._forward(call, fwd, user, depth)
            return
        if busy:
            call.refuse(486, "Busy Here")
            return
        if not rounds:
            call.refuse(480, "Not registered")
            return
        assert target is not None
        timeout = rules.ring_timeout(self.settings.no_answer_timeout_s)
        for contacts in rounds:
            result = await self.ringer.ring(call, contacts, timeout, callee=target.number,
                                            callee_user=user, extension=target.number)
            if result.status in (RingStatus.ANSWERED, RingStatus.CALLER_GONE):
                return
            if result.status is RingStatus.BUSY:
                fwd = rules.on("busy")
                if fwd is not None:
                    await self._forward(call, fwd, user, depth)
                else:
                    call.refuse(486, "Busy Here")
                return
        fwd = rules.on("no_answer")
        if fwd is not None:
            await self._forward(call, fwd, user, depth)
            return
        call.refuse(480, "No answer")

    async def _user_extension(self, user: User, own: Extension | None) -> Extension | None:
        """The extension a call to ``user`` rings: their web extension while their web phone
        is logged in «exclusivo» and registered, otherwise ``own`` (their phones by order).

        A web phone that lost its registration (browser closed, network gone) until its
        session ends does not swallow the user's calls.
        """
        d = self.core.directory
        session = await d.web_session(user.id)
        if session is None or session.mode != "exclusivo":
            return own
        web = await d.extension(session.extension_id)
        if web is None:
            return own
        if any(b.reachable for b in await self.core.location.lookup(web.number)):
            return web
        log.info("web phone not registered: ringing the user's own phones",
                 extra={"user_id": user.id, "extension": web.number})
        return own

    async def _forward(self, call: Call, fwd: Forward, user: User | None,
                       depth: int) -> None:
        log.info("forwarding", extra={"call_id": call.call_id, "rule": fwd.describe()})
        call.attempts.append(Attempt(f"forward:{fwd.describe()}", time.time(),
                                     ended_at=time.time(), disposition=Disposition.FORWARDED))
        if fwd.to_voicemail:
            if user is None:
                call.refuse(480, "No voicemail")
                return
            await self._voicemail(call, user)
            return
        if depth >= MAX_FORWARD_DEPTH:
            call.refuse(482, "Forwarding loop")
            return
        d = self.core.directory
        cat = await d.category(user.forward_category_id if user and user.forward_category_id
                               else (user.category_id if user else None))
        forwarder = Caller(user=user, category=cat)
        route = await self.core.router.route(fwd.number, forwarder)
        if route.kind is RouteKind.REJECT:
            call.refuse(route.status, route.reason)
            return
        await self._deliver(call, route, depth + 1)

    async def _deliver_queue(self, call: Call, route: Route, depth: int) -> None:
        queue = route.queue
        assert queue is not None
        members = await self.queues.members(queue.id)
        rounds = plan(queue.strategy, members,
                      last_rr=await self.queues.last_round_robin(queue.id))
        started = time.monotonic()
        deadline = started + queue.timeout_s
        stats_on = self.core.stats.enabled_for(queue.stats_enabled)
        answered_by: Member | None = None
        while rounds and time.monotonic() < deadline and not call.caller_gone:
            progressed = False
            for group in rounds:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or call.caller_gone:
                    break
                contacts: list[str] = []
                for m in group:
                    if self.active.lines_in_use(m.number) > 0:
                        continue
                    contacts += [b.contact for b in await self.core.location.lookup(m.number)
                                 if b.reachable]
                if not contacts:
                    continue
                progressed = True
                result = await self.ringer.ring(call, contacts,
                                                min(queue.ring_timeout_s, remaining),
                                                callee=queue.number, extension=None)
                if result.status is RingStatus.ANSWERED:
                    answered_by = group[0] if len(group) == 1 else None
                    break
                if result.status is RingStatus.CALLER_GONE:
                    break
            if answered_by is not None or call.state is CallState.CONNECTED or not progressed:
                break
        wait = time.monotonic() - started
        if call.state is CallState.CONNECTED:
            if answered_by is not None:
                await self.queues.remember_answer(queue.id, answered_by.extension_id,
                                                  time.time())
            if stats_on:
                stats = self.core.stats
                queue_id = queue.id

                async def answered(call: Call, ended: float) -> None:
                    if call.answered_at is not None:
                        await stats.record(queue_id, call.started_at, "answered", wait,
                                           ended - call.answered_at)

                call.add_end_hook(answered)
            return
        if call.caller_gone:
            call.disposition = Disposition.CANCELLED
            if stats_on:
                await self.core.stats.record(queue.id, call.started_at, "abandoned", wait)
            return
        if stats_on:
            await self.core.stats.record(queue.id, call.started_at, "overflowed", wait)
        if queue.overflow_target and depth < MAX_FORWARD_DEPTH:
            log.info("queue overflow", extra={"call_id": call.call_id, "queue": queue.number,
                                              "target": queue.overflow_target})
            overflow = await self.core.router.route(queue.overflow_target, SYSTEM)
            await self._deliver(call, overflow, depth + 1)
            return
        call.refuse(480, "No answer")

    async def _deliver_trunks(self, call: Call, route: Route) -> None:
        last = RingResult(RingStatus.FAILED, 503, "All trunks unavailable")
        for trunk in route.trunks:
            params: dict[str, str | None] = {}
            if trunk.transport != "udp":
                params["transport"] = trunk.transport
            uri = SipURI("sip", trunk_number(trunk, route.number), trunk.host, trunk.port,
                         params=params)
            call.trunk = trunk.name
            result = await self.ringer.ring(call, [str(uri)], self.settings.trunk_timeout_s,
                                            callee=route.number, trunk=trunk.name)
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
        call.refuse(480 if no_answer else 503, "No answer" if no_answer
                    else "All trunks unavailable")

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
        route = await self.core.router.route(number, call.caller if leg is call.a else SYSTEM)
        log.info("blind transfer", extra={"call_id": call.call_id, "target": number})
        if route.kind not in (RouteKind.USER, RouteKind.EXTENSION, RouteKind.EXTERNAL):
            with contextlib.suppress(SipError):
                await sip.notify_refer(route.status or 404)
            return
        contacts: list[str] = []
        user = route.user
        ext = route.extension
        if route.kind is RouteKind.EXTERNAL:
            trunk = route.trunks[0]
            contacts = [str(SipURI("sip", trunk_number(trunk, route.number), trunk.host,
                                   trunk.port))]
        else:
            if user is not None:
                ext = await self._user_extension(user, ext)
            if ext is not None:
                contacts = [b.contact for b in await self.core.location.lookup(ext.number)
                            if b.reachable]
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

    # ------------------------------------------------------------------ voicemail
    async def _voicemail(self, call: Call, user: User) -> None:
        a = call.a
        try:
            answer = sdpx.local_answer(a.sdp, self.settings.media_host, a.media.port) \
                if a.sdp else None
        except sdpx.SdpError as exc:
            call.refuse(exc.status, exc.reason)
            return
        if answer is None or call.caller_gone:
            call.disposition = Disposition.CANCELLED
            return
        audio = answer.audio
        pt = audio.codecs[0].pt if audio is not None and audio.codecs else 8
        a.media.payload_type = pt
        if not a.accept(answer.encode()):
            return
        call.state = CallState.VOICEMAIL
        call.answered_at = time.time()
        call.disposition = Disposition.VOICEMAIL
        payloads: list[bytes] = []

        def sink(data: bytes) -> None:
            try:
                pkt = RtpPacket.parse(data)
            except RtpError:
                return
            if pkt.payload_type == pt and len(payloads) < 50 * self.settings.voicemail_max_s:
                payloads.append(pkt.payload)

        gone = a.ended
        player = a.media.play_prompt("voicemail_greeting")
        await asyncio.wait([player, gone], return_when=asyncio.FIRST_COMPLETED)
        a.media.sink = sink
        if not gone.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(gone), self.settings.voicemail_max_s)
        a.media.sink = None
        if not gone.done():
            await a.hangup()
        if not payloads:
            call.hangup_cause = "voicemail: nothing recorded"
            return
        await self._store_message(call, user, payloads, pt)

    async def _store_message(self, call: Call, user: User, payloads: list[bytes],
                             pt: int) -> None:
        samples = g711.decode(b"".join(payloads), pt)
        folder = self.settings.voicemail_path / str(user.id)
        now = time.time()
        safe_id = "".join(ch if ch.isalnum() else "_" for ch in call.call_id)[:40]
        path = folder / f"{int(now * 1000)}-{safe_id}.wav"
        await asyncio.to_thread(_write, path, samples)
        duration = len(samples) / 8000.0
        caller_name = call.caller.user.display_name if call.caller.user else ""
        message_id = await self.voicemail.add(NewMessage(
            user.id, call.caller.display_number or from_user(call.a.sip.invite), caller_name,
            call.call_id, now, duration, str(path)))
        unread = await self.voicemail.unread(user.id)
        log.info("voicemail stored", extra={"call_id": call.call_id, "user_id": user.id,
                                            "message_id": message_id, "seconds": duration})
        await self.core.events.emit(VoicemailNew(user.id, message_id, unread))
        self.background.spawn(self.mwi.notify(user.id, unread))

    async def notify_mwi(self, user_id: int, unread: int | None = None) -> int:
        """Send RFC 3842 message-summary NOTIFYs to every contact of the user's extensions."""
        return await self.mwi.notify(user_id, unread)


class _InCall:
    def __init__(self, engine: SipEngine) -> None:
        self.engine = engine

    def handle(self, call: Call, leg: CallLeg, event: LegEvent) -> Awaitable[None] | None:
        return self.engine.in_call(call, leg, event)


def _write(path: Path, samples: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, samples, 8000)
