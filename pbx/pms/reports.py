"""What the PBX tells the PMS, as messages in the outbox (delivered by :mod:`.outbox`):

==================  ========================================================================
``CALL``            a call made from an occupied room (for billing): ``room``, ``call_id``,
                    ``number``, ``date``, ``time`` (local, when answered), ``duration`` (s),
                    ``external`` (``1``: left by a trunk), ``trunk``
``CDR``             at check-out, the stay's calls (same fields), one entry per call
``STATUS``          a room status code dialled from the room: ``room``, ``code``, ``value``,
                    ``label``, ``date``, ``time``
``WAKEUP``          a wake-up call programmed (``status`` ``1``) or cancelled (``0``) from the
                    room's phone: ``room``, ``date``, ``time``
``WAKEUPRESULT``    a wake-up call made: ``room``, ``date``, ``time`` (as programmed),
                    ``result`` ``1`` (answered, the message played) or ``0`` (not answered
                    after every retry), ``attempts``, ``cause``
==================  ========================================================================

Each message is addressed to the room (``address``) and carries one entry under its action.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .actions import call_entry
from .model import BilledCall, HotelConfig, WakeUp
from .repo import HotelRepo
from .times import local


def wakeup_result(w: WakeUp, done: bool, cause: str, config: HotelConfig
                  ) -> tuple[str, str, dict[str, Any]]:
    """The ``WAKEUPRESULT`` message (action, address, data) of a wake-up call."""
    date, at = local(w.due_at, config.zone)
    return ("WAKEUPRESULT", w.room, {"WAKEUPRESULT": [{
        "room": w.room, "date": date, "time": at, "result": "1" if done else "0",
        "attempts": str(w.attempts), "cause": cause}]})


class Reports:
    def __init__(self, repo: HotelRepo, wake_outbox: Callable[[], None],
                 clock: Callable[[], float]) -> None:
        self.repo = repo
        self.wake_outbox = wake_outbox
        self.clock = clock

    async def _send(self, action: str, room: str, entry: dict[str, str]) -> None:
        await self.repo.enqueue(action, room, {action: [entry]}, self.clock())
        self.wake_outbox()

    async def call(self, call: BilledCall, config: HotelConfig) -> None:
        await self._send("CALL", call.room, call_entry(call, config))

    async def status(self, room: str, code: str, value: str, label: str,
                     config: HotelConfig) -> None:
        date, at = local(self.clock(), config.zone)
        await self._send("STATUS", room, {"room": room, "code": code, "value": value,
                                          "label": label, "date": date, "time": at})

    async def wakeup(self, room: str, due_at: float, programmed: bool,
                     config: HotelConfig) -> None:
        date, at = local(due_at, config.zone)
        await self._send("WAKEUP", room, {"room": room, "date": date, "time": at,
                                          "status": "1" if programmed else "0"})
