"""aiohttp building blocks every component's HTTP API uses.

``create_app`` gives an application with ``GET /healthz``, a body size limit, JSON errors for
every failure (a 500 is logged with its traceback and answered with a request id, never the
traceback itself; the store being unreachable is a 503 that says so) and one access log line
per request.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from webfon.store.base import StoreError

log = logging.getLogger("webfon.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
COMPONENT_KEY = web.AppKey("component", str)
STARTED_KEY = web.AppKey("started_at", float)
# optional: what the component says about its own health; a "status" other than "ok" (such
# as "draining") makes /healthz answer 503, so balancers and supervisors stop sending to it
HEALTH_KEY = web.AppKey("health", Callable[[], dict[str, Any]])


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": {"status": status, "message": message, **extra}},
                             status=status)


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or a 400/413 with a message saying what is wrong."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise
    if not raw:
        raise web.HTTPBadRequest(text=json.dumps({"error": {"status": 400,
                                                            "message": "empty body"}}),
                                 content_type="application/json")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": {"status": 400, "message": f"invalid JSON: {exc}"}}),
            content_type="application/json") from None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        if exc.status >= 400 and exc.content_type != "application/json":
            reason = exc.text if exc.text and exc.text != f"{exc.status}: {exc.reason}" else (
                exc.reason)
            if exc.status == 413:
                reason = "request body too large"
            return json_error(exc.status, reason or "error")
        raise
    except StoreError as exc:
        # the database restarting or unreachable: say so, and that trying again will do
        status = 503
        log.error("store unavailable", extra={"path": request.path, "error": str(exc)})
        response = json_error(503, "the database is unavailable; try again in a moment")
        response.headers["Retry-After"] = "5"
        return response
    except Exception:
        request_id = secrets.token_hex(6)
        log.exception("unhandled error", extra={"path": request.path, "request_id": request_id})
        return json_error(500, "internal error", request_id=request_id)
    finally:
        if request.path != "/healthz":
            log.info("request", extra={"method": request.method, "path": request.path,
                                       "status": status, "remote": request.remote,
                                       "ms": round((time.perf_counter() - started) * 1000, 2)})


async def healthz(request: web.Request) -> web.Response:
    app = request.app
    body: dict[str, Any] = {"status": "ok", "component": app[COMPONENT_KEY],
                            "uptime_s": round(time.time() - app[STARTED_KEY], 1)}
    check = app.get(HEALTH_KEY)
    if check is not None:
        body.update(check())
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)


def create_app(component: str, max_body_bytes: int = 1_048_576,
               middlewares: list[Any] | None = None) -> web.Application:
    app = web.Application(client_max_size=max_body_bytes,
                          middlewares=[error_middleware, *(middlewares or [])])
    app[COMPONENT_KEY] = component
    app[STARTED_KEY] = time.time()
    app.router.add_get("/healthz", healthz)
    return app
