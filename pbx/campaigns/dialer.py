"""The dialler: runs the campaigns that are ``running``, placing their calls with pacing.

Every ``tick_s`` the dialler takes (or keeps) the lease of each running campaign it may run,
and, within the campaign's time window, starts calls to its due numbers: never more than
``max_concurrent`` at once, never faster than ``calls_per_s``. A campaign taken up anew (this
process started, or another one stopped) first turns the attempts left in progress into
failed ones, which then retry like any failure: state lives in the store, so a restarted PBX
resumes where it was.

Each call is placed *for the campaign's owner*: the number passes the admission gate as that
user (flow control, their category, «solo entrantes»), which chooses the trunks, and the
admitted route leaves through the trunks' one way out
(:meth:`~pbx.destinations.trunks.TrunkDestination.originate`: failover, each call counted
against its trunk's ``max_calls_per_trunk``); the first leg (:mod:`pbx.calls.originate`)
records the owner as its party, reached through that trunk (so whoever answers acts in the
call with the trunk's rights, never the owner's outgoing ones); the CDR rows are the owner's,
with the trunk that carried the call. A refusal of the number is final (outcome ``refused``).

The PBX's limits and the campaign's pacing agree: a call that a limit keeps from being placed
(every trunk at its call limit, flow control congested) is no verdict on the number — it is
due again after ``limit_backoff_s`` without using up one of its retries, and the campaign
starts no call meanwhile. Campaign calls do not hold the owner's extension's lines (their
``max_calls_per_extension`` stays for the owner's own calls), and the PBX places them itself,
so no per-address message limit applies to them.

When the called party answers, the call is sent to the campaign's destination (a group, queue
or IVR menu, admitted for the owner too) and lives as any other call until a party hangs up.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

from ..admission import Admission, NotAdmitted, admitted
from ..calls.active import ActiveCalls
from ..calls.lifecycle import CallLifecycle
from ..calls.model import Call, CallState, LegEventHandler
from ..calls.originate import Originated, Originator
from ..calls.ringer import RingResult, RingStatus
from ..cdr import CdrRecord, CdrWriter, Direction, Disposition
from ..destinations.base import Delivery
from ..destinations.reach import Reach
from ..destinations.trunks import TrunkDestination, all_full
from ..directory import Directory
from ..events import CallAnswered, CallStarted, Events
from ..routing import Caller, Route, RouteKind
from ..tasks import Background
from .repo import Campaign, CampaignRepo, Due

log = logging.getLogger("pbx.campaigns")

_DISPOSITION = {RingStatus.BUSY: Disposition.BUSY, RingStatus.NO_ANSWER: Disposition.NO_ANSWER,
                RingStatus.FAILED: Disposition.FAILED, RingStatus.CALLER_GONE: Disposition.FAILED}
_OUTCOME = {RingStatus.CALLER_GONE: "failed"}

LIMIT_BACKOFF_S = 5.0
"""How long a campaign holds its new calls, and a number waits, after a limit of the PBX kept
a call from being placed."""


@dataclass
class _Running:
    """What the dialler keeps of a campaign it runs."""

    calls: set[asyncio.Task[None]] = field(default_factory=set)
    next_start: float = 0.0
    started: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    """When each of its last calls started (monotonic), for the control API and tests."""
    peak: int = 0


@dataclass
class CallParts:
    """The B2BUA's parts a campaign call needs once answered."""

    delivery: Delivery
    lifecycle: CallLifecycle
    active: ActiveCalls
    features: LegEventHandler
    events: Events
    cdr: CdrWriter


class Dialer:
    def __init__(self, repo: CampaignRepo, directory: Directory, admission: Admission,
                 originator: Originator, trunks: TrunkDestination, reach: Reach,
                 parts: CallParts, background: Background, *, tick_s: float = 0.5,
                 lease_s: float = 10.0, limit_backoff_s: float = LIMIT_BACKOFF_S) -> None:
        self.repo = repo
        self.directory = directory
        self.admission = admission
        self.originator = originator
        self.trunks = trunks
        self.reach = reach
        self.parts = parts
        self.limit_backoff_s = limit_backoff_s
        self.background = background
        self.tick_s = tick_s
        self.lease_s = lease_s
        self.owner = f"pbx-{uuid.uuid4().hex[:12]}"
        self.running: dict[int, _Running] = {}

    async def run(self) -> None:
        log.info("dialler started", extra={"owner": self.owner})
        while True:
            try:
                await self.tick()
            except Exception:  # the store away for a moment: try again next tick
                log.exception("dialler tick failed")
            await asyncio.sleep(self.tick_s)

    async def tick(self) -> None:
        now = time.time()
        rows = await self.repo.claim(self.owner, self.lease_s, now)
        held = set()
        for row in rows:
            try:
                campaign = Campaign.from_row(row)
            except ValueError as exc:
                log.warning("campaign left out", extra={"campaign_id": row["id"],
                                                        "reason": str(exc)})
                continue
            held.add(campaign.id)
            state = self.running.get(campaign.id)
            if state is None:
                state = self.running[campaign.id] = _Running()
                if not row["held"]:
                    recovered = await self.repo.recover(campaign, now)
                    log.info("campaign taken up", extra={"campaign_id": campaign.id,
                                                         "campaign": campaign.name,
                                                         "interrupted": recovered})
            await self._pace(campaign, state, now)
            if not state.calls and await self.repo.finish_if_done(campaign.id, self.owner,
                                                                  time.time()):
                log.info("campaign finished", extra={"campaign_id": campaign.id,
                                                     "campaign": campaign.name})
        # paused, stopped or finished: no new calls (those in progress go on to their end)
        for cid in [c for c, s in self.running.items() if c not in held and not s.calls]:
            del self.running[cid]

    async def _pace(self, campaign: Campaign, state: _Running, now: float) -> None:
        if not campaign.window.contains(now):
            return
        free = campaign.max_concurrent - len(state.calls)
        if free <= 0:
            return
        interval = 1.0 / campaign.calls_per_s
        mono = time.monotonic()
        if state.next_start > mono:
            return
        # the starts this tick may make at calls_per_s (at least one), within the free slots
        budget = min(free, max(1, int(self.tick_s / interval)))
        for due in await self.repo.due(campaign.id, now, budget):
            mono = time.monotonic()
            if state.next_start - mono > interval:
                break  # held back by a limit: not before the next tick
            if state.next_start > mono:
                await asyncio.sleep(state.next_start - mono)
            if not await self.repo.start_attempt(due.id, time.time()):
                continue
            state.next_start = max(state.next_start, time.monotonic()) + interval
            state.started.append(time.monotonic())
            task = self.background.spawn(self._call(campaign, state, due, due.attempts + 1))
            state.calls.add(task)
            task.add_done_callback(state.calls.discard)
            state.peak = max(state.peak, len(state.calls))

    # ------------------------------------------------------------------ one call
    async def _owner(self, campaign: Campaign) -> Caller | None:
        d = self.directory
        user = await d.user(campaign.owner_user_id)
        if user is None or not user.enabled:
            return None
        ext = await d.hard_extension_of(user.id)
        cat = user.category_id if user.category_id is not None else (
            ext.category_id if ext is not None else None)
        return Caller(user=user, extension=ext, category=await d.category(cat))

    async def _call(self, campaign: Campaign, state: _Running, due: Due, attempt: int) -> None:
        started = time.time()
        owner = await self._owner(campaign)
        if owner is None:
            await self.repo.outcome(campaign, due.id, attempt, "refused", 403,
                                    "the campaign's owner is disabled or gone", started)
            return
        route = await self.admission.admit(due.number, owner)
        if route.kind is RouteKind.REJECT:
            if route.flow_verdict:  # flow control: a limit, not a verdict on the number
                await self._limited(campaign, state, due, route.status,
                                    f"flow control ({route.flow_verdict})")
                self._record(owner, due.number, started, Disposition.REJECTED, "",
                             f"mdflow {route.flow_verdict}")
                return
            await self.repo.outcome(campaign, due.id, attempt, "refused", route.status,
                                    route.reason, time.time())
            self._record(owner, due.number, started, Disposition.REJECTED, "",
                         f"{route.status} {route.reason}")
            log.info("campaign call refused", extra={"campaign_id": campaign.id,
                                                     "number": due.number,
                                                     "status": route.status,
                                                     "reason": route.reason})
            return
        placed, line = await self._place(campaign, route, owner)
        if not placed.answered:
            result = placed.result
            if all_full(result):
                await self._limited(campaign, state, due, result.code,
                                    "every trunk at its call limit")
                self._record(owner, due.number, started, Disposition.REJECTED, "",
                             "call limit")
                return
            outcome = _OUTCOME.get(result.status, str(result.status))
            await self.repo.outcome(campaign, due.id, attempt, outcome, result.code,
                                    result.reason, time.time())
            self._record(owner, due.number, started, _DISPOSITION[result.status],
                         placed.trunk, f"{result.code} {result.reason}".strip())
            log.info("campaign call not answered", extra={"campaign_id": campaign.id,
                                                          "number": due.number,
                                                          "outcome": str(result.status)})
            return
        await self._connected(campaign, due, attempt, owner, placed, line, started)

    async def _place(self, campaign: Campaign, route: Route, owner: Caller
                     ) -> tuple[Originated, str]:
        """Ring where the admitted ``route`` leads: out by its trunks (their limits and
        failover; whoever answers is on the leg as the owner reached through the trunk, with
        the trunk's rights), or the registered phones of a user or extension (the phone that
        answers acts with its own rights). With an answered leg, the extension whose line it
        holds, if any."""
        shown = self.originator.caller_id(owner.display_number,
                                          owner.user.display_name if owner.user else None)
        timeout = float(campaign.ring_timeout_s)
        if route.kind is RouteKind.EXTERNAL:
            return await self.trunks.originate(route, self.originator, shown, timeout,
                                               party=owner), ""
        if not admitted(route):  # the trunks check their own; the phones here
            raise NotAdmitted(f"{route.kind} route to {route.number} was not admitted")
        if route.kind not in (RouteKind.USER, RouteKind.EXTENSION):
            return Originated(RingResult(RingStatus.FAILED, 488,
                                         f"a campaign cannot call a {route.kind}")), ""
        ext = route.extension
        if route.user is not None:
            ext = await self.reach.extension_for(route.user, ext)
        contacts = await self.reach.contacts(ext.number) if ext is not None else []
        if ext is None or not contacts:
            return Originated(RingResult(RingStatus.FAILED, 480, "Not registered")), ""
        active = self.parts.active
        if active.lines_in_use(ext.number) >= ext.line_count:
            return Originated(RingResult(RingStatus.BUSY, 486, "Busy Here")), ""
        active.take_line(ext.number)  # held while ringing and, answered, by the call
        placed = await self.originator.ring(
            contacts, timeout, shown, party=None, number=route.number,
            user_id=route.user.id if route.user is not None else None)
        if placed.answered:
            return placed, ext.number
        active.free_line(ext.number)
        return placed, ""

    async def _limited(self, campaign: Campaign, state: _Running, due: Due, status: int,
                       why: str) -> None:
        """A limit of the PBX kept the call from being placed: the number is due again
        shortly, the attempt not counted, and the campaign starts no call meanwhile."""
        await self.repo.defer(due.id, status or 503, f"not placed: {why}, tried again",
                              time.time() + self.limit_backoff_s)
        state.next_start = max(state.next_start, time.monotonic() + self.limit_backoff_s)
        log.info("campaign call held back by a limit", extra={
            "campaign_id": campaign.id, "number": due.number, "reason": why,
            "backoff_s": self.limit_backoff_s})

    async def _connected(self, campaign: Campaign, due: Due, attempt: int, owner: Caller,
                         placed: Originated, line: str, started: float) -> None:
        p = self.parts
        leg = placed.leg
        assert leg is not None
        call = Call(leg.sip.call_id, leg, due.number, owner, p.features, started_at=started,
                    direction=Direction.OUTBOUND, trunk=placed.trunk)
        call.attempts.extend(placed.attempts)
        call.answered_at = time.time()
        call.disposition = Disposition.ANSWERED
        call.callee = due.number
        p.active.add(call)
        # what the answered leg holds already (its trunk, an extension's line): the call's
        # end gives it back
        if placed.trunk:
            call.trunks.append(placed.trunk)
        if line:
            call.extensions.append(line)
        call.attach(leg)
        try:
            await self.repo.outcome(campaign, due.id, attempt, "answered", 200,
                                    "answered", call.answered_at, call.call_id)
            log.info("campaign call answered", extra={"campaign_id": campaign.id,
                                                      "call_id": call.call_id,
                                                      "number": due.number})
            await p.events.emit(call.progress(CallStarted))
            await p.events.emit(call.progress(CallAnswered))
            route = await self.admission.admit(campaign.destination, owner,
                                               call_id=call.call_id)
            await p.delivery.deliver(call, route)
            if call.state is CallState.CONNECTED:
                b = call.b
                await self.repo.note(due.id, f"answered, connected to {b.number if b else ''}")
                await p.lifecycle.supervise(call)
            else:
                await self.repo.note(due.id, f"answered, not connected: {call.hangup_cause}")
        except Exception:
            log.exception("campaign call failed", extra={"call_id": call.call_id})
            call.hangup_cause = "internal error"
        finally:
            await p.lifecycle.finish(call)

    def _record(self, owner: Caller, number: str, started: float, disposition: Disposition,
                trunk: str, cause: str) -> None:
        """The CDR row of an attempt that never became a call."""
        self.parts.cdr.submit(CdrRecord(
            f"campaign-{uuid.uuid4().hex}", owner.display_number, number, Direction.OUTBOUND,
            started, disposition, ended_at=time.time(),
            user_id=owner.user.id if owner.user else None,
            extension=owner.extension.number if owner.extension else "", trunk=trunk,
            hangup_cause=cause[:64]))

    def snapshot(self) -> dict[str, object]:
        """The campaigns this process runs now (control API)."""
        return {"owner": self.owner,
                "campaigns": {str(cid): {"calls": len(s.calls), "peak": s.peak,
                                         "started": len(s.started)}
                              for cid, s in self.running.items()}}
