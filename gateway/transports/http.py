"""Janus API over HTTP: ``POST /janus[/<session>[/<handle>]]`` and long-poll ``GET``.

``GET /janus/<session>?maxev=N`` waits up to 30 s for the session's events and answers with
one event (or a list when ``maxev`` > 1), or ``{"janus": "keepalive"}`` when nothing came.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway import errors as E
from gateway.transports.websocket import GATEWAY_KEY

LONG_POLL_S = 30.0


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _error(code: int, reason: str, tx: Any = None) -> web.Response:
    body: dict[str, Any] = {"janus": "error"}
    if tx is not None:
        body["transaction"] = tx
    body["error"] = {"code": code, "reason": reason}
    return web.json_response(body)


async def post(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY_KEY]
    session_id = handle_id = None
    if "session" in request.match_info:
        session_id = _int(request.match_info["session"])
        if session_id is None:
            return _error(E.INVALID_REQUEST_PATH, "Invalid session in path")
    if "handle" in request.match_info:
        handle_id = _int(request.match_info["handle"])
        if handle_id is None:
            return _error(E.INVALID_REQUEST_PATH, "Invalid handle in path")
    raw = await request.read()
    try:
        msg = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _error(E.INVALID_JSON, f"Invalid Janus API request - {exc}")
    if msg is None:
        return _error(E.MISSING_REQUEST, "Missing request")
    result = await gateway.process(msg, None, path_session=session_id, path_handle=handle_id)
    return web.json_response(result)


async def long_poll(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY_KEY]
    session_id = _int(request.match_info["session"])
    session = gateway.sessions.get(session_id) if session_id is not None else None
    if session is None:
        return _error(E.SESSION_NOT_FOUND, f"No such session {request.match_info['session']}")
    maxev = _int(request.query.get("maxev", "1")) or 1
    maxev = max(1, min(maxev, 100))
    session.touch()
    events = await session.poll(maxev, LONG_POLL_S)
    session.touch()
    if not events:
        return web.json_response({"janus": "keepalive"})
    if maxev == 1:
        return web.json_response(events[0])
    return web.json_response(events)


async def info(request: web.Request) -> web.Response:
    return web.json_response(request.app[GATEWAY_KEY]._info(request.query.get("transaction",
                                                                               "info")))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/janus", post)
    app.router.add_post("/janus/{session}", post)
    app.router.add_post("/janus/{session}/{handle}", post)
    app.router.add_get("/janus/info", info)
    app.router.add_get("/janus/{session}", long_poll)
