"""Message waiting indication: RFC 3842 ``message-summary`` NOTIFYs to every registered
contact of a user's extensions (and of their logged-in web phone) when their mailbox changes.

Another source of waiting messages (a hotel's PMS lighting a room phone's lamp) is asked
through :attr:`MessageWaiting.also_waiting`: the lamp is on while either says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from webfon.sip import Address, ParseError, SipEndpoint, SipError, SipURI

from .directory import Directory
from .location import Location
from .repo.voicemail import VoicemailRepo

log = logging.getLogger("pbx.mwi")

NOTIFY_TIMEOUT_S = 10.0


class MessageWaiting:
    def __init__(self, endpoint: SipEndpoint, realm: str, directory: Directory,
                 location: Location, voicemail: VoicemailRepo) -> None:
        self.endpoint = endpoint
        self.realm = realm
        self.directory = directory
        self.location = location
        self.voicemail = voicemail
        self.also_waiting: Callable[[int], Awaitable[bool]] | None = None
        """Whether messages wait for a user besides their voicemail (the hotel's PMS)."""

    async def notify(self, user_id: int, unread: int | None = None) -> int:
        """Tell the user's phones how many messages wait; the number of NOTIFYs answered."""
        if unread is None:
            unread = await self.voicemail.unread(user_id)
        heard = await self.voicemail.heard(user_id)
        waiting = bool(unread) or (self.also_waiting is not None
                                   and await self.also_waiting(user_id))
        numbers = await self.directory.extension_numbers_of(user_id)
        session = await self.directory.web_session(user_id)
        if session is not None and session.extension not in numbers:
            numbers.append(session.extension)
        sent = 0
        for number in numbers:
            account = f"sip:{number}@{self.realm}"
            body = (f"Messages-Waiting: {'yes' if waiting else 'no'}\r\n"
                    f"Message-Account: {account}\r\n"
                    f"Voice-Message: {unread}/{heard} (0/0)\r\n")
            for b in await self.location.lookup(number):
                try:
                    uri = SipURI.parse(b.contact)
                    req = self.endpoint.create_request(
                        "NOTIFY", uri, from_=Address(SipURI.parse(account)),
                        to=Address(SipURI.parse(account)),
                        headers=[("Event", "message-summary"),
                                 ("Subscription-State", "active")],
                        body=body.encode(), content_type="application/simple-message-summary")
                    await asyncio.wait_for(self.endpoint.request(req), NOTIFY_TIMEOUT_S)
                    sent += 1
                except (TimeoutError, SipError, ParseError, OSError) as exc:
                    log.info("mwi notify failed: %s", exc, extra={"contact": b.contact})
        return sent
