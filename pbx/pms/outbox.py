"""Delivering the PBX's messages to the PMS, reliably.

Messages wait in the store (``hotel_outbox``) and go to hmobile connect in order, one at a
time, as requests in CHAR's format over HTTPS (:class:`HmobileLink`). A message the link could
not deliver (no connection, timeout, an HTTP error, a reply that is not an action_result) is
sent again after ``retry_min_s``, doubling up to ``retry_max_s``, and holds back the ones
after it; the outbox survives restarts. A message the PMS answers with a non-zero code is
kept as ``refused`` with that code (logged; an admin can queue it again) and the next goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp

from .model import OutboxMessage
from .protocol import CharError, format_request, parse_reply
from .repo import HotelRepo

log = logging.getLogger("pbx.pms")


class DeliveryError(Exception):
    """The message did not reach the PMS (try again later)."""


class Link(Protocol):
    async def send(self, site: str, message: OutboxMessage) -> tuple[str, str]:
        """Deliver one message; the PMS's (code, description). Raises
        :class:`DeliveryError`."""


class HmobileLink:
    """hmobile connect's API: POST the request, read the action_result."""

    def __init__(self, url: str, user: str, password: str, ssl_context: ssl.SSLContext,
                 timeout_s: float) -> None:
        self.url = url
        self.user = user
        self.password = password
        self.ssl_context = ssl_context
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self.ssl_context, limit=2),
                timeout=self.timeout)
        return self._session

    async def send(self, site: str, message: OutboxMessage) -> tuple[str, str]:
        body = format_request(self.user, self.password, site, message.address, message.action,
                              message.data)
        try:
            async with self._http().post(self.url, data=body.encode(),
                                         headers={"Content-Type": "text/plain; charset=utf-8"},
                                         allow_redirects=False) as resp:
                raw = await resp.content.read(65536)
                if resp.status >= 300:
                    raise DeliveryError(f"HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:200]) from None
        try:
            return parse_reply(raw)
        except CharError as exc:
            raise DeliveryError(exc.description) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def link_ssl_context(ca_file: str | None, cert_file: str | None,
                     key_file: str | None) -> ssl.SSLContext:
    """Verify hmobile connect's certificate (against ``ca_file``, else the system's CAs),
    and present ours when given."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file and key_file:
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


class Outbox:
    def __init__(self, repo: HotelRepo, link: Link | None, *, retry_min_s: float,
                 retry_max_s: float, poll_s: float, lease_s: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self.link = link
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.poll_s = poll_s
        self.lease_s = lease_s
        self.clock = clock
        self._wake = asyncio.Event()
        self._unconfigured = False

    def wake(self) -> None:
        """A message was queued: look now."""
        self._wake.set()

    def backoff(self, attempts: int) -> float:
        """Seconds before sending again a message that failed ``attempts`` times."""
        return float(min(self.retry_max_s, self.retry_min_s * 2 ** max(0, attempts - 1)))

    async def deliver_due(self) -> float:
        """Deliver the due messages in order; seconds until the next one is due (at most
        ``poll_s``)."""
        if self.link is None:
            return self.poll_s
        site = (await self.repo.config()).site
        if not site:
            if not self._unconfigured:
                log.warning("the hotel's site is not set: messages for the PMS wait")
            self._unconfigured = True
            return self.poll_s
        self._unconfigured = False
        while True:
            now = self.clock()
            message, due = await self.repo.next_message(now)
            if message is None:
                return self.poll_s if due is None else max(0.0, min(self.poll_s, due - now))
            if not await self.repo.claim_message(message.id, now, self.lease_s):
                return min(self.poll_s, 1.0)  # another node is sending it
            await self._deliver(site, message)
            if await self._held_back():
                return min(self.poll_s, self.backoff(message.attempts + 1))

    async def _held_back(self) -> bool:
        message, due = await self.repo.next_message(self.clock())
        return message is None and due is not None

    async def _deliver(self, site: str, message: OutboxMessage) -> None:
        assert self.link is not None
        attempts = message.attempts + 1
        extra: dict[str, Any] = {"outbox_id": message.id, "action": message.action,
                                 "address": message.address, "attempts": attempts}
        try:
            code, description = await self.link.send(site, message)
        except DeliveryError as exc:
            delay = self.backoff(attempts)
            await self.repo.retry_message(message.id, self.clock() + delay, str(exc))
            log.warning("pms message not delivered: %s", exc, extra={**extra, "retry_s": delay})
            return
        if code == "0":
            await self.repo.delivered(message.id, self.clock())
            log.info("pms message delivered", extra=extra)
        else:
            await self.repo.refused(message.id, f"{code} {description}")
            log.warning("pms refused a message", extra={**extra, "code": code,
                                                        "description": description[:200]})

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                delay = await self.deliver_due()
            except Exception:
                log.exception("pms outbox failed")
                delay = self.poll_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
