"""The hotel PMS interface put together on the PBX's SIP engine (``pms_enabled``).

It adds, each through the engine part's own hook:

* the CHAR listener (:mod:`.server`) carrying out the PMS's actions (:mod:`.actions`);
* the room gate at admission (:mod:`.gate`: closed vacant rooms, do not disturb);
* the room phones' codes (:mod:`.codes`: status codes, wake-up calls from the room) to the
  router and their destination to delivery;
* billing of the calls made from rooms at the end of each call (:mod:`.billing`);
* the PMS's message-waiting flag to the MWI NOTIFYs, sent again when a room phone registers;
* the wake-up scheduler (:mod:`.wakeup`, :mod:`.wakecall`) and the outbox towards hmobile
  connect (:mod:`.outbox`), as background tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Callable
from typing import Any

from webfon.store import Store

from ..admission import Admission
from ..calls.active import ActiveCalls
from ..calls.factory import LegFactory
from ..calls.lifecycle import CallLifecycle
from ..calls.originate import Originator
from ..cdr import CdrWriter
from ..destinations.base import Delivery
from ..destinations.reach import Reach
from ..directory import Directory, Extension
from ..mwi import MessageWaiting
from ..registrar import Registrar
from ..routing import RouteKind, Router
from ..settings import PbxSettings
from .actions import PmsActions
from .billing import RoomBilling
from .codes import RoomCodeDestination, RoomCodes
from .gate import RoomGate
from .limiter import LoginLimiter
from .outbox import HmobileLink, Outbox, link_ssl_context
from .repo import HotelRepo
from .reports import Reports
from .server import CharServer, server_ssl_context
from .wakecall import WakeUpCaller
from .wakeup import WakeUpScheduler

log = logging.getLogger("pbx.pms")


class HotelInterface:
    def __init__(self, settings: PbxSettings, *, store: Store, directory: Directory,
                 router: Router, admission: Admission, delivery: Delivery,
                 registrar: Registrar, mwi: MessageWaiting, reach: Reach, legs: LegFactory,
                 active: ActiveCalls, lifecycle: CallLifecycle, cdr: CdrWriter,
                 originator: Originator, media_host: str,
                 clock: Callable[[], float] = time.time) -> None:
        s = settings
        self.settings = settings
        self.directory = directory
        self.mwi = mwi
        self.repo = repo = HotelRepo(store)
        self.link: HmobileLink | None = None
        if s.pms_url:
            self.link = HmobileLink(s.pms_url, s.pms_user, s.pms_password, link_ssl_context(
                _path(s.pms_ca_file), _path(s.pms_cert_file), _path(s.pms_key_file)),
                s.pms_timeout_s)
        else:
            log.warning("pms_url is not set: messages for the PMS wait in the outbox")
        self.outbox = Outbox(repo, self.link, retry_min_s=s.pms_retry_min_s,
                             retry_max_s=s.pms_retry_max_s, poll_s=s.pms_poll_s, clock=clock)
        reports = Reports(repo, self.outbox.wake, clock)
        self.scheduler = WakeUpScheduler(
            repo, WakeUpCaller(admission, reach, legs, originator, active, directory, cdr),
            poll_s=s.pms_poll_s, wake_outbox=self.outbox.wake, clock=clock)
        self.actions = PmsActions(repo, directory, self._lamp, self.scheduler.changed, clock)
        self.server = CharServer(repo, self.actions,
                                 LoginLimiter(s.pms_max_failures, s.pms_failure_window_s,
                                              s.pms_lock_s),
                                 [ipaddress.ip_network(n, strict=False)
                                  for n in s.pms_allowed_networks])
        admission.restrictions.append(RoomGate(directory))
        router.dial_codes.append(RoomCodes(repo, directory))
        delivery.add(RouteKind.ROOM_CODE, RoomCodeDestination(
            repo, reports, self.scheduler.changed, media_host, clock))
        lifecycle.on_finished.append(RoomBilling(repo, directory, reports, clock).call_finished)
        mwi.also_waiting = repo.message_waiting_for
        registrar.on_registered.append(self._registered)
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def port(self) -> int:
        """Where the CHAR listener answers."""
        return self.server.port

    async def start(self) -> None:
        s = self.settings
        assert s.pms_tls_cert_file is not None and s.pms_tls_key_file is not None
        await self.server.start(s.pms_host, s.pms_port, server_ssl_context(
            str(s.pms_tls_cert_file), str(s.pms_tls_key_file), _path(s.pms_client_ca_file)))
        self._spawn(self.scheduler.run())
        self._spawn(self.outbox.run())

    async def close(self) -> None:
        await self.server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.link is not None:
            await self.link.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _lamp(self, user_id: int) -> None:
        """Send the room phone's MWI NOTIFYs in the background: a phone that does not answer
        must not hold up CHAR's reply."""
        self._spawn(self._notify(user_id))

    async def _notify(self, user_id: int) -> None:
        try:
            await self.mwi.notify(user_id)
        except Exception:
            log.exception("pms: message waiting notify failed", extra={"user_id": user_id})

    def _registered(self, ext: Extension) -> None:
        """A room phone (re)registered: light its lamp if the PMS left a message."""
        if ext.owner_user_id is not None:
            self._spawn(self._relight(ext))

    async def _relight(self, ext: Extension) -> None:
        room = await self.directory.room_of_extension(ext.id)
        if room is None or ext.owner_user_id is None:
            return
        try:
            if await self.repo.message_waiting_for(ext.owner_user_id):
                await self._notify(ext.owner_user_id)
        except Exception:
            log.exception("pms: message waiting after a registration failed",
                          extra={"extension": ext.number})


def _path(value: Any) -> str | None:
    return str(value) if value is not None else None
