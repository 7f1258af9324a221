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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webfon.rtp import g711
from webfon.rtp.packet import RtpError, RtpPacket
from webfon.rtp.wav import write_wav
from webfon.sip import (
    Address,
    ParseError,
    Request,
    ServerTransaction,
    SipEndpoint,
    SipError,
    SipURI,
    new_tag,
)
from webfon.sip.dialog import Dialog
from webfon.sip.sdp import SessionDescription, answer_direction, with_direction
from webfon.sip.transaction import InviteServerTransaction
from webfon.sip.ua import ALLOW, Account, Call, UaHub, UserAgent

from . import sdp as sdpx
from .acd import Member, plan
from .cdr import CdrRecord
from .core import PbxCore
from .directory import Extension, User
from .forwarding import Forward, ForwardingRules, resolve
from .hunting import ring_rounds
from .mdflow import OK as MDFLOW_OK
from .media import Leg, MediaManager, connect
from .registrar import Maintenance, PhoneAuth, Registrar
from .routing import Caller, Route, should_failover, trunk_number

log = logging.getLogger("pbx.engine")

MAX_FORWARD_DEPTH = 5
SDP_TYPE = "application/sdp"
TRYING_DELAY_S = 0.2
"""100 Trying goes out only when an INVITE has had no other response for this long (RFC 3261
§17.2.1): a digest challenge or a relayed 180 usually comes first, saving a datagram."""


@dataclass
class Party:
    """One side of a connected call: its dialog and its media leg in the PBX."""

    call: Call
    media: Leg
    number: str = ""
    user_id: int | None = None
    sdp: SessionDescription | None = None  # what this party last offered/answered


@dataclass
class Attempt:
    target: str
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    disposition: str = "failed"
    code: int = 0
    trunk: str = ""


@dataclass
class B2bCall:
    call_id: str
    a: Party
    dialled: str
    caller: Caller
    started_at: float = field(default_factory=time.time)
    answered_at: float | None = None
    b: Party | None = None
    state: str = "routing"
    disposition: str = "failed"
    hangup_cause: str = ""
    trunk: str = ""
    direction: str = "internal"
    peer_user_id: int | None = None
    callee: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    ringing_sent: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    merged: bool = False
    extensions: list[str] = field(default_factory=list)

    def other(self, party: Party) -> Party | None:
        return self.b if party is self.a else self.a

    def parties(self) -> list[Party]:
        return [p for p in (self.a, self.b) if p is not None]


@dataclass
class RingResult:
    status: str  # answered, busy, no_answer, failed, caller_gone
    code: int = 0
    reason: str = ""


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
                                   publish=core.cdr.publish)
        self.calls: dict[str, B2bCall] = {}
        self.ext_in_use: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.hub: UaHub | None = None
        self.ua: UserAgent | None = None
        self.uas: dict[str, UserAgent] = {}
        core.engine = self

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        return self.endpoint.port

    async def start(self) -> None:
        await self.endpoint.start()
        self.ua = UserAgent(self.endpoint, Account(aor=f"sip:pbx@{self.settings.realm}",
                                                   contact_user="pbx"))
        self.uas = {"udp": self.ua}
        if "tcp" in self.endpoint.transports:
            # calls on TCP need a Contact that says so, or in-dialog requests come back on UDP
            self.uas["tcp"] = UserAgent(self.endpoint, Account(
                aor=f"sip:pbx@{self.settings.realm}", contact_user="pbx-tcp", transport="tcp"))
        self.hub = self.ua.hub
        self.endpoint.handler = self.handle
        self.maintenance = Maintenance(self.settings, self.core.location, self.endpoint,
                                       publish=self.core.cdr.publish)
        self._spawn(self.maintenance.run())
        log.info("sip engine started", extra={"port": self.port,
                                              "transports": self.settings.sip_transports})

    async def close(self) -> None:
        legs = [p.call for c in list(self.calls.values()) for p in c.parties()
                if p.call.state != "terminated"]
        if legs:
            await asyncio.wait([asyncio.ensure_future(self._hangup_quietly(leg, 2.0))
                                for leg in legs], timeout=2.5)
        invites = self.endpoint.handler_tasks("INVITE")
        for task in invites:
            task.cancel()
        if invites:
            await asyncio.wait(invites, timeout=5)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.media.close()
        await self.endpoint.close()
        close = getattr(self.core.location, "close", None)
        if close is not None:
            await close()
        await self.core.cdr.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

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
        return {"calls_active": len(self.calls), "sip": dict(self.endpoint.stats),
                "requests": dict(self.stats), "registrations_accepted": self.registrar.registered,
                "transactions": self.endpoint.transaction_count,
                "media": self.media.snapshot()}

    def call_list(self) -> list[dict[str, Any]]:
        out = []
        for c in self.calls.values():
            out.append({"call_id": c.call_id, "caller": c.caller.number or "",
                        "callee": c.callee or c.dialled, "dialled": c.dialled,
                        "state": c.state, "started_at": c.started_at,
                        "answered_at": c.answered_at, "legs": len(c.parties()),
                        "trunk": c.trunk,
                        "media": [p.media.stats() for p in c.parties()]})
        return out

    # ------------------------------------------------------------------ INVITE
    async def _trunk_for(self, source: tuple[str, int] | None) -> Any:
        if source is None:
            return None
        for trunk in await self.core.directory.trunks():
            if trunk.host == source[0] and trunk.port == source[1]:
                return trunk
        return None

    async def invite(self, request: Request, tx: InviteServerTransaction) -> None:
        assert self.ua is not None
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
            await self._cdr_rejected(request, caller, dialled, 503, f"mdflow {verdict}")
            return
        try:
            a_media = await self.media.leg("a")
        except OSError:
            tx.respond(503, "No media ports")
            return
        ua = self.uas.get((request.transport or "udp").lower(), self.ua)
        a_call = Call(ua, "in", request, server_tx=tx)
        a_call.remote_sdp = request.body
        try:
            a_call.dialog = Dialog.from_uas(request, tx.local_tag, ua.contact)
        except (SipError, ParseError):
            self.media.release(a_media)
            tx.respond(400, "Missing Contact")
            return
        assert self.hub is not None
        self.hub.calls[a_call.dialog.id] = a_call
        tx.on_cancel = a_call._cancelled
        info = sdpx.info(offer)
        a_media.set_remote(info.host, info.port)
        a_media.payload_type = info.payload_type if info.payload_type is not None else 8
        a_media.dtmf_payload_type = info.dtmf_payload_type
        party = Party(a_call, a_media, caller.number,
                      caller.user.id if caller.user else None, offer)
        call = B2bCall(request.call_id, party, dialled, caller)
        if caller.extension is not None:
            call.extensions.append(caller.extension.number)
        call.direction = "inbound" if trunk else "internal"
        self.calls[call.call_id] = call
        for ext in call.extensions:
            self.ext_in_use[ext] += 1
        self._watch(call, party)
        try:
            await self.core.cdr.publish("call.started", self._event(call))
            route = await self.core.router.route(dialled, caller)
            call.caller = route.caller
            await self._deliver(call, route, 0)
            if call.state == "connected":
                await self._connected(call)
        except Exception:
            log.exception("call failed", extra={"call_id": call.call_id})
            call.hangup_cause = "internal error"
            self._reject(call, 500, "Internal error")
        finally:
            await self._finish(call)

    def _event(self, call: B2bCall) -> dict[str, Any]:
        return {"call_id": call.call_id, "caller": call.caller.number, "callee": call.dialled,
                "user_id": call.caller.user.id if call.caller.user else None,
                "peer_user_id": call.peer_user_id, "direction": call.direction,
                "started_at": call.started_at}

    def _reject(self, call: B2bCall, status: int, reason: str, disposition: str = "") -> None:
        a = call.a.call
        if a.state in ("incoming", "ringing"):
            with contextlib.suppress(SipError):
                a.reject(status, reason)
        call.state = "ended"
        call.hangup_cause = call.hangup_cause or f"{status} {reason}"
        if disposition:
            call.disposition = disposition
        elif status in (486, 600):
            call.disposition = "busy"
        elif status == 480 and reason == "No answer":
            call.disposition = "no_answer"
        elif status in (403, 404, 484, 488):
            call.disposition = "rejected"
        else:
            call.disposition = "failed"

    def _caller_gone(self, call: B2bCall) -> bool:
        return call.a.call.state == "terminated"

    # ------------------------------------------------------------------ delivery
    async def _deliver(self, call: B2bCall, route: Route, depth: int) -> None:
        if self._caller_gone(call):
            call.disposition = "cancelled"
            return
        if route.kind == "reject":
            log.info("call rejected", extra={"call_id": call.call_id, "status": route.status,
                                             "reason": route.reason})
            self._reject(call, route.status, route.reason)
            return
        call.callee = route.number
        if route.kind in ("user", "extension"):
            await self._deliver_user(call, route, depth)
        elif route.kind == "queue":
            await self._deliver_queue(call, route, depth)
        elif route.kind == "external":
            call.direction = "outbound" if call.caller.trunk is None else "inbound"
            await self._deliver_trunks(call, route)

    async def _deliver_user(self, call: B2bCall, route: Route, depth: int) -> None:
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
        busy = target is not None and self.ext_in_use[target.number] >= target.line_count
        fwd = resolve(rules, registered=bool(rounds), busy=busy)
        if fwd is not None:
            await self._forward(call, fwd, user, depth)
            return
        if busy:
            self._reject(call, 486, "Busy Here")
            return
        if not rounds:
            self._reject(call, 480, "Not registered")
            return
        assert target is not None
        timeout = rules.ring_timeout(self.settings.no_answer_timeout_s)
        for contacts in rounds:
            result = await self._ring(call, contacts, timeout, callee=target.number,
                                      callee_user=user, extension=target.number)
            if result.status in ("answered", "caller_gone"):
                return
            if result.status == "busy":
                fwd = rules.on("busy")
                if fwd is not None:
                    await self._forward(call, fwd, user, depth)
                else:
                    self._reject(call, 486, "Busy Here")
                return
        fwd = rules.on("no_answer")
        if fwd is not None:
            await self._forward(call, fwd, user, depth)
            return
        self._reject(call, 480, "No answer")

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

    async def _forward(self, call: B2bCall, fwd: Forward, user: User | None,
                       depth: int) -> None:
        log.info("forwarding", extra={"call_id": call.call_id, "rule": fwd.describe()})
        call.attempts.append(Attempt(f"forward:{fwd.describe()}", time.time(),
                                     ended_at=time.time(), disposition="forwarded"))
        if fwd.to_voicemail:
            if user is None:
                self._reject(call, 480, "No voicemail")
                return
            await self._voicemail(call, user)
            return
        if depth >= MAX_FORWARD_DEPTH:
            self._reject(call, 482, "Forwarding loop")
            return
        d = self.core.directory
        cat = await d.category(user.forward_category_id if user and user.forward_category_id
                               else (user.category_id if user else None))
        forwarder = Caller(user=user, category=cat)
        route = await self.core.router.route(fwd.number, forwarder)
        if route.kind == "reject":
            self._reject(call, route.status, route.reason)
            return
        await self._deliver(call, route, depth + 1)

    async def _deliver_queue(self, call: B2bCall, route: Route, depth: int) -> None:
        queue = route.queue
        assert queue is not None
        store = self.core.store
        rows = await store.fetchall(
            "SELECT m.extension_id, m.penalty, m.paused, e.number, mm.last_call_at, "
            "mm.calls_taken FROM queue_members m JOIN extensions e ON e.id = m.extension_id "
            "LEFT JOIN queue_member_memory mm ON mm.queue_id = m.queue_id "
            "AND mm.extension_id = m.extension_id WHERE m.queue_id = ?", (queue.id,))
        members = [Member(int(r["extension_id"]), r["number"], int(r["penalty"]),
                          bool(r["paused"]), float(r["last_call_at"] or 0),
                          int(r["calls_taken"] or 0)) for r in rows]
        last_rr = await store.fetchval(
            "SELECT last_extension_id FROM queue_rr_memory WHERE queue_id = ?", (queue.id,))
        rounds = plan(queue.strategy, members, last_rr=last_rr)
        started = time.monotonic()
        deadline = started + queue.timeout_s
        stats_on = self.core.stats.enabled_for(queue.stats_enabled)
        answered_by: Member | None = None
        while rounds and time.monotonic() < deadline and not self._caller_gone(call):
            progressed = False
            for group in rounds:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._caller_gone(call):
                    break
                contacts: list[str] = []
                for m in group:
                    if self.ext_in_use[m.number] > 0:
                        continue
                    contacts += [b.contact for b in await self.core.location.lookup(m.number)
                                 if b.reachable]
                if not contacts:
                    continue
                progressed = True
                result = await self._ring(call, contacts, min(queue.ring_timeout_s, remaining),
                                          callee=queue.number, extension=None)
                if result.status == "answered":
                    answered_by = group[0] if len(group) == 1 else None
                    break
                if result.status == "caller_gone":
                    break
            if answered_by is not None or call.state == "connected" or not progressed:
                break
        wait = time.monotonic() - started
        if call.state == "connected":
            await self._acd_memory(queue.id, answered_by)
            if stats_on:
                call.extra_stats = (queue.id, wait)  # type: ignore[attr-defined]
            return
        if self._caller_gone(call):
            call.disposition = "cancelled"
            if stats_on:
                await self.core.stats.record(queue.id, call.started_at, "abandoned", wait)
            return
        if stats_on:
            await self.core.stats.record(queue.id, call.started_at, "overflowed", wait)
        if queue.overflow_target and depth < MAX_FORWARD_DEPTH:
            log.info("queue overflow", extra={"call_id": call.call_id, "queue": queue.number,
                                              "target": queue.overflow_target})
            overflow = await self.core.router.route(queue.overflow_target,
                                                    Caller(category=None))
            await self._deliver(call, overflow, depth + 1)
            return
        self._reject(call, 480, "No answer")

    async def _acd_memory(self, queue_id: int, member: Member | None) -> None:
        if member is None:
            return
        store = self.core.store
        now = time.time()
        updated = await store.execute(
            "UPDATE queue_member_memory SET last_call_at = ?, calls_taken = calls_taken + 1 "
            "WHERE queue_id = ? AND extension_id = ?", (now, queue_id, member.extension_id))
        if not updated:
            await store.upsert("queue_member_memory",
                               {"queue_id": queue_id, "extension_id": member.extension_id,
                                "last_call_at": now, "calls_taken": 1},
                               ["queue_id", "extension_id"])
        await store.upsert("queue_rr_memory", {"queue_id": queue_id,
                                               "last_extension_id": member.extension_id},
                           ["queue_id"])

    async def _deliver_trunks(self, call: B2bCall, route: Route) -> None:
        last = RingResult("failed", 503, "All trunks unavailable")
        for trunk in route.trunks:
            params: dict[str, str | None] = {}
            if trunk.transport != "udp":
                params["transport"] = trunk.transport
            uri = SipURI("sip", trunk_number(trunk, route.number), trunk.host, trunk.port,
                         params=params)
            call.trunk = trunk.name
            result = await self._ring(call, [str(uri)], self.settings.trunk_timeout_s,
                                      callee=route.number, trunk=trunk.name)
            if result.status in ("answered", "caller_gone"):
                return
            code = None if result.status == "no_answer" or result.code == 0 else result.code
            if should_failover(code):
                log.info("Cen_Sub_SiguienteTrunk: trunk unavailable, trying the next",
                         extra={"call_id": call.call_id, "trunk": trunk.name,
                                "status": result.code})
                last = result
                continue
            self._reject(call, result.code or 500, result.reason or "Failed")
            return
        self._reject(call, 503 if last.status != "no_answer" else 480,
                     "All trunks unavailable" if last.status != "no_answer" else "No answer")

    # ------------------------------------------------------------------ ringing
    def _from_for(self, call: B2bCall) -> Address:
        caller = call.caller
        number = caller.display_number or (call.a.call.invite.from_.uri.user or "anonymous")
        name = caller.user.display_name if caller.user else call.a.call.invite.from_.display_name
        addr = Address(SipURI("sip", number, self.settings.realm), name)
        addr.tag = new_tag()
        return addr

    def _out_leg(self, uri: str, from_: Address, offer: bytes, on_event: Any) -> Call:
        assert self.ua is not None
        target = SipURI.parse(uri)
        ua = self.uas.get(target.transport.lower(), self.ua)
        req = self.endpoint.create_request(
            "INVITE", target, from_=from_, to=Address(target.copy()), contact=ua.contact,
            headers=[("Allow", ALLOW)], body=offer, content_type=SDP_TYPE)
        leg = Call(ua, "out", req, on_event=on_event)
        leg.local_sdp = offer
        leg._task = asyncio.ensure_future(leg._run_outgoing())
        return leg

    async def _ring(self, call: B2bCall, contacts: list[str], timeout: float, *,
                    callee: str, callee_user: User | None = None, extension: str | None = None,
                    trunk: str = "", party: Party | None = None) -> RingResult:
        """Ring ``contacts`` together; connect the first to answer with ``party`` (default:
        the caller)."""
        anchor = party or call.a
        try:
            b_media = await self.media.leg("b")
        except OSError:
            return RingResult("failed", 503, "No media ports")
        assert anchor.sdp is not None
        offer = sdpx.relay_offer(anchor.sdp, self.settings.media_host, b_media.port).encode()
        from_ = self._from_for(call)
        notify_caller = party is None

        def on_event(name: str, data: dict[str, Any]) -> None:
            if name in ("ringing", "progress") and notify_caller and not call.ringing_sent \
                    and call.a.call.state == "incoming":
                call.ringing_sent = True
                with contextlib.suppress(SipError):
                    call.a.call.ringing()

        legs: list[tuple[Call, Attempt]] = []
        for contact in contacts:
            attempt = Attempt(contact, time.time(), trunk=trunk)
            call.attempts.append(attempt)
            try:
                legs.append((self._out_leg(contact, from_, offer, on_event), attempt))
            except (SipError, ParseError, OSError) as exc:
                attempt.ended_at = time.time()
                attempt.code = 503
                log.info("cannot call contact: %s", exc, extra={"call_id": call.call_id})
        if extension:
            self.ext_in_use[extension] += 1
        try:
            return await self._race(call, anchor, legs, b_media, timeout, callee,
                                    callee_user, keep_old=party is not None)
        finally:
            if extension:
                if any(p.media is b_media for p in call.parties()):
                    call.extensions.append(extension)  # counted until the call ends
                else:
                    self.ext_in_use[extension] -= 1

    async def _race(self, call: B2bCall, anchor: Party, legs: list[tuple[Call, Attempt]],
                    b_media: Leg, timeout: float, callee: str, callee_user: User | None,
                    *, keep_old: bool = False) -> RingResult:
        pending = {leg.answer: (leg, att) for leg, att in legs}
        gone = anchor.call.ended
        winner: tuple[Call, Attempt] | None = None
        codes: list[int] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while pending and winner is None:
            remaining = deadline - loop.time()
            if remaining <= 0 or gone.done():
                break
            done, _ = await asyncio.wait([*pending, gone], timeout=remaining,
                                         return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                if fut is gone:
                    continue
                leg, att = pending.pop(fut)
                resp = fut.result()
                att.code = resp.status
                if resp.is_success and winner is None and not gone.done():
                    winner = (leg, att)
                else:
                    att.ended_at = time.time()
                    att.disposition = "busy" if resp.status in (486, 600) else (
                        "cancelled" if resp.status == 487 else "failed")
                    codes.append(resp.status)
                    if resp.is_success:  # a second answer: drop it
                        self._spawn(leg.bye())
        # stop everything that is still ringing
        for leg, att in pending.values():
            att.ended_at = time.time()
            att.disposition = "cancelled" if gone.done() else "no_answer"
            self._spawn(leg.hangup())
        if winner is None:
            self.media.release(b_media)
            if gone.done():
                return RingResult("caller_gone")
            if not codes:
                return RingResult("no_answer", 0, "No answer")
            if any(c in (486, 600) for c in codes):
                return RingResult("busy", 486, "Busy Here")
            best = sorted(codes, key=lambda c: (c >= 500, c))[0]
            return RingResult("failed", best, "")
        leg, att = winner
        att.answered_at = time.time()
        att.disposition = "answered"
        try:
            answer = sdpx.parse(leg.remote_sdp or b"")
        except sdpx.SdpError:
            self._spawn(leg.bye())
            self.media.release(b_media)
            return RingResult("failed", 488, "Bad SDP from callee")
        info = sdpx.info(answer)
        b_media.set_remote(info.host, info.port)
        b_media.payload_type = info.payload_type if info.payload_type is not None else 8
        b_media.dtmf_payload_type = info.dtmf_payload_type
        new_party = Party(leg, b_media, callee, callee_user.id if callee_user else None, answer)
        if anchor is call.a and call.b is None:
            a_answer = sdpx.relay_answer(call.a.sdp or answer, answer,
                                         self.settings.media_host, call.a.media.port)
            call.a.media.payload_type = b_media.payload_type
            try:
                call.a.call.accept(a_answer.encode())
            except SipError:
                self._spawn(leg.bye())
                self.media.release(b_media)
                return RingResult("caller_gone")
            call.a.sdp_answer = a_answer  # type: ignore[attr-defined]
        connect(anchor.media, b_media)
        old = call.other(anchor)
        if old is not None and old is not new_party and not keep_old:
            self._drop_party(old)
        if anchor is call.a:
            call.b = new_party
        else:
            call.a = new_party
            call.b = anchor
        self._watch(call, new_party)
        if call.answered_at is None:
            call.answered_at = time.time()
            call.disposition = "answered"
            await self.core.cdr.publish("call.answered", self._event(call))
        call.state = "connected"
        call.changed.set()
        log.info("call connected", extra={"call_id": call.call_id, "callee": callee})
        return RingResult("answered", 200)

    def _drop_party(self, party: Party) -> None:
        party.call.on_event = None
        self._spawn(self._hangup_quietly(party.call))
        self.media.release(party.media)

    @staticmethod
    async def _hangup_quietly(leg: Call, timeout: float = 40.0) -> None:
        with contextlib.suppress(SipError, OSError, asyncio.TimeoutError):
            await asyncio.wait_for(leg.hangup(), timeout)

    # ------------------------------------------------------------------ connected call
    def _watch(self, call: B2bCall, party: Party) -> None:
        """In-dialog events of one party: re-INVITE (hold), INFO (DTMF), REFER (transfer)."""
        leg = party.call

        async def on_reinvite(request: Request, tx: ServerTransaction) -> None:
            await self._reinvite(call, party, request, tx)

        def on_event(name: str, data: dict[str, Any]) -> Any:
            if name == "hangup":
                call.changed.set()
            elif name == "info":
                return self._info(call, party, data)
            elif name == "refer":
                return self._refer(call, party, data)
            return None

        leg.on_reinvite = on_reinvite
        leg.on_event = on_event

    async def _connected(self, call: B2bCall) -> None:
        while True:
            call.changed.clear()
            if call.merged:
                return
            ended = [p for p in call.parties() if p.call.state == "terminated"]
            if ended or call.b is None:
                break
            await call.changed.wait()
        for p in call.parties():
            if p.call.state != "terminated":
                await self._hangup_quietly(p.call)
        if call.hangup_cause == "":
            first = next((p for p in call.parties() if p.call.ended.done()), None)
            if first is not None:
                who = "caller" if first is call.a else "callee"
                call.hangup_cause = f"{who} hung up"

    async def _reinvite(self, call: B2bCall, party: Party, request: Request,
                        tx: ServerTransaction) -> None:
        leg = party.call
        ours = leg.local_sdp
        if not ours:
            leg.answer_update(tx, None, 488)
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
                party.media.set_remote(info.host, info.port)
            party.sdp = offer
        other = call.other(party)
        if direction in ("sendonly", "inactive"):
            party.media.muted = True
            if other is not None:
                other.media.play_prompt("hold_music", loop=True)
            log.info("call held", extra={"call_id": call.call_id, "by": party.number})
        else:
            party.media.muted = False
            if other is not None:
                other.media.stop_playing()
            log.info("call resumed", extra={"call_id": call.call_id, "by": party.number})
        answer = with_direction(SessionDescription.parse(ours), answer_direction(direction))
        leg.answer_update(tx, answer.encode())

    async def _info(self, call: B2bCall, party: Party, data: dict[str, Any]) -> None:
        body = (data.get("body") or b"").decode("utf-8", "replace")
        ctype = (data.get("content_type") or "").lower()
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
        other = call.other(party)
        if other is not None:
            await other.media.send_dtmf(digit.upper())

    async def _refer(self, call: B2bCall, party: Party, data: dict[str, Any]) -> None:
        leg = party.call
        transferee = call.other(party)
        replaces = data.get("replaces")
        target: Address = data["target"]
        if transferee is None:
            with contextlib.suppress(SipError):
                await leg.notify_refer(503)
            return
        with contextlib.suppress(SipError):
            await leg.notify_refer(100)
        if replaces:
            ok = await self._attended(call, party, transferee, replaces)
            with contextlib.suppress(SipError):
                await leg.notify_refer(200 if ok else 481)
            return
        number = target.uri.user or ""
        route = await self.core.router.route(number, call.caller if party is call.a else
                                             Caller(user=None, category=None))
        log.info("blind transfer", extra={"call_id": call.call_id, "target": number})
        if route.kind not in ("user", "extension", "external") or route.kind == "reject":
            with contextlib.suppress(SipError):
                await leg.notify_refer(route.status or 404)
            return
        contacts: list[str] = []
        user = route.user
        ext = route.extension
        if route.kind == "external":
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
                await leg.notify_refer(480)
            return
        transferee.media.stop_playing()
        transferee.media.muted = False
        # the transferor leaves the call: its leg is replaced by the new callee
        result = await self._ring(call, contacts, self.settings.no_answer_timeout_s,
                                  callee=route.number, callee_user=user, party=transferee)
        with contextlib.suppress(SipError):
            await leg.notify_refer(200 if result.status == "answered" else (result.code or 480))
        if result.status == "answered":
            call.callee = route.number
            self._drop_party(party)  # the transferor leaves once the new party answered

    async def _attended(self, call: B2bCall, party: Party, transferee: Party,
                        replaces: str) -> bool:
        parts = [p.strip() for p in replaces.split(";")]
        call_id = parts[0]
        tags = {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in parts[1:])}
        wanted = {tags.get("to-tag"), tags.get("from-tag")}
        for other_call in list(self.calls.values()):
            if other_call is call:
                continue
            for p in other_call.parties():
                d = p.call.dialog
                if d is None or d.call_id != call_id or {d.local_tag, d.remote_tag} != wanted:
                    continue
                target = other_call.other(p)
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
                other_call.a = p
                other_call.changed.set()
                self._drop_party(p)
                if party is call.a:
                    call.a = target
                else:
                    call.b = target
                self._watch(call, target)
                self._drop_party(party)
                call.changed.set()
                return True
        return False

    # ------------------------------------------------------------------ voicemail
    async def _voicemail(self, call: B2bCall, user: User) -> None:
        a = call.a
        try:
            answer = sdpx.local_answer(a.sdp, self.settings.media_host, a.media.port) \
                if a.sdp else None
        except sdpx.SdpError as exc:
            self._reject(call, exc.status, exc.reason)
            return
        if answer is None or self._caller_gone(call):
            call.disposition = "cancelled"
            return
        audio = answer.audio
        pt = audio.codecs[0].pt if audio is not None and audio.codecs else 8
        a.media.payload_type = pt
        try:
            a.call.accept(answer.encode())
        except SipError:
            return
        call.state = "voicemail"
        call.answered_at = time.time()
        call.disposition = "voicemail"
        payloads: list[bytes] = []

        def sink(data: bytes) -> None:
            try:
                pkt = RtpPacket.parse(data)
            except RtpError:
                return
            if pkt.payload_type == pt and len(payloads) < 50 * self.settings.voicemail_max_s:
                payloads.append(pkt.payload)

        gone = a.call.ended
        player = a.media.play_prompt("voicemail_greeting")
        await asyncio.wait([player, gone], return_when=asyncio.FIRST_COMPLETED)
        a.media.sink = sink
        if not gone.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(gone), self.settings.voicemail_max_s)
        a.media.sink = None
        if not gone.done():
            await self._hangup_quietly(a.call)
        if not payloads:
            call.hangup_cause = "voicemail: nothing recorded"
            return
        await self._store_message(call, user, payloads, pt)

    async def _store_message(self, call: B2bCall, user: User, payloads: list[bytes],
                             pt: int) -> None:
        samples = g711.decode(b"".join(payloads), pt)
        folder = self.settings.voicemail_path / str(user.id)
        now = time.time()
        safe_id = "".join(ch if ch.isalnum() else "_" for ch in call.call_id)[:40]
        path = folder / f"{int(now * 1000)}-{safe_id}.wav"
        await asyncio.to_thread(_write, path, samples)
        duration = len(samples) / 8000.0
        caller_name = call.caller.user.display_name if call.caller.user else ""
        message_id = await self.core.store.insert(
            "INSERT INTO voicemail_messages (user_id, caller, caller_name, call_id, created_at, "
            "duration_s, path) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (user.id, (call.caller.display_number or _from_user(call.a.call))[:64],
             caller_name[:128], call.call_id[:255], now,
             round(duration, 3), str(path)))
        unread = int(await self.core.store.fetchval(
            "SELECT COUNT(*) FROM voicemail_messages WHERE user_id = ? AND heard = 0",
            (user.id,)) or 0)
        log.info("voicemail stored", extra={"call_id": call.call_id, "user_id": user.id,
                                            "message_id": message_id, "seconds": duration})
        await self.core.cdr.publish("voicemail.new", {"user_id": user.id,
                                                      "message_id": message_id,
                                                      "unread": unread})
        self._spawn(self.notify_mwi(user.id, unread))

    async def notify_mwi(self, user_id: int, unread: int | None = None) -> int:
        """Send RFC 3842 message-summary NOTIFYs to every contact of the user's extensions."""
        store = self.core.store
        if unread is None:
            unread = int(await store.fetchval(
                "SELECT COUNT(*) FROM voicemail_messages WHERE user_id = ? AND heard = 0",
                (user_id,)) or 0)
        heard = int(await store.fetchval(
            "SELECT COUNT(*) FROM voicemail_messages WHERE user_id = ? AND heard = 1",
            (user_id,)) or 0)
        numbers = [r["number"] for r in await store.fetchall(
            "SELECT number FROM extensions WHERE owner_user_id = ?", (user_id,))]
        session = await self.core.directory.web_session(user_id)
        if session is not None and session.extension not in numbers:
            numbers.append(session.extension)
        sent = 0
        for number in numbers:
            account = f"sip:{number}@{self.settings.realm}"
            body = (f"Messages-Waiting: {'yes' if unread else 'no'}\r\n"
                    f"Message-Account: {account}\r\n"
                    f"Voice-Message: {unread}/{heard} (0/0)\r\n")
            for b in await self.core.location.lookup(number):
                try:
                    uri = SipURI.parse(b.contact)
                    req = self.endpoint.create_request(
                        "NOTIFY", uri, from_=Address(SipURI.parse(account)),
                        to=Address(SipURI.parse(account)),
                        headers=[("Event", "message-summary"),
                                 ("Subscription-State", "active")],
                        body=body.encode(), content_type="application/simple-message-summary")
                    await asyncio.wait_for(self.endpoint.request(req), 10)
                    sent += 1
                except (TimeoutError, SipError, ParseError, OSError) as exc:
                    log.info("mwi notify failed: %s", exc, extra={"contact": b.contact})
        return sent

    # ------------------------------------------------------------------ end of call
    async def _finish(self, call: B2bCall) -> None:
        try:
            await self._finish_call(call)
        finally:
            self.calls.pop(call.call_id, None)

    async def _finish_call(self, call: B2bCall) -> None:
        call.state = "ended"
        for ext in call.extensions:
            self.ext_in_use[ext] -= 1
            if self.ext_in_use[ext] <= 0:
                del self.ext_in_use[ext]
        a = call.a.call
        if a.state in ("incoming", "ringing"):
            with contextlib.suppress(SipError):
                a.reject(500, "Internal error")
        if self._caller_gone(call) and call.answered_at is None and \
                call.disposition in ("failed", "answered"):
            call.disposition = "cancelled"
        for p in call.parties():
            if p.call.state != "terminated" and not call.merged:
                await self._hangup_quietly(p.call)
            self.media.release(p.media)
            if p.call.state == "terminated":
                # the handlers set by _watch close over the call: break the cycle so the
                # call is freed at once rather than by the garbage collector
                p.call.on_event = p.call.on_reinvite = None
        ended = time.time()
        stats = getattr(call, "extra_stats", None)
        if stats is not None and call.answered_at is not None:
            await self.core.stats.record(stats[0], call.started_at, "answered", stats[1],
                                         ended - call.answered_at)
        caller_user = call.caller.user.id if call.caller.user else None
        ext = call.caller.extension.number if call.caller.extension else ""
        # Users are called and call by their number, whichever extension carried the call.
        caller_number = call.caller.display_number or _from_user(a)
        base = dict(caller=caller_number, callee=call.dialled, direction=call.direction,
                    extension=ext)
        common = dict(started_at=call.started_at, disposition=call.disposition,
                      answered_at=call.answered_at, ended_at=ended, trunk=call.trunk,
                      hangup_cause=call.hangup_cause[:64],
                      caller_name=(call.caller.user.display_name if call.caller.user
                                   else "")[:128], leg=0, extra={"callee_number": call.callee})
        # One row per user involved, each seeing the call from their side (what the portal's
        # history lists); a call with no user on either side still gets its row.
        sides = [(caller_user, call.peer_user_id, call.direction)]
        if call.peer_user_id is not None and call.peer_user_id != caller_user:
            inbound = "internal" if call.direction == "internal" else "inbound"
            sides.append((call.peer_user_id, caller_user, inbound))
        if caller_user is None and len(sides) > 1:
            sides.pop(0)
        for user_id, peer_id, direction in sides:
            self.core.cdr.submit(CdrRecord(call.call_id, user_id=user_id, peer_user_id=peer_id,
                                           **{**base, "direction": direction}, **common))
        # Each attempt towards a phone, trunk or queue member: technical rows with no owner,
        # so they stay out of the users' histories.
        for i, att in enumerate(call.attempts, start=1):
            row = CdrRecord(call.call_id, started_at=att.started_at, disposition=att.disposition,
                            answered_at=att.answered_at, ended_at=att.ended_at or ended,
                            trunk=att.trunk, hangup_cause=f"{att.code}" if att.code else "",
                            leg=i, user_id=None, peer_user_id=None,
                            **{**base, "callee": att.target[:64]})
            self.core.cdr.submit(row, publish=False)

    async def _cdr_rejected(self, request: Request, caller: Caller, dialled: str, status: int,
                            cause: str) -> None:
        now = time.time()
        self.core.cdr.submit(CdrRecord(
            request.call_id, caller.number or _from_user_req(request), dialled,
            "inbound" if caller.trunk else "internal", now, "rejected", ended_at=now,
            user_id=caller.user.id if caller.user else None, hangup_cause=cause))


def _from_user(leg: Call) -> str:
    return _from_user_req(leg.invite)


def _from_user_req(request: Request) -> str:
    try:
        return request.from_.uri.user or ""
    except ParseError:
        return ""


def _write(path: Path, samples: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, samples, 8000)
