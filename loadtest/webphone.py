"""One connected, idle web phone: what a logged-in browser tab costs the gateway between calls.

Its own WebSocket, a Janus session, a handle on the SIP plugin and a real REGISTER (with digest
authentication) at a registrar; then only keepalives (sent by :class:`loadtest.engine.Engine`
for all phones on one timer). No peer connection is made, so a worker process holds thousands
of them: the cost per phone is one socket, a reader task and a few small objects.
"""

from __future__ import annotations

import aiohttp

from loadtest.janus import JanusClient


class Webphone:
    def __init__(self, index: int, url: str, token: str | None, plugin: str,
                 http: aiohttp.ClientSession, registrar: str, domain: str,
                 register_ttl: int) -> None:
        self.index = index
        self.plugin = plugin
        self.registrar = registrar
        self.domain = domain
        self.register_ttl = register_ttl
        self.janus = JanusClient(url, token, http)
        self.setup_s: float | None = None

    @property
    def username(self) -> str:
        return f"sip:{user_name(self.index)}@{self.domain}"

    async def start(self) -> None:
        await self.janus.connect(self.plugin)
        await self.janus.message({"request": "register", "username": self.username,
                                  "secret": user_secret(self.index), "proxy": self.registrar,
                                  "register_ttl": self.register_ttl})
        await self.janus.event("registered", timeout=60)
        self.janus.drain_events()

    async def keepalive(self) -> None:
        await self.janus.keepalive()
        self.janus.drain_events()  # nothing is waited for: do not let events pile up

    @property
    def alive(self) -> bool:
        return not self.janus.closed.is_set()

    async def stop(self) -> None:
        await self.janus.close()


def user_name(index: int) -> str:
    return f"idle{index}"


def user_secret(index: int) -> str:
    """Each phone's password at the load test's registrar (a test account, not a secret)."""
    return f"pw-{index}"
