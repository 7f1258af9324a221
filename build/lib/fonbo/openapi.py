"""The OpenAPI 3 document, generated from the same operation table that routes requests."""

from __future__ import annotations

from typing import Any

from fonbo.api import Operation
from fonbo.schema import Schema

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["status", "message"],
    "properties": {"status": {"type": "integer"}, "message": {"type": "string"},
                   "errors": {"type": "array", "items": {"type": "object"}}}}}}


def clean(schema: Any) -> Any:
    """Drop the ``x-`` keys only this server reads (custom messages, required markers)."""
    if isinstance(schema, dict):
        return {k: clean(v) for k, v in schema.items() if not k.startswith("x-")}
    if isinstance(schema, list):
        return [clean(v) for v in schema]
    return schema


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _operation(op: Operation) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": clean(schema)}
        for name, schema in op.path_params.items()]
    params += [{"name": name, "in": "query", "required": bool(schema.get("x-required")),
                "schema": clean(schema)} for name, schema in op.query.items()]
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary,
                           "tags": [op.tag]}
    if op.description:
        out["description"] = op.description
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": clean(op.body)}}}
    elif op.raw_body:
        out["requestBody"] = {"required": True, "content": {
            media: {"schema": clean(schema)} for media, schema in op.raw_body.items()}}
    responses: dict[str, Any] = {}
    for status, resp in sorted(op.responses.items()):
        if status >= 400:
            responses[str(status)] = _error(resp.description)
            continue
        entry: dict[str, Any] = {"description": resp.description}
        if resp.media:
            entry["content"] = {resp.media: {"schema": clean(resp.schema or {})}}
        responses[str(status)] = entry
    if params or op.body is not None or op.raw_body:
        responses.setdefault("400", _error("Bad input (the message says which field)"))
    if op.body is not None or op.raw_body:
        responses.setdefault("413", _error("Body too large"))
    if op.path_params:
        responses.setdefault("404", _error("Not found (or not yours)"))
    if op.auth != "none":
        responses.setdefault("401", _error("Missing, invalid, expired or revoked token"))
        out["security"] = [{"bearerAuth": []}]
        if op.auth == "media":
            out["security"].append({"mediaTicket": []})
    if op.auth == "admin":
        responses.setdefault("403", _error("Needs the admin role"))
    if op.body is not None or op.raw_body:
        responses.setdefault("409", _error("Conflicts with existing data"))
        responses.setdefault("422", _error("Refused, with the reason"))
    out["responses"] = responses
    return out


def build_spec(operations: list[Operation], version: str = "1.0.0") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    schemas: dict[str, Schema] = {"Error": ERROR}
    return {
        "openapi": "3.0.3",
        "info": {"title": "FONBO portal API", "version": version,
                 "description": "Agenda, call history, voicemail, forwarding, my phones, smart "
                                "buttons, personalisation and the admin API of webfon. "
                                "Realtime events: Socket.IO at /socket.io (auth: "
                                "{token}). Every error is {\"error\": {status, message}}."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "mediaTicket": {"type": "apiKey", "in": "query", "name": "ticket"}}},
    }
