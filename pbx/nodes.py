"""The PBX side of gateway nodes dying: lease expiry → the node's web phones are released.

Each gateway node refreshes its row in ``gateway_nodes`` every second or so (``gateway.lease``).
:class:`NodeWatch` reads the rows every ``node_check_s``; a node whose ``heartbeat_at`` has not
moved for ``node_lease_s`` of the watcher's own observation is declared ``lost`` (one
conditional UPDATE, so with several PBX processes only one acts) and its web phones are logged
out as if each had logged out: web extensions freed, desk extensions unpaused in their queues
(«todo vuelve a la situación inicial»), registrations dropped, and the calls they carried ended
with the cause ``gateway node lost`` in their CDR.

Declaring a node lost and releasing its web phones are two steps: a PBX process that dies
between them leaves sessions on a node no longer ``up``. The watcher therefore also reads lost
nodes that still carry web phone sessions, and releases those once it has seen them left for
a lease (long enough for the process that declared the node lost to have done it).

Time is the watcher's: a heartbeat counts as stopped only after the watcher has seen it
unchanged for the whole lease, so clocks of different machines never matter, and an
unreachable store (nothing can be seen) never expires anyone: observation starts again when
the store answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from webfon.sip import SipURI
from webfon.store import Store, StoreError

from .webphone import CAUSE_NODE_LOST, Webphones

log = logging.getLogger("pbx.nodes")


@dataclass
class _Seen:
    incarnation: str
    heartbeat_at: float
    since: float  # monotonic time the watcher first saw this heartbeat value


class NodeWatch:
    def __init__(self, store: Store, webphones: Webphones, *, lease_s: float,
                 check_s: float) -> None:
        self.store = store
        self.webphones = webphones
        self.lease_s = lease_s
        self.check_s = check_s
        self._seen: dict[int, _Seen] = {}
        self._left: dict[int, _Seen] = {}  # lost nodes seen still carrying web phones
        self._store_down = False

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("node check failed")
            await asyncio.sleep(self.check_s)

    async def check(self, now: float | None = None) -> list[int]:
        """One pass; returns the nodes declared lost."""
        now = time.monotonic() if now is None else now
        try:
            rows = await self.store.fetchall(
                "SELECT node_id, incarnation, heartbeat_at, state FROM gateway_nodes "
                "WHERE state IN ('up', 'draining') OR (state = 'lost' AND node_id IN "
                "(SELECT node_id FROM webphone_sessions))")
        except StoreError as exc:
            if not self._store_down:
                log.warning("cannot watch gateway nodes: store unavailable",
                            extra={"error": str(exc)})
            self._store_down = True
            self._seen.clear()  # start observing again once the store answers
            self._left.clear()
            return []
        self._store_down = False
        lost: list[int] = []
        current = set()
        left = set()
        for row in rows:
            node_id = int(row["node_id"])
            if row["state"] == "lost":
                left.add(node_id)
                await self._leftovers(node_id, _Seen(str(row["incarnation"]),
                                                     float(row["heartbeat_at"]), now))
                continue
            current.add(node_id)
            beat = float(row["heartbeat_at"])
            seen = self._seen.get(node_id)
            if seen is None or seen.incarnation != row["incarnation"] or \
                    seen.heartbeat_at != beat:
                self._seen[node_id] = _Seen(str(row["incarnation"]), beat, now)
                continue
            if now - seen.since >= self.lease_s and await self._expire(node_id, seen):
                lost.append(node_id)
        for node_id in set(self._seen) - current:
            del self._seen[node_id]
        for node_id in set(self._left) - left:
            del self._left[node_id]
        return lost

    async def _leftovers(self, node_id: int, sight: _Seen) -> None:
        """A lost node still carries web phones: release them once they have been seen left
        for a lease (the process that declared the node lost died before releasing them)."""
        seen = self._left.get(node_id)
        if seen is None or seen.incarnation != sight.incarnation:
            self._left[node_id] = sight
            return
        if sight.since - seen.since < self.lease_s:
            return
        del self._left[node_id]
        released = await self._release(node_id, sight.incarnation)
        if released:
            log.warning("gateway node lost: web phones left on it released",
                        extra={"node_id": node_id, "released": released})

    def silent(self, node_id: int, now: float | None = None) -> bool:
        """Has the node stopped beating (unchanged for half a lease, or not up at all)?"""
        now = time.monotonic() if now is None else now
        seen = self._seen.get(node_id)
        if seen is None:
            return False  # not watched (yet): say nothing about it
        return now - seen.since >= self.lease_s / 2

    async def _expire(self, node_id: int, seen: _Seen) -> bool:
        try:
            taken = await self.store.execute(
                "UPDATE gateway_nodes SET state = 'lost', ended_at = ? WHERE node_id = ? "
                "AND incarnation = ? AND heartbeat_at = ? AND state IN ('up', 'draining')",
                (time.time(), node_id, seen.incarnation, seen.heartbeat_at))
        except StoreError as exc:
            log.warning("node lease not expired: store unavailable",
                        extra={"node_id": node_id, "error": str(exc)})
            return False
        del self._seen[node_id]
        if taken != 1:
            return False  # it beat meanwhile, or another PBX process took care of it
        log.warning("gateway node lost: no heartbeat; releasing its web phones",
                    extra={"node_id": node_id, "lease_s": self.lease_s})
        released = await self._release(node_id, seen.incarnation)
        log.warning("gateway node lost: web phones released",
                    extra={"node_id": node_id, "released": released})
        return True

    async def _release(self, node_id: int, incarnation: str) -> int:
        """Log out the web phones still on a lost node and count them in its row (which a new
        incarnation starts at 0); how many."""
        released = await self.webphones.release_node(node_id, cause=CAUSE_NODE_LOST)
        if released:
            try:
                await self.store.execute(
                    "UPDATE gateway_nodes SET released = released + ? WHERE node_id = ? "
                    "AND incarnation = ?", (released, node_id, incarnation))
            except StoreError:
                pass
        return released


def _key(contact: str) -> tuple[str, str, int] | None:
    try:
        uri = SipURI.parse(contact.strip().strip("<>"))
    except ValueError:
        return None
    return (uri.user or "", uri.host.lower(), uri.port or 5060)


def end_calls_to(engine: Any, contacts: set[str], cause: str) -> int:
    """End the calls that have a leg at one of ``contacts`` (a released web phone's
    registrations): that leg's dialog is abandoned without BYE (its node may be gone), the
    other party gets its BYE from the call's normal end, and ``cause`` goes in the CDR."""
    targets = {k for k in map(_key, contacts) if k is not None}
    if not targets:
        return 0
    ended = 0
    for call in list(engine.calls.values()):
        for leg in call.legs():
            target = leg.remote_target
            if target is None or leg.terminated:
                continue
            if (target.user or "", target.host.lower(), target.port or 5060) in targets:
                call.hangup_cause = cause
                leg.abandon(cause)
                ended += 1
                break
    return ended
