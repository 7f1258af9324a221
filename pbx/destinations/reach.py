"""Where a user or an extension can be reached right now: which extension rings for a user
(their web phone while it is logged in «exclusivo» and registered), and its live contacts."""

from __future__ import annotations

import logging

from ..calls.ringer import Contact
from ..directory import Directory, Extension, User
from ..location import Location

log = logging.getLogger("pbx.destinations")


class Reach:
    def __init__(self, directory: Directory, location: Location) -> None:
        self.directory = directory
        self.location = location

    async def extension_for(self, user: User, own: Extension | None) -> Extension | None:
        """The extension a call to ``user`` rings: their web extension while their web phone
        is logged in «exclusivo» and registered, otherwise ``own`` (their phones by order).

        A web phone that lost its registration (browser closed, network gone) until its
        session ends does not swallow the user's calls.
        """
        d = self.directory
        session = await d.web_session(user.id)
        if session is None or session.mode != "exclusivo":
            return own
        web = await d.extension(session.extension_id)
        if web is None:
            return own
        if any(b.reachable for b in await self.location.lookup(web.number)):
            return web
        log.info("web phone not registered: ringing the user's own phones",
                 extra={"user_id": user.id, "extension": web.number})
        return own

    async def contacts(self, number: str) -> list[Contact]:
        """The reachable registered contacts of extension ``number``."""
        return [Contact(b.contact, b.username) for b in await self.location.lookup(number)
                if b.reachable]
