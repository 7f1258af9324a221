"""The registrar of the idle-users ramp: answers REGISTER over UDP with a digest challenge and
then 200 OK granting ``expires`` seconds, and records when each address of record registered,
so the load test can tell whether the gateway refreshed every registration before it expired.

Accounts are the load test's own (``webphone.user_name`` / ``user_secret``); a REGISTER for any
other user, or with a wrong password, gets 403. Other requests get 405. It uses the project's
SIP parser and digest server.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loadtest.histogram import Histogram
from loadtest.webphone import user_secret
from webfon.sip.digest import DigestServer, compute_ha1
from webfon.sip.message import Request, parse_message

log = logging.getLogger("loadtest.registrar")
REALM = "loadtest"


@dataclass
class Binding:
    first_at: float
    last_at: float
    expires: int
    registrations: int = 1
    late_refreshes: int = 0  # a refresh that came after the previous one had expired


@dataclass
class RegistrarStats:
    """What the registrar saw, at one moment."""

    bindings: int  # addresses of record ever registered (and not unregistered)
    active: int  # registered and not expired now
    lapsed: int  # expired now: not refreshed in time
    registrations: int  # REGISTERs accepted, first ones and refreshes
    refreshes: int
    late_refreshes: int
    rejected: int
    refresh_gap: Histogram = field(default_factory=Histogram)  # seconds between REGISTERs

    def to_dict(self) -> dict[str, Any]:
        p50 = self.refresh_gap.percentile(50)
        p99 = self.refresh_gap.percentile(99)
        return {"bindings": self.bindings, "active": self.active, "lapsed": self.lapsed,
                "registrations": self.registrations, "refreshes": self.refreshes,
                "late_refreshes": self.late_refreshes, "rejected": self.rejected,
                "refresh_gap_s_p50": round(p50, 2) if math.isfinite(p50) else None,
                "refresh_gap_s_max": round(p99, 2) if math.isfinite(p99) else None}


class Registrar(asyncio.DatagramProtocol):
    def __init__(self, expires: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.expires = expires
        self.clock = clock
        self.digest = DigestServer(REALM, algorithms=("MD5",))
        self.bindings: dict[str, Binding] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.registrations = 0
        self.refreshes = 0
        self.rejected = 0
        self.gaps = Histogram()
        self._ha1: dict[str, str] = {}

    async def listen(self, host: str, port: int = 0) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self,
                                                           local_addr=(host, port))
        sock = transport.get_extra_info("sockname")
        return str(sock[0]), int(sock[1])

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not data.strip():
            return  # keepalive CRLF
        try:
            msg = parse_message(data)
        except Exception:  # a malformed datagram is dropped, as any registrar would
            return
        if not isinstance(msg, Request) or msg.method == "ACK":
            return
        reply = self.handle(msg)
        if self.transport is not None:
            self.transport.sendto(reply.encode(), addr)

    def _ha1_of(self, user: str) -> str | None:
        if not user.startswith("idle") or not user[4:].isdigit():
            return None
        if user not in self._ha1:
            self._ha1[user] = compute_ha1(user, REALM, user_secret(int(user[4:])))
        return self._ha1[user]

    def handle(self, request: Request) -> Any:
        """The response to one request (pure but for the bindings it records)."""
        if request.method != "REGISTER":
            return request.create_response(405, headers=[("Allow", "REGISTER")])
        try:
            creds = self.digest.credentials(request)
        except Exception:
            creds = None
        if creds is None:
            return self.digest.challenge(request, to_tag="reg")
        result = self.digest.verify(request, creds, self._ha1_of(creds.username))
        if result.status == "stale":
            return self.digest.challenge(request, stale=True, to_tag="reg")
        aor_user = request.to.uri.user or ""
        if not result.ok or aor_user != creds.username:
            self.rejected += 1
            return request.create_response(403, to_tag="reg")
        contact = request.contact
        asked = request.expires
        if contact is not None and contact.params.get("expires") is not None:
            try:
                asked = int(str(contact.params.get("expires")))
            except ValueError:
                asked = None
        granted = self.expires if asked is None else min(self.expires, asked)
        now = self.clock()
        if granted == 0:
            self.bindings.pop(aor_user, None)
            return request.create_response(200, to_tag="reg")
        self.registrations += 1
        binding = self.bindings.get(aor_user)
        if binding is None:
            self.bindings[aor_user] = Binding(now, now, granted)
        else:
            gap = now - binding.last_at
            self.refreshes += 1
            binding.registrations += 1
            self.gaps.add(gap)
            if gap > binding.expires:
                binding.late_refreshes += 1
            binding.last_at = now
            binding.expires = granted
        headers = [("Expires", str(granted))]
        if contact is not None:
            headers.append(("Contact", f"<{contact.uri}>;expires={granted}"))
        return request.create_response(200, to_tag="reg", headers=headers)

    def stats(self) -> RegistrarStats:
        now = self.clock()
        lapsed = sum(1 for b in self.bindings.values() if now > b.last_at + b.expires)
        gaps = Histogram()
        gaps.merge(self.gaps)
        return RegistrarStats(
            bindings=len(self.bindings), active=len(self.bindings) - lapsed, lapsed=lapsed,
            registrations=self.registrations, refreshes=self.refreshes,
            late_refreshes=sum(b.late_refreshes for b in self.bindings.values()),
            rejected=self.rejected, refresh_gap=gaps)
