"""Janus API over WebSocket at ``/janus`` (subprotocol ``janus-protocol``).

Each text frame is one request; replies and the events of sessions created (or claimed) on this
socket go back on it. When the socket closes, its sessions are destroyed.

Per connection, at most ``ws_max_inflight`` requests are processed at once (more get a
Janus error 429 at once) and at most ``ws_max_pending_events`` messages wait to be written: a
client that stops reading is disconnected (close code 1008) instead of growing the gateway's
memory; its sessions then wait to be claimed or end, as when any socket closes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from gateway import errors as E
from gateway.core import Gateway

log = logging.getLogger("gateway.ws")

GATEWAY_KEY = web.AppKey("gateway", Gateway)
MAX_MESSAGE_KEY = web.AppKey("max_message_bytes", int)


class WebSocketTransport:
    kind = "websocket"

    def __init__(self, ws: web.WebSocketResponse, max_pending: int = 0,
                 on_overflow: Any = None) -> None:
        self.ws = ws
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.max_pending = max_pending
        self.overflowed = False
        self._on_overflow = on_overflow
        self._closing: asyncio.Future[Any] | None = None

    def deliver(self, message: dict[str, Any]) -> bool:
        if self.ws.closed or self.overflowed:
            return False
        if self.max_pending and self.outbox.qsize() >= self.max_pending:
            self.overflowed = True
            log.warning("websocket closed: the client does not read its events",
                        extra={"pending": self.outbox.qsize()})
            if self._on_overflow is not None:
                self._on_overflow()
            self.outbox.put_nowait(None)
            self._closing = asyncio.ensure_future(self.ws.close(
                code=WSCloseCode.POLICY_VIOLATION,
                message=b"too many unread events: the client stopped reading"))
            return False
        self.outbox.put_nowait(json.dumps(message))
        return True

    async def close(self, reason: str) -> None:
        """Close with 1001 (going away): the client reconnects through the balancer."""
        self.outbox.put_nowait(None)
        if not self.ws.closed:
            await self.ws.close(code=1001, message=reason[:120].encode())

    async def writer(self) -> None:
        while True:
            text = await self.outbox.get()
            if text is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return


def _error(code: int, reason: str, tx: Any = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"janus": "error"}
    if tx is not None:
        msg["transaction"] = tx
    msg["error"] = {"code": code, "reason": reason}
    return msg


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY_KEY]
    max_size = request.app[MAX_MESSAGE_KEY]
    if not gateway.accepting_sessions:
        # a draining node: 503 before the upgrade, so nginx tries the next node
        return web.json_response({"error": {"status": 503, "message": "node draining"}},
                                 status=503, headers={"Retry-After": "5"})
    ws = web.WebSocketResponse(protocols=("janus-protocol", "janus-admin-protocol"),
                               heartbeat=30, max_msg_size=max_size)
    await ws.prepare(request)
    limits = gateway.limits

    def overflow() -> None:
        gateway.metrics.slow_connections_closed += 1

    transport = WebSocketTransport(ws, limits.ws_max_pending_events, overflow)
    writer = asyncio.create_task(transport.writer())
    tasks: set[asyncio.Task[Any]] = set()
    try:
        async for frame in ws:
            if frame.type == WSMsgType.TEXT:
                data = frame.data
            elif frame.type == WSMsgType.BINARY:
                data = frame.data.decode("utf-8", "replace")
            else:
                break
            try:
                msg = json.loads(data)
            except (json.JSONDecodeError, ValueError) as exc:
                transport.deliver(_error(E.INVALID_JSON, f"Invalid Janus API request - {exc}"))
                continue
            if limits.over(limits.ws_max_inflight, len(tasks)):
                gateway.metrics.limit_refusals += 1
                tx = msg.get("transaction") if isinstance(msg, dict) else None
                transport.deliver(_error(
                    E.LIMIT_REACHED, f"too many requests in progress on this connection (at "
                                     f"most {limits.ws_max_inflight}); wait for replies", tx))
                continue
            task = asyncio.create_task(gateway.process(msg, transport,
                                                       reply=transport.deliver))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if ws.exception() is not None:
            log.info("websocket error", extra={"error": str(ws.exception())})
    finally:
        if ws.close_code == 1009:
            log.info("websocket closed: message too big")
        await gateway.transport_gone(transport)
        transport.outbox.put_nowait(None)
        writer.cancel()
    return ws
