"""A hotel PMS behind hmobile connect, simulated for tests.

Towards the PBX it is a client sending CHAR requests (:meth:`PmsSimulator.send`) to the PBX's
PMS interface over HTTPS; from the PBX it is hmobile connect's API: an HTTPS server taking the
PBX's requests (calls, room status codes, wake-up results, CDRs), checking their credentials
and site, keeping each message and answering in CHAR's reply format. It reads the requests
with its own parser (``configparser`` and ``json``), not the PBX's, and can be made to fail
(``fail_next``: HTTP 503) or be stopped and started again on the same port.
"""

from __future__ import annotations

import asyncio
import configparser
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from .hotel import CHAR_PASSWORD, CHAR_USER, SITE


@dataclass(frozen=True)
class Received:
    action: str
    address: str
    entries: list[dict[str, Any]]


class PmsSimulator:
    __test__ = False

    def __init__(self, cert: Path, key: Path, ca: Path, *, user: str = "vivait",
                 password: str = "hmobile-pass", site: str = SITE) -> None:
        self.cert, self.key, self.ca = cert, key, ca
        self.user, self.password, self.site = user, password, site
        self.received: list[Received] = []
        self.refused_logins = 0
        self.fail_next = 0
        """Answer this many of the next requests with HTTP 503."""
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Condition()

    # ------------------------------------------------------------------ hmobile connect's API
    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/vivait", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=ctx,
                          reuse_address=True).start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/api/vivait"

    async def _handle(self, request: web.Request) -> web.Response:
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=503, text="busy")
        parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
        try:
            parser.read_string(await request.text())
            user, password = parser["credentials"]["user"], parser["credentials"]["password"]
            site, address = parser["action"]["site"], parser["action"]["address"]
            action, data = parser["action"]["action"], json.loads(parser["action"]["data"])
        except (configparser.Error, KeyError, ValueError):
            return _reply("1", "Malformed request")
        if (user, password) != (self.user, self.password):
            self.refused_logins += 1
            return _reply("2", "Invalid credentials")
        if site != self.site:
            return _reply("4", "Unknown site")
        async with self._arrived:
            self.received.append(Received(action, address, data.get(action, [])))
            self._arrived.notify_all()
        return _reply("0", "Successfull")

    async def wait_for(self, action: str, timeout: float = 15.0, **match: str) -> Received:
        """The first message ``action`` (with an entry matching ``match``) received."""

        def found() -> Received | None:
            for msg in self.received:
                if msg.action == action and any(
                        all(e.get(k) == v for k, v in match.items()) for e in msg.entries):
                    return msg
            return None

        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: found() is not None), timeout)
        result = found()
        assert result is not None
        return result

    def of(self, action: str) -> list[Received]:
        return [m for m in self.received if m.action == action]

    # ------------------------------------------------------------------ towards the PBX
    async def send(self, pbx_port: int, action: str, data: dict[str, Any] | str, *,
                   address: str = "", user: str = CHAR_USER, password: str = CHAR_PASSWORD,
                   site: str = SITE, pbx_ca: Path | None = None,
                   client_cert: tuple[Path, Path] | None = None,
                   local_addr: str | None = None) -> tuple[int, dict[str, Any]]:
        """POST a request to the PBX's PMS interface; (HTTP status, reply document)."""
        body = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        text = (f"[credentials]\nuser={user}\npassword={password}\n[action]\nsite={site}\n"
                f"address={address}\naction={action}\ndata={body}\n")
        return await post(pbx_port, text.encode(), pbx_ca or self.ca, client_cert, local_addr)


async def post(port: int, body: bytes, ca: Path, client_cert: tuple[Path, Path] | None = None,
               local_addr: str | None = None) -> tuple[int, dict[str, Any]]:
    ctx = ssl.create_default_context(cafile=str(ca))
    if client_cert is not None:
        ctx.load_cert_chain(*client_cert)
    connector = aiohttp.TCPConnector(ssl=ctx, local_addr=(local_addr, 0) if local_addr
                                     else None, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http, http.post(
            f"https://127.0.0.1:{port}/char", data=body,
            headers={"Content-Type": "text/plain; charset=utf-8"},
            timeout=aiohttp.ClientTimeout(total=20)) as resp:
        return resp.status, await resp.json(content_type=None)


def _reply(code: str, description: str) -> web.Response:
    return web.json_response({"action_result": {"result": {"code": code,
                                                           "description": description}}})
