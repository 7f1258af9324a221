"""What every handle of the SIP plugin shares: settings, the SIP endpoint, RTP ports, the PBX
control client, and the registries of accounts, calls and pending transfers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.media.ports import PortAllocator
from gateway.plugins.sip.account import SipAccount
from gateway.plugins.sip.pbx import PbxControl
from gateway.settings import GatewaySettings
from webfon.sip import SipEndpoint
from webfon.sip.ua import Call

log = logging.getLogger("gateway.sip")


class CallLine(Protocol):
    """A handle with a call in progress, as the registries see it."""

    @property
    def sip_call(self) -> Call | None: ...

    def describe_call(self) -> dict[str, Any]: ...

    def call_metrics(self) -> tuple[int, int, int, float, bool]:
        """RTP packets from and to SIP, lost from SIP, jitter (ms), established."""
        ...


@dataclass
class Transfer:
    """A REFER received in a call, waiting for the user to follow or decline it."""

    call: Call  # the dialog the REFER came in (NOTIFYs go there)
    refer_cseq: int
    referred_by: str | None
    replaces: str | None  # the Replaces header to put in the new INVITE, if any


@dataclass
class SipContext:
    settings: GatewaySettings
    endpoint: SipEndpoint
    allocator: PortAllocator
    pbx: PbxControl
    accounts: dict[int, SipAccount] = field(default_factory=dict)  # by master_id
    calls: dict[str, CallLine] = field(default_factory=dict)  # by Call-ID
    transfers: dict[int, Transfer] = field(default_factory=dict)  # by refer_id
    setup_times: list[float] = field(default_factory=list)
    calls_total: int = 0
    _tasks: set[asyncio.Future[Any]] = field(default_factory=set)

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("SIP task failed", exc_info=task.exception())

    def cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def call_set_up(self, setup_ms: float | None) -> None:
        self.calls_total += 1
        if setup_ms is not None:
            self.setup_times.append(setup_ms)
            del self.setup_times[:-1000]
