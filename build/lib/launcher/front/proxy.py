"""Reverse proxy for one upstream: plain HTTP (streamed both ways) and WebSocket relay.

The client address goes upstream in ``X-Forwarded-For`` (sercen trusts the loopback proxy and
reads that header right to left); a header sent by a client that is not a trusted proxy is
replaced, never extended. An upstream that cannot be reached gives a 502 JSON error;
one that does not answer in time gives a 504.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Sequence
from urllib.parse import urlparse

import aiohttp
from aiohttp import WSMsgType, web

from launcher.front.settings import IPNetwork
from webfon.http import json_error

log = logging.getLogger("launcher.front.proxy")

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "host", "content-length",
}
WS_HANDSHAKE = {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                "sec-websocket-protocol", "sec-websocket-accept"}


def _trusted(remote: str, proxies: Sequence[IPNetwork]) -> bool:
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(address in net for net in proxies)


def forwarded_headers(request: web.Request,
                      proxies: Sequence[IPNetwork] = ()) -> dict[str, str]:
    """Request headers to pass upstream, with the X-Forwarded-* set.

    The peer is appended to ``X-Forwarded-For`` when it is a trusted proxy; otherwise the
    header the client sent is dropped and only the peer address is passed on.
    """
    headers = {k: v for k, v in request.headers.items()
               if k.lower() not in HOP_BY_HOP and k.lower() not in WS_HANDSHAKE
               and not k.lower().startswith("x-forwarded-")}
    remote = request.remote or ""
    trusted = _trusted(remote, proxies)
    previous = request.headers.get("X-Forwarded-For", "").strip() if trusted else ""
    if remote:
        headers["X-Forwarded-For"] = f"{previous}, {remote}" if previous else remote
    proto = request.headers.get("X-Forwarded-Proto", "") if trusted else ""
    host = request.headers.get("X-Forwarded-Host", "") if trusted else ""
    headers["X-Forwarded-Proto"] = proto or request.scheme
    headers["X-Forwarded-Host"] = host or request.host
    return headers


class Upstream:
    """One upstream service reached through a shared client session."""

    def __init__(self, name: str, base_url: str, session: aiohttp.ClientSession,
                 timeout_s: float, connect_timeout_s: float,
                 proxies: Sequence[IPNetwork] = ()) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        parsed = urlparse(self.base_url)
        self.ws_base = ("wss" if parsed.scheme == "https" else "ws") + self.base_url[
            len(parsed.scheme):]
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s,
                                             sock_read=timeout_s)
        self.connect_timeout_s = connect_timeout_s
        self.proxies = tuple(proxies)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if (request.headers.get("Upgrade", "").lower() == "websocket"
                and request.method == "GET"):
            return await self.relay_websocket(request)
        return await self.relay_http(request)

    # --- HTTP -------------------------------------------------------------------------------
    async def relay_http(self, request: web.Request) -> web.StreamResponse:
        url = self.base_url + request.rel_url.raw_path_qs
        body = await request.read() if request.body_exists else None
        try:
            upstream = await self.session.request(
                request.method, url, headers=forwarded_headers(request, self.proxies), data=body,
                allow_redirects=False, timeout=self.timeout, auto_decompress=False)
        except TimeoutError:
            log.warning("upstream timeout", extra={"upstream": self.name, "path": request.path})
            return json_error(504, f"{self.name} did not answer in time")
        except aiohttp.ClientError as exc:
            log.warning("upstream unreachable", extra={"upstream": self.name,
                                                       "path": request.path, "error": str(exc)})
            return json_error(502, f"{self.name} is not reachable")
        async with upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in HOP_BY_HOP:
                    response.headers.add(key, value)
            if upstream.content_length is not None and "Content-Encoding" not in (
                    upstream.headers):
                response.content_length = upstream.content_length
            elif upstream.content_length is not None:
                response.headers["Content-Length"] = str(upstream.content_length)
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("upstream stream broken", extra={"upstream": self.name,
                                                             "error": str(exc)})
                return response
            await response.write_eof()
            return response

    # --- WebSocket --------------------------------------------------------------------------
    async def relay_websocket(self, request: web.Request) -> web.StreamResponse:
        url = self.ws_base + request.rel_url.raw_path_qs
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
                   if p.strip()]
        try:
            upstream = await self.session.ws_connect(
                url, protocols=offered, headers=forwarded_headers(request, self.proxies),
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
                autoping=True, heartbeat=None, max_msg_size=0, compress=0)
        except aiohttp.WSServerHandshakeError as exc:
            return json_error(exc.status if exc.status >= 400 else 502,
                              f"{self.name} refused the WebSocket")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("upstream unreachable", extra={"upstream": self.name,
                                                       "path": request.path, "error": str(exc)})
            return json_error(502, f"{self.name} is not reachable")
        chosen = [upstream.protocol] if upstream.protocol else []
        client = web.WebSocketResponse(protocols=chosen, autoping=True, max_msg_size=0)
        try:
            await client.prepare(request)
        except Exception:
            await upstream.close()
            raise
        log.info("websocket relay open", extra={"upstream": self.name, "path": request.path,
                                                "protocol": upstream.protocol or ""})

        async def pump(source: object, sink: object) -> None:
            async for msg in source:  # type: ignore[attr-defined]
                if msg.type == WSMsgType.TEXT:
                    await sink.send_str(msg.data)  # type: ignore[attr-defined]
                elif msg.type == WSMsgType.BINARY:
                    await sink.send_bytes(msg.data)  # type: ignore[attr-defined]
                else:
                    break

        tasks = [asyncio.create_task(pump(client, upstream)),
                 asyncio.create_task(pump(upstream, client))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            code = upstream.close_code or client.close_code or 1000
            with contextlib.suppress(Exception):
                await upstream.close()
            with contextlib.suppress(Exception):
                await client.close(code=code if 1000 <= code < 5000 else 1000)
            log.info("websocket relay closed", extra={"upstream": self.name,
                                                      "path": request.path})
        return client
