"""A Janus API client over one WebSocket, as a web phone speaks it: one session, one handle on
the SIP plugin, requests matched to replies by transaction, plugin events queued.

Works against any server of the Janus API (the webfon gateway, Janus 1.1.x): only the
documented requests are used (``create``, ``attach``, ``message``, ``trickle``, ``keepalive``,
``destroy``). Trickled candidates from the server are handed to ``on_trickle``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import aiohttp

PROTOCOL = "janus-protocol"
REQUEST_TIMEOUT_S = 20.0


class JanusError(RuntimeError):
    """A request answered with an error, a plugin error event, or a call/registration that
    failed."""


class JanusClient:
    """Signalling of one web phone."""

    def __init__(self, url: str, token: str | None, http: aiohttp.ClientSession,
                 on_trickle: Callable[[dict[str, Any]], None] | None = None) -> None:
        if not url.startswith(("ws://", "wss://")):
            raise ValueError(f"a Janus WebSocket URL (ws:// or wss://) is needed, not {url!r}")
        self.url = url
        self.token = token
        self.http = http
        self.on_trickle = on_trickle
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.session_id = 0
        self.handle_id = 0
        self.closed = asyncio.Event()
        self._tx = 0
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, plugin: str) -> None:
        """Open the WebSocket, create a session and attach a handle to ``plugin``."""
        # wss: nginx in front of gateway nodes, with a test certificate
        self.ws = await self.http.ws_connect(self.url, protocols=(PROTOCOL,), max_msg_size=0,
                                             heartbeat=None, autoping=True,
                                             ssl=False if self.url.startswith("wss:") else True)
        self._reader = asyncio.create_task(self._read())
        self.session_id = int((await self.request({"janus": "create"}))["data"]["id"])
        self.handle_id = int((await self.request({"janus": "attach",
                                                  "plugin": plugin}))["data"]["id"])

    async def request(self, msg: dict[str, Any],
                      timeout: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
        """Send a request and return its reply (``ack`` for plugin messages)."""
        if self.ws is None or self.ws.closed:
            raise JanusError("not connected")
        self._tx += 1
        tx = f"t{self._tx}"
        msg["transaction"] = tx
        if self.token:
            msg["token"] = self.token
        if self.session_id:
            msg.setdefault("session_id", self.session_id)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[tx] = fut
        try:
            await self.ws.send_str(json.dumps(msg))
            reply = await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(tx, None)
        if reply.get("janus") == "error":
            raise JanusError(f"{msg.get('janus')} failed: {reply.get('error')}")
        return reply

    async def message(self, body: dict[str, Any], jsep: dict[str, Any] | None = None) -> None:
        msg: dict[str, Any] = {"janus": "message", "handle_id": self.handle_id, "body": body}
        if jsep:
            msg["jsep"] = jsep
        await self.request(msg)

    async def keepalive(self) -> None:
        await self.request({"janus": "keepalive"})

    async def event(self, name: str, timeout: float = 30.0,
                    fail_on: tuple[str, ...] = ("hangup", "registration_failed")
                    ) -> dict[str, Any]:
        """Wait for the plugin event ``result.event == name``; other events are skipped, a
        plugin error or one of ``fail_on`` raises."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {name!r} event within {timeout:.0f}s")
            msg = await asyncio.wait_for(self._events.get(), remaining)
            data = (msg.get("plugindata") or {}).get("data") or {}
            if "error" in data or "error_code" in data:
                raise JanusError(f"plugin error: {data.get('error_code')} {data.get('error')}")
            result = data.get("result") or {}
            if result.get("event") == name:
                return msg
            if result.get("event") in fail_on:
                raise JanusError(f"{result.get('event')}: {result.get('code', '')} "
                                 f"{result.get('reason', '')}".strip())

    def drain_events(self) -> list[dict[str, Any]]:
        """Events received and not yet consumed (idle phones only look at them now and then)."""
        out = []
        while not self._events.empty():
            out.append(self._events.get_nowait())
        return out

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for frame in self.ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    break
                try:
                    msg = json.loads(frame.data)
                except ValueError:
                    continue
                kind = msg.get("janus")
                if kind == "trickle":
                    if self.on_trickle is not None and isinstance(msg.get("candidate"), dict):
                        self.on_trickle(msg["candidate"])
                elif kind in ("event", "webrtcup", "media", "hangup", "slowlink", "timeout",
                              "detached"):
                    self._events.put_nowait(msg)
                else:  # success, ack, error: the reply to a request
                    fut = self._pending.get(msg.get("transaction", ""))
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
        finally:
            self.closed.set()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(JanusError("connection closed"))

    async def close(self, destroy: bool = True) -> None:
        if destroy and self.ws is not None and not self.ws.closed and self.session_id:
            with contextlib.suppress(Exception):
                await self.request({"janus": "destroy"}, timeout=5)
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
