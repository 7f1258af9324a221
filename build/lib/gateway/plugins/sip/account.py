"""A SIP account used by one master handle (and its helpers): identity, credentials and the
REGISTER refresh loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from webfon.sip import (
    Address,
    DigestClient,
    Request,
    Response,
    SipEndpoint,
    SipError,
    SipURI,
    new_call_id,
)
from webfon.sip.endpoint import Destination

if TYPE_CHECKING:
    from gateway.plugins.sip.session import SipSession

log = logging.getLogger("gateway.sip.account")


def destination_of(uri: SipURI) -> Destination:
    host, port = uri.host_port
    return Destination(uri.transport or "udp", host, port or 5060)


@dataclass
class Account:
    endpoint: SipEndpoint
    aor: SipURI  # the identity (From, To of REGISTER)
    display_name: str | None = None
    authuser: str | None = None
    secret: str | None = None
    ha1_secret: str | None = None
    proxy: SipURI | None = None  # where REGISTER goes
    outbound_proxy: SipURI | None = None  # where every request goes
    user_agent: str | None = None
    register_ttl: int = 3600
    kind: str = "regular"  # regular | guest | webfon
    master_id: int = field(default_factory=lambda: secrets.randbelow(2**31) + 1)
    contact_user: str = field(default_factory=lambda: "wf" + secrets.token_hex(6))
    registered: bool = False
    register_sent: bool = False
    max_lines: int = 0  # 0 = no limit (webfon logins set it)
    webfon: dict[str, Any] = field(default_factory=dict)
    sessions: list[SipSession] = field(default_factory=list)  # master first, then helpers
    _call_id: str = field(default_factory=lambda: new_call_id("webfon"))
    _cseq: int = 0
    _refresh: asyncio.Task[None] | None = None

    @property
    def username(self) -> str:
        return str(self.aor)

    def identity(self) -> Address:
        return Address(self.aor.copy(), display_name=self.display_name or None)

    def contact(self) -> Address:
        return Address(self.endpoint.contact_uri(self.contact_user))

    def digest(self) -> DigestClient | None:
        user = self.authuser or self.aor.user or ""
        if self.secret:
            return DigestClient(user, self.secret)
        if self.ha1_secret:
            return DigestClient(user, ha1_md5=self.ha1_secret)
        return None

    def next_hop(self, target: SipURI) -> Destination:
        if self.outbound_proxy is not None:
            return destination_of(self.outbound_proxy)
        return destination_of(target)

    async def send_authenticated(self, request: Request, dest: Destination,
                                 timeout: float = 40.0) -> Response:
        """Send a non-INVITE request, answering one 401/407 challenge."""
        response = await self.endpoint.request(request, dest)
        if response.status in (401, 407):
            digest = self.digest()
            retry = digest.authorize(request, response) if digest else None
            if retry is not None:
                response = await self.endpoint.request(retry, dest)
        return response

    # --- registration ------------------------------------------------------------------
    def _register_request(self, expires: int) -> Request:
        target = self.proxy.copy(user=None) if self.proxy else SipURI.parse(
            f"sip:{self.aor.host}" + (f":{self.aor.port}" if self.aor.port else ""))
        self._cseq += 1
        contact = self.contact()
        headers = [("Expires", str(expires))]
        if self.user_agent:
            headers.append(("User-Agent", self.user_agent))
        return self.endpoint.create_request(
            "REGISTER", target, from_=Address(self.aor.copy()), to=Address(self.aor.copy()),
            call_id=self._call_id, cseq=self._cseq, contact=contact, headers=headers)

    async def register(self, expires: int | None = None) -> Response:
        expires = self.register_ttl if expires is None else expires
        request = self._register_request(expires)
        dest = self.outbound_proxy or self.proxy or request.uri
        response = await self.endpoint.request(request, destination_of(dest))
        if response.status in (401, 407):
            digest = self.digest()
            retry = digest.authorize(request, response) if digest else None
            if retry is not None:
                self._cseq = retry.cseq.seq
                response = await self.endpoint.request(retry, destination_of(dest))
        self.register_sent = True
        if response.status < 300 and expires > 0:
            self.registered = True
            granted = expires
            contact = response.contact
            if contact is not None and contact.expires:
                granted = int(contact.expires)
            elif response.expires is not None:
                granted = response.expires
            self._schedule_refresh(max(granted, 10))
        elif expires == 0:
            self.registered = False
        return response

    def _schedule_refresh(self, granted: int) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
        self._refresh = asyncio.create_task(self._refresh_later(granted))

    async def _refresh_later(self, granted: int) -> None:
        await asyncio.sleep(max(5.0, granted * 0.8))
        try:
            response = await self.register()
            if response.status >= 300:
                log.warning("registration refresh failed", extra={
                    "aor": self.username, "status": response.status})
        except SipError as exc:
            log.warning("registration refresh failed", extra={"error": str(exc)})

    async def unregister(self) -> Response | None:
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None
        if not self.registered:
            return None
        self.registered = False
        with contextlib.suppress(SipError):
            return await self.register(0)
        return None

    def stop(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None

    def active_calls(self) -> int:
        return sum(1 for s in self.sessions if s.call is not None)
