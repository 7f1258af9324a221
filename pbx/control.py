"""HTTP control API used by the gateway and the CLI (bearer secret from ``pbx_control.key``).

``POST /control/webphone/login|logout|release-node``, ``GET /control/registrations``,
``GET /control/calls``, ``GET /control/stats`` (SIP and media counters),
``GET /control/mdflow/config|stats``, ``POST /control/mdflow/reload``,
``POST /control/mdflow/debug`` (``{"on": bool}``); live groups for FONBO:
``GET /control/queues/{id}/live`` (waiting callers, members' live states),
``POST /control/queues/{id}/move`` (``{"call_id", "to_queue_id"}``, «Mover Cola»),
``POST /control/queues/wake`` (``{"queue_id"?}``: members changed, look again);
``GET /control/conferences`` (rooms in progress), ``POST /control/recording`` (start or stop a
call's recording: ``{"action": "start"|"stop", "call_id" | "extension", "user_id", "admin"}``,
for FONBO).

Between hosts the key must not travel in clear: serve the port over TLS (``tls_cert_file``,
``tls_key_file``) or keep the API on the Unix socket (``unix_socket`` with
``control_listen = unix``: then the HTTP port answers 403 to ``/control/``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from webfon.clientip import peer_address
from webfon.config import ConfigError
from webfon.control_key import check_bearer
from webfon.http import json_error, read_json

from .recording.service import RecordingError
from .webphone import CAUSE_NODE_LOST, WebphoneError

log = logging.getLogger("pbx.control")

CORE_KEY: web.AppKey[Any] = web.AppKey("pbx_core", object)
CONTROL_SECRET_KEY = web.AppKey("pbx_control_secret", str)
CONTROL_UNIX_ONLY_KEY = web.AppKey("pbx_control_unix_only", bool)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def control_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/control/"):
        if request.app.get(CONTROL_UNIX_ONLY_KEY, False) and peer_address(request) != "":
            return json_error(403, "the control API answers on the PBX's Unix socket only "
                                   "(control_listen = unix)")
        secret = request.app.get(CONTROL_SECRET_KEY, "")
        if not secret or not check_bearer(request.headers.get("Authorization"), secret):
            return json_error(401, "missing or wrong control credentials")
    return await handler(request)


def _int_field(body: Any, name: str) -> int:
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason="body must be a JSON object")
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise web.HTTPBadRequest(reason=f"{name} must be an integer")
    return value


def _core(request: web.Request) -> Any:
    core = request.app.get(CORE_KEY)
    if core is None:
        raise web.HTTPServiceUnavailable(reason="PBX starting")
    return core


async def webphone_login(request: web.Request) -> web.Response:
    body = await read_json(request)
    user_id, node_id = _int_field(body, "user_id"), _int_field(body, "node_id")
    try:
        result = await _core(request).webphones.login(user_id, node_id)
    except WebphoneError as exc:
        return json_error(exc.status, exc.reason)
    log.info("webphone login", extra={"user_id": user_id, "node_id": node_id,
                                      "extension": result.extension, "mode": result.mode})
    return web.json_response(result.as_dict())


async def webphone_logout(request: web.Request) -> web.Response:
    body = await read_json(request)
    user_id = _int_field(body, "user_id")
    # with node_id: only while the session is still that node's (see pbx.webphone)
    node_id = _int_field(body, "node_id") if body.get("node_id") is not None else None
    found = await _core(request).webphones.logout(user_id, node_id=node_id)
    log.info("webphone logout", extra={"user_id": user_id, "node_id": node_id,
                                       "found": found})
    return web.json_response({"ok": True, "was_logged_in": found})


async def release_node(request: web.Request) -> web.Response:
    body = await read_json(request)
    node_id = _int_field(body, "node_id")
    # a node releases at start what a previous process of it left behind: that one died
    released = await _core(request).webphones.release_node(node_id, cause=CAUSE_NODE_LOST)
    log.info("webphone node released", extra={"node_id": node_id, "released": released})
    return web.json_response({"released": released})


async def registrations(request: web.Request) -> web.Response:
    bindings = await _core(request).location.all()
    return web.json_response([b.as_dict() for b in bindings])


async def calls(request: web.Request) -> web.Response:
    return web.json_response(_core(request).call_list())


async def stats(request: web.Request) -> web.Response:
    engine = _core(request).engine
    return web.json_response(engine.stats_snapshot() if engine is not None else {})


async def mdflow_config(request: web.Request) -> web.Response:
    return web.json_response(_core(request).mdflow.show_config())


async def mdflow_stats(request: web.Request) -> web.Response:
    return web.json_response(_core(request).mdflow.show_stats())


async def mdflow_reload(request: web.Request) -> web.Response:
    md = _core(request).mdflow
    try:
        md.reload()
    except ConfigError as exc:
        return json_error(400, f"MDflow.conf not reloaded: {exc}")
    except OSError as exc:
        return json_error(400, f"MDflow.conf not readable: {exc.strerror}")
    return web.json_response(md.show_config())


async def mdflow_debug(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("on"), bool):
        return json_error(400, "body must be {\"on\": true|false}")
    _core(request).mdflow.debug = body["on"]
    return web.json_response({"debug": body["on"]})


def _queue_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(reason="no such queue") from None


def _engine(request: web.Request) -> Any:
    engine = _core(request).engine
    if engine is None:
        raise web.HTTPServiceUnavailable(reason="PBX starting")
    return engine


async def queue_live(request: web.Request) -> web.Response:
    status = await _engine(request).queue_status(_queue_id(request))
    if status is None:
        return json_error(404, "no such queue")
    return web.json_response(status)


async def queue_move(request: web.Request) -> web.Response:
    body = await read_json(request)
    to_queue = _int_field(body, "to_queue_id")
    call_id = body.get("call_id") if isinstance(body, dict) else None
    if not isinstance(call_id, str) or not call_id or len(call_id) > 255:
        return json_error(400, "call_id must be a non-empty string")
    engine = _engine(request)
    from_queue = _queue_id(request)
    if from_queue == to_queue:
        return json_error(422, "the call already waits in that queue")
    if await engine.core.directory.queue(to_queue) is None:
        return json_error(404, "no such target queue")
    if not engine.move_waiting_call(call_id, from_queue, to_queue):
        return json_error(404, "that call is not waiting in this queue")
    log.info("waiting call moved", extra={"call_id": call_id, "from": from_queue,
                                          "to": to_queue})
    return web.json_response({"moved": True})


async def queue_wake(request: web.Request) -> web.Response:
    body = await read_json(request) if request.can_read_body else {}
    queue_id = body.get("queue_id") if isinstance(body, dict) else None
    if queue_id is not None and (not isinstance(queue_id, int) or isinstance(queue_id, bool)):
        return json_error(400, "queue_id must be an integer")
    _engine(request).wake_queues(queue_id)
    return web.json_response({"ok": True})


async def conferences(request: web.Request) -> web.Response:
    engine = _core(request).engine
    return web.json_response(engine.conferences.listing() if engine is not None else [])


async def recording(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        return json_error(400, "body must be a JSON object")
    user_id = _int_field(body, "user_id")
    action, admin = body.get("action"), body.get("admin", False)
    call_id, extension = body.get("call_id"), body.get("extension")
    if not isinstance(admin, bool) or not isinstance(action, str) \
            or not all(v is None or (isinstance(v, str) and 0 < len(v) <= 255)
                       for v in (call_id, extension)):
        return json_error(400, "action, call_id and extension must be strings, admin a boolean")
    engine = _core(request).engine
    if engine is None:
        return json_error(503, "PBX starting")
    try:
        result = await engine.recordings.control(action, user_id=user_id, admin=admin,
                                                 call_id=call_id, extension=extension)
    except RecordingError as exc:
        return json_error(exc.status, exc.reason)
    log.info("recording control", extra={"user_id": user_id, "action": action,
                                         "call_id": result["call_id"]})
    return web.json_response(result)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/control/webphone/login", webphone_login)
    app.router.add_post("/control/webphone/logout", webphone_logout)
    app.router.add_post("/control/webphone/release-node", release_node)
    app.router.add_get("/control/registrations", registrations)
    app.router.add_get("/control/calls", calls)
    app.router.add_get("/control/stats", stats)
    app.router.add_get("/control/mdflow/config", mdflow_config)
    app.router.add_get("/control/mdflow/stats", mdflow_stats)
    app.router.add_post("/control/mdflow/reload", mdflow_reload)
    app.router.add_post("/control/mdflow/debug", mdflow_debug)
    app.router.add_get("/control/queues/{id}/live", queue_live)
    app.router.add_post("/control/queues/{id}/move", queue_move)
    app.router.add_post("/control/queues/wake", queue_wake)
    app.router.add_get("/control/conferences", conferences)
    app.router.add_post("/control/recording", recording)
