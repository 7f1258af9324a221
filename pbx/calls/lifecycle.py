"""A call's life once delivered: supervising a connected call until a party leaves, then
ending it (every leg hung up and let go, lines freed, end hooks run, CDR rows queued).

Parts that follow every call register here: ``on_connected`` hooks run when a connected call
starts being supervised (recording «siempre»), ``on_finished`` ones when any call has ended,
after its CDR rows were queued (callbacks remember who found whom busy; the hotel bills the
calls made from its rooms)."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable

from ..cdr import CdrWriter, Disposition
from .active import ActiveCalls
from .factory import LegFactory
from .model import Call, CallState
from .quality import call_quality
from .records import call_records

log = logging.getLogger("pbx.calls")


class CallLifecycle:
    def __init__(self, active: ActiveCalls, legs: LegFactory, cdr: CdrWriter,
                 node: str = "") -> None:
        self.active = active
        self.legs = legs
        self.cdr = cdr
        self.node = node
        self.on_connected: list[Callable[[Call], Awaitable[None]]] = []
        self.on_finished: list[Callable[[Call], Awaitable[None] | None]] = []

    async def supervise(self, call: Call) -> None:
        """Wait while the call is connected; when one party leaves, hang up the other."""
        for hook in self.on_connected:
            try:
                await hook(call)
            except Exception:
                log.exception("connected call hook failed", extra={"call_id": call.call_id})
        while True:
            call.changed.clear()
            if call.merged:
                return
            if call.b is None or any(leg.terminated for leg in call.legs()):
                break
            await call.changed.wait()
        for leg in call.legs():
            if not leg.terminated:
                await leg.hangup()
        if call.hangup_cause == "":
            first = next((leg for leg in call.legs() if leg.ended.done()), None)
            if first is not None:
                who = "caller" if first is call.a else "callee"
                call.hangup_cause = f"{who} hung up"

    async def finish(self, call: Call) -> None:
        """End the call whatever state it is in and write its CDR rows."""
        try:
            await self._end(call)
        finally:
            self.active.remove(call)

    async def _end(self, call: Call) -> None:
        call.state = CallState.ENDED
        self.active.free_lines(call)
        call.a.reject(500, "Internal error")
        if call.caller_gone and call.answered_at is None and \
                call.disposition in (Disposition.FAILED, Disposition.ANSWERED):
            call.disposition = Disposition.CANCELLED
        for leg in call.legs():
            if not leg.terminated and not call.merged:
                await leg.hangup()
        quality = None if call.merged else call_quality(call, self.node)
        for leg in call.legs():
            self.legs.release(leg)
            # the leg's callbacks reach the call: let both go without the collector
            leg.detach()
        ended = time.time()
        if call.end_hooks:
            for hook in call.end_hooks:
                try:
                    await hook(call, ended)
                except Exception:
                    log.exception("end of call hook failed", extra={"call_id": call.call_id})
        for record, announce in call_records(call, ended, quality):
            self.cdr.submit(record, publish=announce)
        for finished in self.on_finished:
            try:
                done = finished(call)
                if inspect.isawaitable(done):
                    await done
            except Exception:
                log.exception("finished call hook failed", extra={"call_id": call.call_id})
