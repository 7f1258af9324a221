"""Reverse proxy for one upstream: plain HTTP (streamed both ways) and WebSocket relay.

The client address goes upstream in ``X-Forwarded-For``, resolved here from the peer and what
a configured proxy in front says (never what anyone else says); one that came through an
unconfigured proxy is marked unverified (see :func:`forwarded_headers`). An upstream that
cannot be reached gives a 502 JSON error; one that does not answer in time gives a 504.

Only paths under the route's own prefix are passed on: a path with a dot segment (``/janus/../
metrics``, also percent-encoded), an encoded slash or a backslash is refused with 400 before
anything is sent, because the upstream would resolve it to a path outside that prefix (its
``/metrics`` or ``/admin``, or another service's API).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import unquote

import aiohttp
from aiohttp import WSMsgType, web

from webfon.clientip import (
    CLIENT_HEADER,
    FORWARDING_HEADERS,
    UNVERIFIED,
    TrustedProxies,
    client_address,
    note_unverified,
    peer_address,
)
from webfon.http import json_error
from webfon.service_url import ServiceUrl

log = logging.getLogger("launcher.front.proxy")

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "host", "content-length",
}
STRIPPED = {h.lower() for h in FORWARDING_HEADERS}
WS_HANDSHAKE = {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                "sec-websocket-protocol", "sec-websocket-accept"}


_DOT_SEGMENTS = {".", ".."}


def unsafe_path(raw_path: str) -> str | None:
    """Why ``raw_path`` (as sent, still percent-encoded) may not be proxied, or None."""
    lowered = raw_path.lower()
    if "\\" in raw_path or "%5c" in lowered:
        return "backslash in path"
    if "%2f" in lowered:
        return "encoded slash in path"
    if "%00" in lowered or "\x00" in raw_path:
        return "NUL in path"
    for segment in raw_path.split("/"):
        if unquote(segment) in _DOT_SEGMENTS:
            return "dot segment in path"
    return None


def forwarded_headers(request: web.Request,
                      proxies: TrustedProxies = TrustedProxies()) -> dict[str, str]:
    """Request headers to pass upstream, with the client's address in ``X-Forwarded-For``.

    The client is resolved here (:mod:`webfon.clientip`: the peer, or what a configured proxy
    in front says) and only that address goes on, so the next hop needs to trust just this
    front. A request that came through a proxy nobody configured is passed on marked
    ``X-Webfon-Client: unverified``: its address is that proxy's, never the client's."""
    headers = {k: v for k, v in request.headers.items()
               if k.lower() not in HOP_BY_HOP and k.lower() not in WS_HANDSHAKE
               and k.lower() not in STRIPPED and not k.lower().startswith("x-forwarded-")}
    client = client_address(request, proxies)
    if client.ip is not None:
        headers["X-Forwarded-For"] = str(client.ip)
    if not client.verified:
        headers[CLIENT_HEADER] = UNVERIFIED
        if client.ip is not None:
            note_unverified(log, client, request.path)
    trusted = client.verified and proxies.trusts(peer_address(request))
    proto = request.headers.get("X-Forwarded-Proto", "") if trusted else ""
    host = request.headers.get("X-Forwarded-Host", "") if trusted else ""
    headers["X-Forwarded-Proto"] = proto or request.scheme
    headers["X-Forwarded-Host"] = host or request.host
    return headers


class Upstream:
    """One upstream service reached through a shared client session."""

    def __init__(self, name: str, base_url: str, session: aiohttp.ClientSession,
                 timeout_s: float, connect_timeout_s: float,
                 proxies: TrustedProxies = TrustedProxies(),
                 max_ws_message_bytes: int = 0) -> None:
        self.name = name
        target = ServiceUrl.parse(base_url)
        self.base_url = target.base
        self.ws_base = target.ws_base
        self.max_ws_message_bytes = max_ws_message_bytes
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s,
                                             sock_read=timeout_s)
        self.connect_timeout_s = connect_timeout_s
        self.proxies = proxies

    async def handle(self, request: web.Request) -> web.StreamResponse:
        problem = unsafe_path(request.raw_path)
        if problem is not None:
            log.warning("path refused", extra={"upstream": self.name, "problem": problem,
                                               "path": request.raw_path[:200]})
            return json_error(400, f"{problem}: not allowed")
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
                autoping=True, heartbeat=None, max_msg_size=self.max_ws_message_bytes,
                compress=0)
        except aiohttp.WSServerHandshakeError as exc:
            return json_error(exc.status if exc.status >= 400 else 502,
                              f"{self.name} refused the WebSocket")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("upstream unreachable", extra={"upstream": self.name,
                                                       "path": request.path, "error": str(exc)})
            return json_error(502, f"{self.name} is not reachable")
        chosen = [upstream.protocol] if upstream.protocol else []
        client = web.WebSocketResponse(protocols=chosen, autoping=True,
                                       max_msg_size=self.max_ws_message_bytes)
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
