"""Feature codes as destination (:mod:`pbx.feature_codes`): the PBX does what the code asks
for the caller, answers with a short confirmation tone and hangs up; what cannot be done is
refused with the reason (404 no busy call to call back, 404 no callback booked).
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..callback import Callbacks, NothingToCallBack
from ..calls.model import Call
from ..cdr import Disposition
from ..feature_codes import Feature
from ..routing import Route
from .base import answer_here

log = logging.getLogger("pbx.destinations")


class FeatureCodeDestination:
    def __init__(self, callbacks: Callbacks, media_host: str) -> None:
        self.callbacks = callbacks
        self.media_host = media_host

    async def deliver(self, call: Call, route: Route, depth: int) -> None:
        code = route.feature
        assert code is not None
        if code.feature is Feature.CALLBACK:
            try:
                await self.callbacks.book(call.caller, code.number)
            except NothingToCallBack as exc:
                call.refuse(404, str(exc).capitalize())
                return
            await self._confirm(call, "callback_booked")
        elif code.feature is Feature.CANCEL_CALLBACK:
            if not await self.callbacks.cancel(call.caller):
                call.refuse(404, "No callback booked")
                return
            await self._confirm(call, "callback_cancelled")

    async def _confirm(self, call: Call, prompt: str) -> None:
        if answer_here(call, self.media_host) is None:
            return
        call.answered_at = time.time()
        call.disposition = Disposition.ANSWERED
        player = call.a.media.play_prompt(prompt)
        await asyncio.wait([player, call.a.ended], return_when=asyncio.FIRST_COMPLETED)
