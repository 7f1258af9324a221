"""The PBX's SIP engine: puts the SIP endpoint, the registrar and the B2BUA's parts together,
sends each out-of-dialog request to the part that handles it, and starts and stops them.

The parts, each a module with one job:

* :mod:`pbx.guard` — the per-address message rate (before parsing) and the bans that follow
  digest failures;
* :mod:`pbx.registrar` — REGISTER with digest authentication, bindings, qualify and expiry;
* :mod:`pbx.inbound` — a new INVITE: who calls, admission, the call's first leg, delivery;
* :mod:`pbx.admission` — the one gate for every call placed for someone (flow control,
  category, «solo entrantes», mobility, destination and trunks);
* :mod:`pbx.destinations` — users and extensions (forwarding, hunting), groups (hunt,
  operator, ACD), IVR menus, trunks, voicemail;
* :mod:`pbx.acd_live` — the groups' live state: waiting callers, members ringing, wrap-up;
* :mod:`pbx.calls` — the call and its legs, ringing, the calls in progress, the end of a call
  and its CDR rows;
* :mod:`pbx.features` — hold, DTMF by INFO, blind and attended transfer in a connected call;
* :mod:`pbx.conference` — conference rooms: the mixing bridge, dial-in and transfer into a room;
* :mod:`pbx.callback` — «Retrollamada»: feature codes ``*43#``/``*44#``, calling back;
* :mod:`pbx.recording` — «Grabar por enrutamiento»: recording calls, retention;
* :mod:`pbx.campaigns` — the dialler: campaigns' calls placed for their owner, paced, each
  answered call sent to a group, queue or IVR;
* :mod:`pbx.mwi`, :mod:`pbx.repo` — message waiting, and the SQL of voicemail and queues;
* :mod:`pbx.pms` — the hotel PMS interface (CHAR / hmobile connect), with ``pms_enabled``.

Media is anchored in the PBX's RTP relay (:mod:`pbx.media`). In-dialog requests go to the
legs' dialogs through the user agents' hub.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from webfon.gcwatch import GcWatch
from webfon.sip import Request, ServerTransaction, SipEndpoint
from webfon.sip.transaction import InviteServerTransaction
from webfon.sip.transport import UdpTransport
from webfon.sip.ua import ALLOW, UaHub

from .acd_live import Board
from .admission import Admission
from .callback import Callbacks
from .calls.active import ActiveCalls
from .calls.factory import LegFactory
from .calls.leg import Info, Refer, Reinvite
from .calls.lifecycle import CallLifecycle
from .calls.model import Call
from .calls.originate import Originator
from .calls.ringer import Ringer
from .campaigns.dialer import CallParts, Dialer
from .campaigns.repo import CampaignRepo
from .conference.pins import conference_pins
from .conference.service import Conferences
from .core import PbxCore
from .destinations.base import Delivery
from .destinations.codes import FeatureCodeDestination
from .destinations.conference import ConferenceDestination
from .destinations.ivr import IvrDestination
from .destinations.queue import QueueDestination
from .destinations.reach import Reach
from .destinations.trunks import TrunkDestination
from .destinations.user import UserDestination
from .destinations.voicemail import VoicemailDestination
from .features.dispatch import InCallFeatures
from .features.dtmf import InfoDtmf
from .features.hold import Hold
from .features.parties import Parties
from .features.transfer import Transfer
from .guard import SourceGuard
from .inbound import InboundCalls
from .media import MediaManager
from .mwi import MessageWaiting
from .overload import Overload
from .pms.interface import HotelInterface
from .recording.service import Recordings
from .registrar import Maintenance, PhoneAuth, Registrar
from .repo.callbacks import CallbackRepo
from .repo.conferences import ConferenceRepo
from .repo.queues import QueueRepo
from .repo.recordings import RecordingRepo
from .repo.voicemail import VoicemailRepo
from .routing import RouteKind
from .sticky import StickyAgents
from .tasks import Background

log = logging.getLogger("pbx.engine")

SDP_TYPE = "application/sdp"
TRYING_DELAY_S = 0.2
"""100 Trying goes out only when an INVITE has had no other response for this long (RFC 3261
§17.2.1): a digest challenge or a relayed 180 usually comes first, saving a datagram."""
TRUNK_REFRESH_S = 10.0
"""How often the trunks' addresses (exempt from the per-address limits) are read again."""


class SipEngine:
    def __init__(self, core: PbxCore) -> None:
        self.core = core
        self.settings = s = core.settings
        self.endpoint = SipEndpoint(s.sip_host, s.sip_port,
                                    transports=[t.lower() for t in s.sip_transports],
                                    public_host=s.sip_advertised_host or None,
                                    user_agent="webfon-pbx", server_header="webfon-pbx",
                                    trying_delay=TRYING_DELAY_S, eager_handlers=True,
                                    tls=s.sip_tls, tls_port=s.sip_tls_port)
        self.guard = SourceGuard(s)
        self.endpoint.accept_source = self.guard.accept
        self.media = MediaManager(s.media_host, s.rtp_port_min, s.rtp_port_max,
                                  strict_rtp=s.strict_rtp, strict_window_s=s.strict_rtp_window_s,
                                  strict_probation=s.strict_rtp_probation)
        self.auth = PhoneAuth(core.directory, s.realm, tuple(a.upper() for a in
                                                             s.digest_algorithms), s.nonce_ttl_s,
                              guard=self.guard)
        self.registrar = Registrar(s, core.directory, core.location, self.auth,
                                   events=core.events)
        self.maintenance = Maintenance(s, core.location, self.endpoint, events=core.events)
        self.stats: Counter[str] = Counter()
        self.overload = Overload(s.overload_lag_ms, s.overload_retry_after_s,
                                 s.overload_recover_s, s.overload_sustain_s)
        self.gc = GcWatch(start=False)
        self.hub: UaHub | None = None
        self.background = Background()
        voicemail = VoicemailRepo(core.store)
        self.mwi = MessageWaiting(self.endpoint, s.realm, core.directory, core.location,
                                  voicemail)

        # the B2BUA
        self.active = ActiveCalls()
        self.legs = LegFactory(self.endpoint, self.media, s.realm, self.background)
        self.ringer = Ringer(self.legs, self.active, core.events, s.media_host)
        self.lifecycle = CallLifecycle(self.active, self.legs, core.cdr, s.node)
        self.admission = admission = Admission(core)
        self.reach = reach = Reach(core.directory, core.location)

        self.delivery = Delivery()
        users = UserDestination(core.directory, core.location, reach, self.active, self.ringer,
                                admission, self.delivery, s.no_answer_timeout_s)
        self.delivery.add(RouteKind.USER, users)
        self.delivery.add(RouteKind.EXTENSION, users)
        sticky = StickyAgents(core.store)
        self.board = Board(core.events)
        self.queues = QueueDestination(
            QueueRepo(core.store), core.stats, reach, self.active, self.ringer, admission,
            self.delivery, self.board, core.directory, s.media_host, sticky)
        self.delivery.add(RouteKind.QUEUE, self.queues)
        self.delivery.add(RouteKind.IVR, IvrDestination(core.directory, admission,
                                                        self.delivery, core.store, s.media_host))
        trunks = TrunkDestination(self.ringer, self.active, s.trunk_timeout_s,
                                  s.max_calls_per_trunk, sticky, self.endpoint.tls_names)
        self.delivery.add(RouteKind.EXTERNAL, trunks)
        self.delivery.add(RouteKind.VOICEMAIL, VoicemailDestination(
            voicemail, self.mwi, core.events, self.background, s.media_host,
            s.voicemail_path, s.voicemail_max_s))

        parties = Parties(core.directory, core.router)
        self.conferences = Conferences(ConferenceRepo(core.store), core.directory, parties,
                                       self.active, self.lifecycle, self.background)
        self.delivery.add(RouteKind.CONFERENCE, ConferenceDestination(
            self.conferences, conference_pins(s, admission.mobility.checks), core.events,
            s.media_host))

        self.features = InCallFeatures()
        self.features.add(Reinvite, Hold())
        self.features.add(Info, InfoDtmf())
        self.features.add(Refer, Transfer(
            admission, parties, core.router, reach, self.active, self.ringer, trunks,
            self.legs, s.no_answer_timeout_s, self.conferences))
        self.originator = Originator(self.legs, s.media_host)  # every call the PBX places
        self.callbacks = Callbacks(
            CallbackRepo(core.store), core.directory, reach, self.active, admission,
            self.delivery, self.lifecycle, self.legs, self.originator,
            core.events, self.background, self.features, ttl_s=s.callback_ttl_s,
            ring_timeout_s=s.no_answer_timeout_s, max_attempts=s.callback_max_attempts)
        self.lifecycle.on_finished.append(self.callbacks.call_ended)
        self.recordings = Recordings(RecordingRepo(core.store), self.active, s.recordings_path,
                                     s.recording_retention_days, self.background,
                                     s.directory_cache_s, legs=parties)
        self.lifecycle.on_connected.append(self.recordings.on_connected)
        self.delivery.add(RouteKind.FEATURE, FeatureCodeDestination(self.callbacks,
                                                                    s.media_host))

        self.dialer = Dialer(
            CampaignRepo(core.store), core.directory, admission, self.originator, trunks, reach,
            CallParts(self.delivery, self.lifecycle, self.active, self.features, core.events,
                      core.cdr),
            self.background, tick_s=s.campaign_tick_s, lease_s=s.campaign_lease_s,
            limit_backoff_s=s.campaign_limit_backoff_s)

        self.inbound = InboundCalls(
            directory=core.directory, router=core.router, auth=self.auth, admission=admission,
            legs=self.legs, active=self.active, delivery=self.delivery,
            lifecycle=self.lifecycle, features=self.features, events=core.events,
            cdr=core.cdr, media_host=s.media_host,
            max_calls_per_extension=s.max_calls_per_extension,
            max_calls_per_trunk=s.max_calls_per_trunk)
        self.hotel: HotelInterface | None = None
        if s.pms_enabled:
            self.hotel = HotelInterface(
                s, store=core.store, directory=core.directory, router=core.router,
                admission=admission, delivery=self.delivery, registrar=self.registrar,
                mwi=self.mwi, reach=reach, legs=self.legs, active=self.active,
                lifecycle=self.lifecycle, cdr=core.cdr, originator=self.originator,
                media_host=s.media_host)
        core.engine = self

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        return self.endpoint.port

    @property
    def calls(self) -> dict[str, Call]:
        """The calls in progress by Call-ID."""
        return self.active.calls

    async def start(self) -> None:
        await self.endpoint.start()
        self.hub = self.legs.start()
        self.endpoint.handler = self.handle
        await self._refresh_trunk_addresses()
        udp = self.endpoint.transports.get("udp")
        if self.overload.enabled and isinstance(udp, UdpTransport):
            self.overload.attach(udp, activity=lambda: self.endpoint.stats["received"])
        self.background.spawn(self.overload.run())
        self.gc.start()
        self.background.spawn(self.maintenance.run())
        if self.settings.campaigns_enabled:
            self.background.spawn(self.dialer.run())
        self.background.spawn(self._watch_trunks())
        self.background.spawn(self.conferences.run_sweeper())
        self.background.spawn(self.callbacks.run(self.settings.callback_poll_s))
        self.background.spawn(self.recordings.run_sweeper())
        if self.hotel is not None:
            await self.hotel.start()
        log.info("sip engine started", extra={"port": self.port,
                                              "transports": self.settings.sip_transports})

    async def close(self) -> None:
        if self.hotel is not None:
            await self.hotel.close()
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
        self.overload.close()
        self.gc.stop()
        await self.recordings.close()
        self.conferences.close()
        self.board.close()
        self.media.close()
        await self.endpoint.close()
        close = getattr(self.core.location, "close", None)
        if close is not None:
            await close()
        await self.core.cdr.close()

    async def _refresh_trunk_addresses(self) -> None:
        """Trunks are never rate-limited nor banned: the guard learns their addresses."""
        try:
            self.guard.exempt = await self.core.directory.trunk_hosts()
        except Exception:
            log.exception("cannot read the trunks")

    async def _watch_trunks(self) -> None:
        while True:
            await asyncio.sleep(TRUNK_REFRESH_S)
            await self._refresh_trunk_addresses()

    # ------------------------------------------------------------------ dispatch
    async def handle(self, request: Request, tx: ServerTransaction | None) -> None:
        assert self.hub is not None
        if request.to_tag or tx is None:
            await self.hub.handle(request, tx)
            return
        method = request.method
        self.stats[method] += 1
        if request.source is not None and self.guard.banned_for(request.source[0]):
            tx.respond(403, "Forbidden")
            return
        if method in ("INVITE", "REGISTER") and not self.overload.admit():
            # the calls already admitted keep the loop's time: new work waits
            tx.respond(503, "Overloaded", headers=[self.overload.retry_after()])
            return
        if method == "REGISTER":
            await self.registrar.handle(request, tx)
        elif method == "INVITE":
            assert isinstance(tx, InviteServerTransaction)
            await self.inbound.handle(request, tx)
        elif method == "OPTIONS":
            tx.respond(200, headers=[("Allow", ALLOW), ("Accept", SDP_TYPE)])
        elif method == "SUBSCRIBE":
            tx.respond(489, "Bad Event")
        elif method in ("BYE", "INFO", "NOTIFY", "REFER", "UPDATE", "PRACK"):
            tx.respond(481)
        else:
            tx.respond(405, headers=[("Allow", ALLOW)])

    # ------------------------------------------------------------------ for the control API
    async def drop_user(self, aor: str, username: str) -> None:
        for b in await self.core.location.lookup(aor):
            if b.username == username:
                await self.core.location.remove(aor, b.contact)

    async def notify_mwi(self, user_id: int, unread: int | None = None) -> int:
        """Send RFC 3842 message-summary NOTIFYs to every contact of the user's extensions."""
        return await self.mwi.notify(user_id, unread)

    def stats_snapshot(self) -> dict[str, Any]:
        return {"calls_active": len(self.active), "dialler": self.dialer.snapshot(),
                "sip": dict(self.endpoint.stats), "guard": self.guard.snapshot(),
                "requests": dict(self.stats), "registrations_accepted": self.registrar.registered,
                "transactions": self.endpoint.transaction_count,
                "media": self.media.snapshot(), "overload": self.overload.snapshot(),
                "gc": self.gc.snapshot()}

    def call_list(self) -> list[dict[str, Any]]:
        return self.active.listing()

    async def queue_status(self, queue_id: int) -> dict[str, Any] | None:
        """A group's waiting callers and members' live states; None for no such group."""
        queue = await self.core.directory.queue(queue_id)
        return None if queue is None else await self.queues.live_status(queue)

    def move_waiting_call(self, call_id: str, from_queue: int, to_queue: int) -> bool:
        """«Mover Cola»: a caller waiting in ``from_queue`` goes to ``to_queue``."""
        return self.board.move(call_id, from_queue, to_queue)

    def wake_queues(self, queue_id: int | None = None) -> None:
        """Members changed (login, pause): waiting callers look again now."""
        self.board.wake(queue_id)
