"""Route registry: each operation carries its schemas, so one table drives routing, input
checks, authorization and the OpenAPI document.

Handlers take a :class:`Ctx` (checked path/query/body, the caller's claims, the store) and
return an aiohttp response. Errors are raised with :func:`fail` and reach the client as
``{"error": {"status", "message", ...}}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from aiohttp import web

from fonbo.auth import authenticate
from fonbo.errors import integrity_message
from fonbo.keys import BUS_KEY, SETTINGS_KEY, STORE_KEY
from fonbo.schema import Schema, SchemaError, parse_param, validate
from fonbo.settings import FonboSettings
from webfon.bus import Bus
from webfon.http import read_json
from webfon.logsetup import bind
from webfon.store import Store
from webfon.store.base import IntegrityError
from webfon.tokens import Claims

log = logging.getLogger("fonbo.api")

_ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden,
    404: web.HTTPNotFound, 409: web.HTTPConflict, 413: web.HTTPRequestEntityTooLarge,
    415: web.HTTPUnsupportedMediaType, 416: web.HTTPRequestRangeNotSatisfiable,
    422: web.HTTPUnprocessableEntity, 503: web.HTTPServiceUnavailable,
}


def fail(status: int, message: str, headers: dict[str, str] | None = None,
         **extra: Any) -> NoReturn:
    """Stop the request with a JSON error."""
    body = json.dumps({"error": {"status": status, "message": message, **extra}})
    cls = _ERRORS.get(status, web.HTTPBadRequest)
    if cls is web.HTTPRequestEntityTooLarge:
        raise web.HTTPRequestEntityTooLarge(0, 0, text=body, content_type="application/json")
    raise cls(text=body, content_type="application/json", headers=headers)


def not_found(what: str = "not found") -> NoReturn:
    fail(404, what)


@dataclass
class Ctx:
    request: web.Request
    claims: Claims | None
    path: dict[str, Any]
    query: dict[str, Any]
    body: Any

    @property
    def user_id(self) -> int:
        assert self.claims is not None
        return self.claims.user_id

    @property
    def is_admin(self) -> bool:
        return self.claims is not None and self.claims.has_role("admin")

    @property
    def store(self) -> Store:
        return self.request.app[STORE_KEY]

    @property
    def settings(self) -> FonboSettings:
        return self.request.app[SETTINGS_KEY]

    @property
    def bus(self) -> Bus:
        return self.request.app[BUS_KEY]

    @property
    def app(self) -> web.Application:
        return self.request.app


Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]


@dataclass
class Response:
    description: str
    schema: Schema | None = None
    media: str = "application/json"


@dataclass
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    auth: str = "user"  # none | user | admin | media (bearer header or media ticket)
    query: dict[str, Schema] = field(default_factory=dict)
    path_params: dict[str, Schema] = field(default_factory=dict)
    body: Schema | None = None
    raw_body: dict[str, Schema] | None = None  # media type -> schema for non-JSON bodies
    responses: dict[int, Response] = field(default_factory=dict)
    description: str = ""

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


class Api:
    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def op(self, method: str, path: str, *, summary: str, tag: str, auth: str = "user",
           query: dict[str, Schema] | None = None, path_params: dict[str, Schema] | None = None,
           body: Schema | None = None, raw_body: dict[str, Schema] | None = None,
           responses: dict[int, Response] | None = None,
           description: str = "") -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            self.operations.append(Operation(
                method=method, path=path, handler=handler, summary=summary, tag=tag, auth=auth,
                query=query or {}, path_params=path_params or {}, body=body, raw_body=raw_body,
                responses=responses or {200: Response("OK")}, description=description))
            return handler
        return decorator

    def extend(self, other: Api) -> None:
        self.operations.extend(other.operations)

    def register(self, app: web.Application) -> None:
        ops = sorted(self.operations, key=lambda o: ("{" in o.path, o.path))
        for op in ops:
            app.router.add_route(op.method, op.path, _wrap(op))


def _wrap(op: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        claims = await authenticate(request, op.auth)
        try:
            path = {name: parse_param(schema, request.match_info[name], name)
                    for name, schema in op.path_params.items()}
            query: dict[str, Any] = {}
            for name, schema in op.query.items():
                if name not in request.query and schema.get("x-required"):
                    fail(400, f"{name}: is required")
                if name in request.query:
                    values = request.query.getall(name)
                    if len(values) > 1:
                        fail(400, f"{name}: given more than once")
                    query[name] = parse_param(schema, values[0], name)
            body = None
            if op.body is not None:
                body = validate(op.body, await read_json(request))
        except SchemaError as exc:
            status = 404 if any(n in op.path_params for n, _ in exc.errors) else 400
            fail(status, str(exc), errors=[{"field": f, "message": m} for f, m in exc.errors])
        try:
            with bind(user_id=claims.user_id if claims is not None else None,
                      operation=op.operation_id):
                return await op.handler(Ctx(request, claims, path, query, body))
        except SchemaError as exc:
            fail(422, str(exc), errors=[{"field": f, "message": m} for f, m in exc.errors])
        except IntegrityError as exc:
            log.info("refused by a constraint", extra={"path": request.path,
                                                       "reason": str(exc)[:200]})
            fail(409, integrity_message(str(exc)))

    handler.__name__ = op.operation_id
    return handler


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    return web.json_response(data, status=status, headers=headers)
