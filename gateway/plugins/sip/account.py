"""A SIP account of the plugin: the identity a master handle registered, on webfon's user agent.

The account owns one :class:`webfon.sip.ua.UserAgent` on the plugin's shared endpoint (its
Contact has a random user part, which is how incoming requests find it) and knows the handles
that take its calls: the master first, then its helper lines. Registration, refreshes,
authentication and the calls' SIP dialogs are the user agent's; the account only adds what the
Janus API needs (the ``master_id``, the lines, the login kind).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import secrets
from collections.abc import Callable
from typing import Any, Protocol

from gateway.plugins.sip.policy import Server
from webfon.sip import Response, SipEndpoint, SipError, SipURI
from webfon.sip.ua import Account, EventCallback, UserAgent

log = logging.getLogger("gateway.sip.account")


class AccountKind(enum.Enum):
    REGULAR = "regular"  # registers at a registrar with the client's credentials
    GUEST = "guest"  # sends no REGISTER (Janus's guest, or send_register: false)
    WEBFON = "webfon"  # webphone login: credentials from the PBX control API


class Line(Protocol):
    """A handle that can take one of the account's calls (a master or a helper)."""

    @property
    def busy(self) -> bool: ...


def new_master_id(taken: Callable[[int], bool]) -> int:
    """A random 32-bit id, as Janus's ``master_id``, not in use."""
    while True:
        value = secrets.randbelow(2**32 - 1) + 1
        if not taken(value):
            return value


class SipAccount:
    """One registered (or guest) identity, shared by a master handle and its helpers."""

    def __init__(self, endpoint: SipEndpoint, identity: SipURI, *, master_id: int,
                 kind: AccountKind = AccountKind.REGULAR, display_name: str | None = None,
                 authuser: str | None = None, secret: str | None = None,
                 ha1_secret: str | None = None, proxy: SipURI | None = None,
                 outbound_proxy: SipURI | None = None, user_agent: str | None = None,
                 register_ttl: int = 3600, headers: list[tuple[str, str]] | None = None,
                 on_event: EventCallback | None = None, owner: str | None = None) -> None:
        self.identity = identity
        self.owner = owner  # the token user who registered it (per-user limits)
        # the SIP servers this account may reach besides the gateway's (webphone logins: what
        # the PBX gave them)
        self.own_servers: tuple[Server, ...] = ()
        self.kind = kind
        self.master_id = master_id
        self.display_name = display_name
        self.lines: list[Line] = []  # master first, then helpers
        self.max_lines = 0  # 0: no limit (webphone logins set it)
        self.webfon: dict[str, Any] = {}
        self.register_sent = False
        registrar = proxy.copy(user=None) if proxy is not None else None
        self.ua = UserAgent(endpoint, Account(
            aor=str(identity), password=secret, username=authuser or identity.user,
            ha1_md5=ha1_secret, display_name=display_name,
            registrar=str(registrar) if registrar else None,
            outbound_proxy=str(outbound_proxy) if outbound_proxy else None,
            expires=register_ttl, contact_user="wf" + secrets.token_hex(6),
            user_agent=user_agent, register_headers=tuple(headers or ())),
            on_event=on_event, queue_incoming=False)

    @property
    def username(self) -> str:
        """The user part of the identity (what Janus reports as ``username``)."""
        return self.identity.user or ""

    @property
    def registered(self) -> bool:
        return self.ua.registered

    @property
    def contact_user(self) -> str:
        return self.ua.contact_user

    def free_line(self) -> Line | None:
        """The first line without a call (master first)."""
        return next((line for line in self.lines if not line.busy), None)

    def active_calls(self) -> int:
        return sum(1 for line in self.lines if line.busy)

    async def register(self) -> Response:
        """Send the REGISTER (the user agent keeps it refreshed); its final response."""
        self.register_sent = True
        return await self.ua.register()

    async def unregister(self) -> Response | None:
        """Remove the binding (Expires 0) if there is one."""
        if not self.ua.registered:
            return None
        with contextlib.suppress(SipError, OSError):
            return await self.ua.unregister()
        return None

    async def close(self, unregister: bool = True) -> None:
        """Hang up the account's calls, unregister (if asked and registered) and leave the
        endpoint."""
        await self.ua.close(unregister=unregister)
