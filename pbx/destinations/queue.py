"""An ACD queue as destination (groups «de salto», operator groups, corporate ACD groups).

The queue's strategy (:func:`~pbx.acd.plan`) gives rounds of members; free members' live
contacts ring for ``ring_timeout_s`` each round until one answers or ``timeout_s`` has passed,
then the call overflows to the queue's ``overflow_target`` (placed by the PBX itself), or is
refused. The member who answered is remembered for round-robin and least-recent strategies
and as the last to speak with the caller; a queue with a sticky window rings that member
first for a returning caller (:mod:`pbx.sticky`). Statistics record the call as answered (with
its talk time, when it ends), abandoned or overflowed.
"""

from __future__ import annotations

import logging
import time

from ..acd import Member, plan
from ..admission import Admission
from ..calls.active import ActiveCalls
from ..calls.model import Call, CallState
from ..calls.ringer import Ringer, RingStatus
from ..cdr import Disposition
from ..directory import QueueInfo
from ..repo.queues import QueueRepo
from ..routing import SYSTEM, Route
from ..stats import QueueOutcome, QueueStats
from ..sticky import StickyAgents, sticky_first
from .base import MAX_FORWARD_DEPTH, Delivery
from .reach import Reach

log = logging.getLogger("pbx.destinations")


class QueueDestination:
    def __init__(self, queues: QueueRepo, stats: QueueStats, reach: Reach, active: ActiveCalls,
                 ringer: Ringer, admission: Admission, delivery: Delivery,
                 sticky: StickyAgents) -> None:
        self.queues = queues
        self.sticky = sticky
        self.stats = stats
        self.reach = reach
        self.active = active
        self.ringer = ringer
        self.admission = admission
        self.delivery = delivery

    async def deliver(self, call: Call, route: Route, depth: int) -> None:
        queue = route.queue
        assert queue is not None
        started = time.monotonic()
        answered_by = await self._ring_members(call, queue, started + queue.timeout_s)
        wait = time.monotonic() - started
        stats_on = self.stats.enabled_for(queue.stats_enabled)
        if call.state is CallState.CONNECTED:
            if answered_by is not None:
                await self.queues.remember_answer(queue.id, answered_by.extension_id,
                                                  time.time())
                await self.sticky.remember(call.a.number, answered_by.extension_id,
                                           time.time())
            if stats_on:
                call.add_end_hook(_AnsweredStats(self.stats, queue.id, wait))
            return
        if call.caller_gone:
            call.disposition = Disposition.CANCELLED
            if stats_on:
                await self.stats.record(queue.id, call.started_at, QueueOutcome.ABANDONED,
                                        wait)
            return
        if stats_on:
            await self.stats.record(queue.id, call.started_at, QueueOutcome.OVERFLOWED, wait)
        if queue.overflow_target and depth < MAX_FORWARD_DEPTH:
            log.info("queue overflow", extra={"call_id": call.call_id, "queue": queue.number,
                                              "target": queue.overflow_target})
            overflow = await self.admission.admit(queue.overflow_target, SYSTEM)
            await self.delivery.deliver(call, overflow, depth + 1)
            return
        call.refuse(480, "No answer")

    async def _ring_members(self, call: Call, queue: QueueInfo,
                            deadline: float) -> Member | None:
        """Ring the plan's rounds until answered, the caller leaves or ``deadline``; the
        member who answered when one member rang alone."""
        members = await self.queues.members(queue.id)
        rounds = plan(queue.strategy, members,
                      last_rr=await self.queues.last_round_robin(queue.id))
        sticky = await self.sticky.choose(queue.sticky_window_s, call.a.number, members,
                                          time.time())
        if sticky is not None:
            log.info("sticky agent first", extra={"call_id": call.call_id,
                                                  "queue": queue.number,
                                                  "member": sticky.number})
            rounds = sticky_first(rounds, sticky)
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
                    contacts += await self.reach.contacts(m.number)
                if not contacts:
                    continue
                progressed = True
                result = await self.ringer.ring(call, contacts,
                                                min(queue.ring_timeout_s, remaining),
                                                callee=queue.number)
                if result.status is RingStatus.ANSWERED:
                    return group[0] if len(group) == 1 else None
                if result.status is RingStatus.CALLER_GONE:
                    return None
            if call.state is CallState.CONNECTED or not progressed:
                break
        return None


class _AnsweredStats:
    """End hook: the queue's statistics count the answered call with its talk time."""

    __slots__ = ("queue_id", "stats", "wait")

    def __init__(self, stats: QueueStats, queue_id: int, wait: float) -> None:
        self.stats = stats
        self.queue_id = queue_id
        self.wait = wait

    async def __call__(self, call: Call, ended: float) -> None:
        if call.answered_at is not None:
            await self.stats.record(self.queue_id, call.started_at, QueueOutcome.ANSWERED,
                                    self.wait, ended - call.answered_at)
