"""What every handle of the SIP plugin shares: settings, the SIP endpoint, RTP ports, the PBX
control client, the SIP servers users may reach, the registries of accounts, calls and pending
transfers, and what each user holds (SIP accounts, media legs) against the per-user limits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.media.ports import PortAllocator
from gateway.plugins.sip.account import SipAccount
from gateway.plugins.sip.pbx import PbxControl
from gateway.plugins.sip.policy import Destinations, Sources
from gateway.plugins.sip.webphone_order import WebphoneOrder
from gateway.settings import GatewaySettings
from webfon.sip import Request, SipEndpoint
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
    account: SipAccount | None  # whose call it came in: only its lines may follow or decline
    refer_cseq: int
    referred_by: str | None
    replaces: str | None  # the Replaces header to put in the new INVITE, if any


@dataclass
class SipContext:
    settings: GatewaySettings
    endpoint: SipEndpoint
    allocator: PortAllocator
    pbx: PbxControl
    destinations: Destinations = field(default_factory=Destinations)
    sources: Sources = field(default_factory=Sources)
    accounts: dict[int, SipAccount] = field(default_factory=dict)  # by master_id
    calls: dict[str, CallLine] = field(default_factory=dict)  # by Call-ID
    transfers: dict[int, Transfer] = field(default_factory=dict)  # by refer_id
    setup_times: list[float] = field(default_factory=list)
    calls_total: int = 0
    refused_destinations: int = 0
    refused_sources: int = 0
    limit_refusals: int = 0
    logins_pending: dict[str, int] = field(default_factory=dict)  # webphone logins under way
    webphone_order: WebphoneOrder = field(default_factory=WebphoneOrder)  # by user id
    media_legs: dict[str, int] = field(default_factory=dict)  # by token user
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

    def servers_of(self, account: SipAccount) -> Destinations:
        """The SIP servers ``account`` may reach and be reached from: the gateway's, plus
        what the PBX gave a webphone login."""
        if account.own_servers:
            return self.destinations.plus(*account.own_servers)
        return self.destinations

    async def from_allowed_server(self, account: SipAccount, request: Request) -> bool:
        """Whether a request outside any call, for ``account``, comes from one of its SIP
        servers (anything else is refused with 403: only the PBX rings a browser)."""
        source = request.source
        if source is not None and await self.sources.allows(self.servers_of(account),
                                                            source[0]):
            return True
        self.refused_sources += 1
        log.warning("SIP request from a server not allowed refused", extra={
            "method": request.method, "peer": f"{source[0]}:{source[1]}" if source else "",
            "call_id": request.headers.get("Call-ID"), "user": account.owner})
        return False

    def call_set_up(self, setup_ms: float | None) -> None:
        self.calls_total += 1
        if setup_ms is not None:
            self.setup_times.append(setup_ms)
            del self.setup_times[:-1000]

    # --- what each user holds -------------------------------------------------------------
    def accounts_of(self, user: str, besides: SipAccount | None = None) -> int:
        """SIP accounts (masters) the user holds, with webphone logins under way."""
        held = sum(1 for a in self.accounts.values() if a.owner == user and a is not besides)
        return held + self.logins_pending.get(user, 0)

    def take_leg(self, user: str) -> None:
        self.media_legs[user] = self.media_legs.get(user, 0) + 1

    def give_leg(self, user: str) -> None:
        left = self.media_legs.get(user, 0) - 1
        if left > 0:
            self.media_legs[user] = left
        else:
            self.media_legs.pop(user, None)
