"""An IVR menu as destination: the PBX answers, plays the menu's greeting (an uploaded WAV, or
a generated chime) and listens for a key sent as RFC 4733 telephone-event; a key may cut the
greeting short.

Each key of the menu sends the call on: to an extension or user, a group (with the group's
statistics on for this call when the option says so: the per-call «Si» of
``Cen_Sub_colaCentralita``), a user's mailbox, another menu, or hangs up. No key within
``timeout_s`` after the greeting, or a key the menu does not know (the invalid prompt plays),
is one try; after ``max_tries`` the menu's fallback applies.

Every choice is counted with ``Cen_Sub_Acumulados_IVR(menu name, key, 1)`` — ``TIMEOUT`` and
``INVALID`` too — and an option may count a free ``Cen_Sub_Acumulados_VV(name, key, 1)``, all
in the 15-minute period in which the call started. Targets are placed by the PBX itself
(:data:`~pbx.routing.SYSTEM`), as the menu's configuration names them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import numpy as np
import numpy.typing as npt

from webfon.rtp.dtmf import DtmfReceiver
from webfon.rtp.packet import RtpError, RtpPacket
from webfon.rtp.prompts import prompt
from webfon.rtp.tones import g711_frames
from webfon.store import Store

from ..admission import Admission
from ..calls.model import Call, CallState
from ..cdr import Disposition
from ..directory import Directory
from ..media import Leg as MediaLeg
from ..repo.ivr import IvrAction, IvrMenu, IvrOption
from ..routing import SYSTEM, Route, RouteKind
from ..stats import acumulados_ivr, acumulados_vv
from .base import MAX_FORWARD_DEPTH, Delivery, answer_here

log = logging.getLogger("pbx.destinations")

MAX_MENU_HOPS = 20
"""Menus visited by one call at most (a fallback chain that loops ends the call)."""
TIMEOUT = "TIMEOUT"
INVALID = "INVALID"


class IvrDestination:
    def __init__(self, directory: Directory, admission: Admission, delivery: Delivery,
                 store: Store, media_host: str) -> None:
        self.directory = directory
        self.admission = admission
        self.delivery = delivery
        self.store = store
        self.media_host = media_host

    async def deliver(self, call: Call, route: Route, depth: int) -> None:
        menu = route.ivr
        assert menu is not None
        if answer_here(call, self.media_host) is None:
            return
        keys = _Keys(call.a.media)
        try:
            choice = await self._choose(call, menu, keys)
        finally:
            keys.close()
            call.a.media.stop_playing()
        if choice is None or call.caller_gone:
            call.disposition = Disposition.CANCELLED
            call.hangup_cause = call.hangup_cause or "caller left the IVR"
            return
        await self._act(call, choice, depth)

    async def _choose(self, call: Call, menu: IvrMenu, keys: _Keys) -> IvrOption | None:
        """The option the caller picked (or a fallback), following menus to menus."""
        for _ in range(MAX_MENU_HOPS):
            option = await self._one_menu(call, menu, keys)
            if option is None or option.action is not IvrAction.MENU:
                return option
            nxt = await self.directory.ivr_by_number(option.target)
            if nxt is None:
                log.warning("IVR option leads to no menu", extra={"call_id": call.call_id,
                                                                  "target": option.target})
                return IvrOption("", IvrAction.HANGUP)
            menu = nxt
        return IvrOption("", IvrAction.HANGUP)

    async def _one_menu(self, call: Call, menu: IvrMenu, keys: _Keys) -> IvrOption | None:
        media = call.a.media
        greeting = await self._samples(menu.greeting_prompt_id, "ivr_menu")
        invalid = await self._samples(menu.invalid_prompt_id, "ivr_invalid")
        for _ in range(menu.max_tries):
            keys.clear()
            digit = await keys.after(media.play(g711_frames(greeting, media.payload_type)),
                                     menu.timeout_s, call.a.ended)
            if call.caller_gone:
                return None
            if digit is None:
                await self._count(menu.name, TIMEOUT, call)
                continue
            option = menu.option(digit)
            if option is None:
                log.info("IVR invalid key", extra={"call_id": call.call_id, "menu": menu.name,
                                                   "digit": digit})
                await self._count(menu.name, INVALID, call)
                await asyncio.wait([media.play(g711_frames(invalid, media.payload_type)),
                                    call.a.ended], return_when=asyncio.FIRST_COMPLETED)
                continue
            log.info("IVR choice", extra={"call_id": call.call_id, "menu": menu.name,
                                          "digit": digit, "action": str(option.action),
                                          "target": option.target})
            await self._count(menu.name, digit, call)
            if option.vv_name:
                await acumulados_vv(self.store, option.vv_name, option.vv_key or digit, 1,
                                    call.started_at)
            return option
        log.info("IVR fallback", extra={"call_id": call.call_id, "menu": menu.name,
                                        "action": str(menu.fallback.action)})
        return menu.fallback

    async def _act(self, call: Call, option: IvrOption, depth: int) -> None:
        if option.action is IvrAction.HANGUP:
            call.answered_at = call.answered_at or time.time()
            call.disposition = Disposition.ANSWERED
            call.state = CallState.ENDED
            call.hangup_cause = "IVR hung up"
            await call.a.hangup()
            return
        if depth >= MAX_FORWARD_DEPTH:
            call.refuse(482, "Too many hops")
            return
        if option.action is IvrAction.VOICEMAIL:
            user = await self.directory.user_by_number(option.target)
            if user is None:
                call.refuse(404, "No such mailbox")
                return
            await self.delivery.deliver(
                call, self.admission.voicemail(user, call.caller, option.target), depth + 1)
            return
        route = await self.admission.admit(option.target, SYSTEM)
        if route.kind is RouteKind.QUEUE and option.stats_enabled:
            route = self.admission.amend(route, stats=True)
        await self.delivery.deliver(call, route, depth + 1)

    async def _samples(self, prompt_id: int | None, default: str) -> npt.NDArray[np.int16]:
        if prompt_id is not None:
            samples = await self.directory.ivr.prompt(prompt_id)
            if samples is not None and len(samples):
                return samples
            log.warning("IVR prompt missing: playing the default", extra={"prompt": prompt_id})
        return prompt(default)

    async def _count(self, name: str, option: str, call: Call) -> None:
        try:
            await acumulados_ivr(self.store, name, option, 1, call.started_at)
        except Exception:
            log.exception("IVR accumulator not counted", extra={"call_id": call.call_id})


class _Keys:
    """The RFC 4733 keys the caller sends while the leg is detached from any relay."""

    def __init__(self, media: MediaLeg) -> None:
        self.media = media
        self.payload_type = media.dtmf_payload_type
        self.receiver = DtmfReceiver()
        self.digits: asyncio.Queue[str] = asyncio.Queue()
        media.sink = self._on_rtp

    def _on_rtp(self, data: bytes) -> None:
        if self.payload_type is None:
            return
        try:
            pkt = RtpPacket.parse(data)
        except RtpError:
            return
        if pkt.payload_type != self.payload_type:
            return
        try:
            events = self.receiver.feed(pkt.timestamp, pkt.payload)
        except ValueError:
            return
        for ev in events:
            if ev.kind == "end":
                self.digits.put_nowait(ev.digit)

    def clear(self) -> None:
        while not self.digits.empty():
            self.digits.get_nowait()

    async def after(self, playing: asyncio.Task[object], timeout: float,
                    gone: asyncio.Future[tuple[int, str]]) -> str | None:
        """A key pressed while ``playing`` plays (which it then stops) or within ``timeout``
        seconds after; None when none came (or the caller left)."""
        getter = asyncio.ensure_future(self.digits.get())
        try:
            await asyncio.wait([playing, getter, gone], return_when=asyncio.FIRST_COMPLETED)
            if not getter.done() and not gone.done():
                await asyncio.wait([getter, gone], timeout=timeout,
                                   return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                return getter.result()
            return None
        finally:
            self.media.stop_playing()
            if not getter.done():
                getter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getter

    def close(self) -> None:
        if self.media.sink == self._on_rtp:
            self.media.sink = None
