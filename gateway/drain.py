"""Draining a gateway node for a rolling upgrade (SIGTERM): no new sessions, calls finish.

While draining, ``create`` is refused and new WebSocket connections get 503 (nginx moves them
to another node); the lease says ``draining`` and ``/healthz`` answers 503. Sessions without a
call are closed at once (their browsers reconnect through nginx to another node and log in
there), and each session with a call is closed as soon as its call ends. The drain is over when
no session is left or at the deadline, when the calls still up are ended.
"""

from __future__ import annotations

import asyncio
import logging
import time

from gateway.core import Gateway
from gateway.lease import NodeLease, NodeState

log = logging.getLogger("gateway.drain")

REASON = "node draining"


class Drainer:
    def __init__(self, gateway: Gateway, lease: NodeLease | None = None,
                 poll_s: float = 0.5) -> None:
        self.gateway = gateway
        self.lease = lease
        self.poll_s = poll_s
        self.draining = False

    async def drain(self, deadline_s: float) -> bool:
        """Drain until no session is left (True) or ``deadline_s`` passed (False)."""
        gateway = self.gateway
        self.draining = True
        gateway.accepting_sessions = False
        if self.lease is not None:
            await self.lease.set_state(NodeState.DRAINING)
        busy = sum(1 for s in gateway.sessions.values() if s.busy)
        log.info("draining: no new sessions; waiting for calls to end",
                 extra={"sessions": len(gateway.sessions), "with_calls": busy,
                        "deadline_s": deadline_s})
        end = time.monotonic() + deadline_s
        while True:
            for session in list(gateway.sessions.values()):
                if not session.busy:
                    await gateway.close_session(session, REASON)
            if not gateway.sessions:
                log.info("drained: no session left")
                return True
            if time.monotonic() >= end:
                log.warning("drain deadline reached; the calls still up are ended",
                            extra={"sessions": len(gateway.sessions)})
                return False
            await asyncio.sleep(self.poll_s)
