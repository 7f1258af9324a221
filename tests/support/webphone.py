"""A web phone over the Janus API (WebSocket), without a browser: logs a webfon user in through
one gateway node (``register`` with ``type: webfon``) and keeps the session until told to go.
It never reconnects: it stands for a user whose browser went away."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp


def write_trusting_sercen_conf(data_dir: Path) -> None:
    """``webfon up`` keeps the files it finds in ``<data_dir>/etc``: a sercen.conf with this
    machine as a trusted network, so the browsers here log in without a second factor."""
    etc = data_dir / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "sercen.conf").write_text(
        'smtps_usa = false\nsmtp_host = ""\nsmtp_puerto = 0\nsmtp_usuario = ""\n'
        'smtp_clave = ""\nf1factor_00_ip = "127.0.0.0"\nf1factor_00_msk = "255.0.0.0"\n')


class RawWebphone:
    """A web phone over the Janus API, logged in through one node, that never reconnects."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.registered = threading.Event()
        self.closed = threading.Event()
        self.error: str = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._task: asyncio.Future[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._sid: int | None = None

    def start(self, timeout: float = 15.0) -> None:
        self._thread.start()
        self._task = asyncio.run_coroutine_threadsafe(self._run(), self._loop)
        if not self.registered.wait(timeout):
            raise AssertionError(f"raw web phone not registered: {self.error}")

    async def _run(self) -> None:
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(
                    self.url, protocols=("janus-protocol",)) as ws:
                self._ws = ws
                sid = self._sid = (await self._ask(ws, {"janus": "create"}))["data"]["id"]
                hid = (await self._ask(ws, {"janus": "attach", "session_id": sid,
                                            "plugin": "vivait.plugin.webfon"}))["data"]["id"]
                await ws.send_json({"janus": "message", "session_id": sid, "handle_id": hid,
                                    "transaction": "reg", "token": self.token,
                                    "body": {"request": "register", "type": "webfon",
                                             "token": self.token}})
                async for msg in ws:
                    data = json.loads(msg.data)
                    result = (data.get("plugindata") or {}).get("data", {}).get("result", {})
                    if result.get("event") == "registered":
                        self.registered.set()
                    elif result.get("event") == "registration_failed":
                        self.error = str(result)
        except Exception as exc:
            self.error = repr(exc)
        finally:
            self.closed.set()

    async def _ask(self, ws: aiohttp.ClientWebSocketResponse,
                   msg: dict[str, Any]) -> dict[str, Any]:
        tx = f"t{time.monotonic_ns()}"
        await ws.send_json({**msg, "transaction": tx, "token": self.token})
        while True:
            reply = await ws.receive_json(timeout=10)
            if reply.get("transaction") == tx:
                if reply.get("janus") != "success":
                    raise RuntimeError(str(reply))
                return reply

    def destroy(self) -> None:
        """End the session the way a page leaving does (``destroy``), then close."""
        async def send() -> None:
            if self._ws is not None and self._sid is not None:
                await self._ws.send_json({"janus": "destroy", "session_id": self._sid,
                                          "transaction": "bye", "token": self.token})
                await asyncio.sleep(0.5)
                await self._ws.close()

        asyncio.run_coroutine_threadsafe(send(), self._loop).result(10)
        self.closed.wait(5)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
