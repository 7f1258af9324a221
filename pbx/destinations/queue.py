"""Groups as destination, each kind with its own behaviour (:class:`~pbx.acd.GroupKind`).

* **Hunt group** («grupo de salto»): the strategy's rounds of free members ring, the caller
  hears ringback and is never answered by the PBX. When every member is busy or unreachable the
  call overflows at once (or is refused busy, 486, without an overflow target); when nobody
  answers within ``timeout_s`` it overflows (or 480).
* **Operator group** («grupo de operadoras») and **corporate ACD group**: the PBX answers the
  caller, who waits in the group's line with music on hold and hears their position (when
  joining and every ``announce_s``). Callers are served in order: a caller rings free members
  once every caller ahead of it is already ringing someone. After ``timeout_s`` in line, or
  when the line is full (``max_waiting``), the caller overflows. An ACD group's members are
  agents: only logged-in, unpaused agents outside their wrap-up time (``wrapup_s`` after each
  call of the group) are offered calls, and a caller finding no agent logged in overflows at
  once.

The member who answered is remembered for round-robin and least-recent strategies and becomes
the call's peer user. Statistics record the call as answered (with its talk time, when it
ends), abandoned, overflowed or moved («Mover Cola», see :class:`~pbx.acd_live.Board`), in the
group's service level threshold ``sla_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from webfon.rtp.prompts import position_prompt, prompt
from webfon.rtp.tones import g711_frames

from ..acd import GroupKind, Member, plan
from ..acd_live import Board, Waiting
from ..admission import Admission
from ..calls.active import ActiveCalls
from ..calls.model import Call, CallState
from ..calls.ringer import Contact, Ringer, RingStatus
from ..cdr import Disposition
from ..directory import Directory, QueueInfo
from ..repo.queues import QueueRepo
from ..routing import SYSTEM, Route
from ..stats import QueueOutcome, QueueStats
from .base import MAX_FORWARD_DEPTH, Delivery, answer_here
from .reach import Reach

log = logging.getLogger("pbx.destinations")

RECHECK_S = 1.0
"""A waiting caller looks at its group's members at least this often (members changed by
the admin or FONBO in the store, calls ending elsewhere)."""


class QueueDestination:
    def __init__(self, queues: QueueRepo, stats: QueueStats, reach: Reach, active: ActiveCalls,
                 ringer: Ringer, admission: Admission, delivery: Delivery, board: Board,
                 directory: Directory, media_host: str, recheck_s: float = RECHECK_S) -> None:
        self.queues = queues
        self.stats = stats
        self.reach = reach
        self.active = active
        self.ringer = ringer
        self.admission = admission
        self.delivery = delivery
        self.board = board
        self.directory = directory
        self.media_host = media_host
        self.recheck_s = recheck_s
        self._music: dict[int, list[bytes]] = {}

    async def deliver(self, call: Call, route: Route, depth: int) -> None:
        queue = route.queue
        assert queue is not None
        stats_on = self.stats.enabled_for(queue.stats_enabled, route.stats)
        if GroupKind(queue.kind).waits:
            await self._wait_in_line(call, route, depth, stats_on)
        else:
            await self._hunt(call, route, depth, stats_on)

    # ------------------------------------------------------------------ hunt groups
    async def _hunt(self, call: Call, route: Route, depth: int, stats_on: bool) -> None:
        queue = route.queue
        assert queue is not None
        started = time.monotonic()
        deadline = started + queue.timeout_s
        members = await self.queues.members(queue.id)
        rounds = plan(queue.strategy, members,
                      last_rr=await self.queues.last_round_robin(queue.id))
        answered: Member | None = None
        rang = False
        busy = False
        while rounds and time.monotonic() < deadline and not call.caller_gone:
            progressed = False
            for group in rounds:
                if time.monotonic() >= deadline or call.caller_gone:
                    break
                free, contacts, some_busy = await self._free(group, waiting=False)
                busy = busy or some_busy
                if not free:
                    continue
                progressed = rang = True
                result = await self._ring(call, queue, free, contacts, deadline)
                if result is not None:
                    answered = result
                    break
                if call.state is CallState.CONNECTED or call.caller_gone:
                    break
            if call.state is CallState.CONNECTED or not progressed:
                break
        wait = time.monotonic() - started
        if call.state is CallState.CONNECTED:
            await self._answered(call, queue, answered, wait, stats_on)
            return
        # nobody could even be rung: a hunt group has no waiting, it is busy at once
        status = (480, "No answer") if rang else (
            (486, "Busy Here") if busy else (480, "Temporarily Unavailable"))
        await self._leave(call, route, depth, wait, stats_on, status=status)

    # ------------------------------------------------------------------ waiting lines
    async def _wait_in_line(self, call: Call, route: Route, depth: int, stats_on: bool) -> None:
        queue = route.queue
        assert queue is not None
        kind = GroupKind(queue.kind)
        members = await self.queues.members(queue.id)
        if kind.has_agents and not any(m.logged_in for m in members):
            log.info("no agent logged in", extra={"call_id": call.call_id, "queue": queue.number})
            await self._leave(call, route, depth, 0.0, stats_on, status=(480, "No agents"))
            return
        if queue.max_waiting and len(self.board.waiting(queue.id)) >= queue.max_waiting:
            log.info("waiting line full", extra={"call_id": call.call_id, "queue": queue.number})
            await self._leave(call, route, depth, 0.0, stats_on, status=(486, "Queue full"))
            return
        if answer_here(call, self.media_host) is None:
            return
        w = self.board.join(queue.id, call)
        log.info("caller waiting", extra={"call_id": call.call_id, "queue": queue.number,
                                          "position": self.board.position(w)})
        await self.board.announce(queue.id, "joined", call_id=call.call_id)
        started = time.monotonic()
        deadline = started + queue.timeout_s
        entertain = asyncio.ensure_future(self._entertain(w, queue))
        answered: Member | None = None
        outcome = QueueOutcome.OVERFLOWED
        gone = call.a.ended
        try:
            while True:
                if call.caller_gone:
                    outcome = QueueOutcome.ABANDONED
                    break
                if w.move_to is not None:
                    outcome = QueueOutcome.MOVED
                    break
                if time.monotonic() >= deadline:
                    break
                if self.board.may_offer(w):
                    members = await self.queues.members(queue.id)
                    if kind.has_agents and not any(m.logged_in for m in members):
                        break  # every agent logged out meanwhile
                    answered = await self._offer(w, queue, members, deadline)
                    if call.state is CallState.CONNECTED:
                        outcome = QueueOutcome.ANSWERED
                        break
                w.wake.clear()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    continue
                waker = asyncio.ensure_future(w.wake.wait())
                try:
                    await asyncio.wait([waker, gone], timeout=min(self.recheck_s, remaining),
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waker.cancel()
        finally:
            entertain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await entertain
            call.a.media.stop_playing()
            self.board.leave(w)
        wait = time.monotonic() - started
        await self.board.announce(queue.id, str(outcome), call_id=call.call_id)
        if outcome is QueueOutcome.ANSWERED:
            await self._answered(call, queue, answered, wait, stats_on)
        elif outcome is QueueOutcome.MOVED:
            await self._moved(call, route, w, depth, wait, stats_on)
        else:
            await self._leave(call, route, depth, wait, stats_on, status=(480, "No answer"))

    async def _offer(self, w: Waiting, queue: QueueInfo, members: list[Member],
                     deadline: float) -> Member | None:
        """Ring the free members for ``w`` round after round (once through the plan); the
        member who answered."""
        call = w.call
        free, contacts, _ = await self._free(members, waiting=True,
                                             agents=GroupKind(queue.kind).has_agents)
        if not free:
            return None
        rounds = plan(queue.strategy, free, last_rr=await self.queues.last_round_robin(queue.id))
        w.offering = True
        try:
            for group in rounds:
                if time.monotonic() >= deadline or call.caller_gone or w.move_to is not None:
                    return None
                still = [m for m in group if not self.board.ringing(m.extension_id)
                         and self.active.lines_in_use(m.number) == 0]
                if not still:
                    continue
                answered = await self._ring(call, queue, still, contacts, deadline)
                if answered is not None or call.state is CallState.CONNECTED:
                    return answered
            return None
        finally:
            w.offering = False

    async def _entertain(self, w: Waiting, queue: QueueInfo) -> None:
        """Music on hold for a waiting caller, with their position when joining and every
        ``announce_s``."""
        media = w.call.a.media
        pt = media.payload_type
        if pt not in self._music:
            self._music[pt] = list(g711_frames(prompt("hold_music"), pt))
        while True:
            position = self.board.position(w)
            if position:
                await asyncio.wait([media.play(g711_frames(position_prompt(position), pt))])
            media.play(self._music[pt], loop=True)
            if queue.announce_s <= 0:
                await asyncio.Future()
            await asyncio.sleep(queue.announce_s)

    # ------------------------------------------------------------------ ringing members
    async def _free(self, members: list[Member], *, waiting: bool, agents: bool = False
                    ) -> tuple[list[Member], dict[int, list[Contact]], bool]:
        """The members that can be rung now, their live contacts, and whether some member
        was skipped because busy."""
        free: list[Member] = []
        contacts: dict[int, list[Contact]] = {}
        busy = False
        for m in members:
            if not m.ready:
                continue
            if self.active.lines_in_use(m.number) > 0 or self.board.ringing(m.extension_id):
                busy = True
                continue
            if agents and self.board.wrapup_until(m.extension_id) is not None:
                continue
            found = await self.reach.contacts(m.number)
            if found:
                free.append(m)
                contacts[m.extension_id] = found
        return free, contacts, busy

    async def _ring(self, call: Call, queue: QueueInfo, group: list[Member],
                    contacts: dict[int, list[Contact]], deadline: float) -> Member | None:
        """Ring ``group`` together (each member's line held while it rings); the member who
        answered."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ringing = [c for m in group for c in contacts[m.extension_id]]
        lines = {c.uri: m.number for m in group for c in contacts[m.extension_id]}
        ids = [m.extension_id for m in group]
        self.board.reserve(ids, call.call_id)
        for m in group:
            await self.board.announce(queue.id, "agent", extension_id=m.extension_id,
                                      state="ringing")
        try:
            result = await self.ringer.ring(call, ringing, min(queue.ring_timeout_s,
                                                               remaining),
                                            callee=queue.number, lines=lines)
        finally:
            self.board.release(ids)
        if result.status is not RingStatus.ANSWERED:
            return None
        return next((m for m in group
                     if any(c.uri == result.contact for c in contacts[m.extension_id])), None)

    # ------------------------------------------------------------------ outcomes
    async def _answered(self, call: Call, queue: QueueInfo, member: Member | None, wait: float,
                        stats_on: bool) -> None:
        if member is not None:
            await self.queues.remember_answer(queue.id, member.extension_id, time.time())
            if member.user_id is not None:
                call.peer_user_id = member.user_id
                if call.b is not None:
                    call.b.user_id = member.user_id
            await self.board.announce(queue.id, "agent", extension_id=member.extension_id,
                                      state="busy")
        log.info("group call answered", extra={"call_id": call.call_id, "queue": queue.number,
                                               "member": member.number if member else "",
                                               "wait_s": round(wait, 2)})
        call.add_end_hook(_AfterCall(self, queue, member, wait, time.time(), stats_on))

    async def _moved(self, call: Call, route: Route, w: Waiting, depth: int, wait: float,
                     stats_on: bool) -> None:
        queue = route.queue
        assert queue is not None and w.move_to is not None
        if stats_on:
            await self.stats.record(queue.id, call.started_at, QueueOutcome.MOVED, wait,
                                    sla_s=queue.sla_s)
        target = await self.directory.queue(w.move_to)
        if target is None:
            call.refuse(404, "Queue not found")
            return
        log.info("caller moved", extra={"call_id": call.call_id, "from": queue.number,
                                        "to": target.number})
        # a supervisor's decision, not a loop: the depth stays
        await self.delivery.deliver(call, self.admission.queue(target, stats=route.stats),
                                    depth)

    async def _leave(self, call: Call, route: Route, depth: int, wait: float, stats_on: bool,
                     *, status: tuple[int, str]) -> None:
        """The call leaves the group unanswered: abandoned, or overflowing."""
        queue = route.queue
        assert queue is not None
        if call.caller_gone:
            call.disposition = Disposition.CANCELLED
            if stats_on:
                await self.stats.record(queue.id, call.started_at, QueueOutcome.ABANDONED, wait,
                                        sla_s=queue.sla_s)
            return
        if stats_on:
            await self.stats.record(queue.id, call.started_at, QueueOutcome.OVERFLOWED, wait,
                                    sla_s=queue.sla_s)
        if queue.overflow_target and depth < MAX_FORWARD_DEPTH:
            log.info("queue overflow", extra={"call_id": call.call_id, "queue": queue.number,
                                              "target": queue.overflow_target})
            overflow = await self.admission.admit(queue.overflow_target, SYSTEM)
            await self.delivery.deliver(call, overflow, depth + 1)
            return
        call.refuse(*status)

    # ------------------------------------------------------------------ live status
    async def live_status(self, queue: QueueInfo) -> dict[str, Any]:
        """The group's waiting callers and its members' live states (control API)."""
        members = await self.queues.members(queue.id)
        agents = []
        for m in sorted(members, key=lambda m: (m.penalty, len(m.number), m.number)):
            registered = bool(await self.reach.contacts(m.number))
            state = self.board.state(m, registered=registered,
                                     lines_in_use=self.active.lines_in_use(m.number))
            agents.append({"extension_id": m.extension_id, "extension": m.number,
                           "user_id": m.user_id, "name": m.user_name, "penalty": m.penalty,
                           "state": str(state), "logged_in": m.logged_in, "paused": m.paused,
                           "pause_reason": m.pause_reason, "since": m.state_since,
                           "wrapup_until": self.board.wrapup_until(m.extension_id),
                           "calls_taken": m.calls_taken, "last_call_at": m.last_call_at})
        return {"queue_id": queue.id, "number": queue.number, "name": queue.name,
                "kind": queue.kind, "waiting": self.board.listing(queue.id), "agents": agents}


class _AfterCall:
    """End hook of an answered group call: statistics with the talk time; an ACD agent's
    wrap-up time; the waiting callers look again."""

    __slots__ = ("connected_at", "member", "queue", "queues", "stats_on", "wait")

    def __init__(self, queues: QueueDestination, queue: QueueInfo, member: Member | None,
                 wait: float, connected_at: float, stats_on: bool) -> None:
        self.queues = queues
        self.queue = queue
        self.member = member
        self.wait = wait
        self.connected_at = connected_at
        self.stats_on = stats_on

    async def __call__(self, call: Call, ended: float) -> None:
        q = self.queue
        board = self.queues.board
        if self.member is not None:
            if GroupKind(q.kind).has_agents and q.wrapup_s > 0:
                board.start_wrapup(self.member.extension_id, q.wrapup_s)
                await board.announce(q.id, "agent", extension_id=self.member.extension_id,
                                     state="wrap_up")
            else:
                await board.announce(q.id, "agent", extension_id=self.member.extension_id,
                                     state="available")
        board.wake()
        if self.stats_on:
            await self.queues.stats.record(q.id, call.started_at, QueueOutcome.ANSWERED,
                                           self.wait, max(0.0, ended - self.connected_at),
                                           sla_s=q.sla_s)
