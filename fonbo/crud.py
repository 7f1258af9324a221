"""Admin resources described as data: one :class:`Resource` gives list/create/read/update/
delete operations with their schemas, numbering bookkeeping, validation hooks and an audit
trail.

Numbered resources (users, extensions, queues) reserve their number in ``numbering`` in the
same transaction as the row, so a number can never belong to two things; a clash comes back
as 409 with the holder's kind.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response, not_found
from fonbo.repo.util import bools, insert_row, like_pattern, update_row
from fonbo.routes.events import publish_change
from fonbo.schema import ID, Schema, array, integer, obj, string
from webfon.store.base import Executor, IntegrityError, Row

Hook = Callable[[Ctx, Executor, dict[str, Any], Row | None], Awaitable[None]]
AfterHook = Callable[[Ctx, Executor, int, dict[str, Any], Row | None], Awaitable[None]]
Transform = Callable[[dict[str, Any]], dict[str, Any]]
Changed = Callable[[Ctx, Any, Row | None, Row | None, dict[str, Any]], Awaitable[None]]


@dataclass
class Resource:
    name: str
    table: str
    fields: dict[str, Schema]
    required: tuple[str, ...] = ()
    create_only: tuple[str, ...] = ()
    write_only: dict[str, Schema] = field(default_factory=dict)
    extra_out: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    booleans: tuple[str, ...] = ()
    number_kind: str | None = None
    number_column: str = "number"
    search: tuple[str, ...] = ("name",)
    order_by: str = "id"
    validate: Hook | None = None
    transform: Transform | None = None
    after_create: AfterHook | None = None
    after_update: AfterHook | None = None
    before_delete: Hook | None = None
    # after the commit of an update or delete: (ctx, id, row before, row after or None, body)
    on_change: Changed | None = None
    create_defaults: Callable[[], dict[str, Any]] | None = None
    summary: str = ""

    @property
    def out_columns(self) -> list[str]:
        return ["id", *self.fields, *self.extra_out]

    @property
    def out_schema(self) -> Schema:
        props = {"id": ID}
        for name, schema in self.fields.items():
            props[name] = ({"type": "boolean"} if name in self.booleans
                           else {k: v for k, v in schema.items()
                                 if k not in ("minLength", "pattern", "x-pattern-message")})
        return obj(props, closed=False)

    def to_out(self, row: Row) -> Row:
        row = {k: v for k, v in row.items() if k not in self.hidden}
        return bools(row, *self.booleans)

    async def fetch(self, db: Executor, row_id: int) -> Row | None:
        cols = ", ".join(dict.fromkeys([*self.out_columns, *self.hidden]))
        return await db.fetchone(f"SELECT {cols} FROM {self.table} WHERE id = ?", (row_id,))


async def number_holder(db: Executor, number: str) -> str | None:
    return await db.fetchval("SELECT kind FROM numbering WHERE number = ?", (number,))


async def reserve_number(db: Executor, number: str, kind: str) -> None:
    holder = await number_holder(db, number)
    if holder is not None:
        article = "an" if holder == "extension" else "a"
        fail(409, f"number {number} is already in use by {article} {holder}")
    try:
        await db.execute("INSERT INTO numbering (number, kind) VALUES (?, ?)", (number, kind))
    except IntegrityError:
        # taken between the check and the insert by a concurrent request
        fail(409, f"number {number} is already in use")


_SECRET_WORDS = ("password", "pin", "secret", "ha1", "hash", "token")


async def audit(ctx: Ctx, db: Executor, action: str, target: str, detail: Any = None) -> None:
    actor = ctx.user_id if await db.fetchval("SELECT COUNT(*) AS n FROM users WHERE id = ?",
                                             (ctx.user_id,)) else None
    safe = {k: v for k, v in (detail or {}).items()
            if not any(word in k for word in _SECRET_WORDS)}
    await db.execute(
        "INSERT INTO audit_log (at, actor_user_id, component, action, target, detail, ip) "
        "VALUES (?, ?, 'fonbo', ?, ?, ?, ?)",
        (time.time(), actor, action, target[:255], json.dumps(safe, default=str)[:20000],
         (ctx.request.remote or "")[:64]))


def _columns(resource: Resource, body: dict[str, Any]) -> dict[str, Any]:
    data = dict(body)
    if resource.transform is not None:
        data = resource.transform(data)
    known = {*resource.fields, *resource.hidden, *resource.extra_out}
    cols = {k: v for k, v in data.items() if k in known}
    return {k: (int(v) if isinstance(v, bool) else v) for k, v in cols.items()}


def register(api: Api, resource: Resource) -> None:
    base = f"/fonbo/admin/{resource.name}"
    label = resource.summary or resource.name.replace("_", " ")
    writable = {**resource.fields, **resource.write_only}
    create_schema = obj(writable, resource.required)
    patch_schema = obj({k: v for k, v in writable.items() if k not in resource.create_only},
                       min_properties=1)
    out = resource.out_schema
    id_param = {"id": ID}

    async def list_items(ctx: Ctx) -> web.Response:
        where, params = "1 = 1", []
        q = ctx.query.get("q", "").strip()
        if q:
            pattern = like_pattern(q)
            where = "(" + " OR ".join(f"{c} LIKE ? ESCAPE '!'" for c in resource.search) + ")"
            params = [pattern] * len(resource.search)
        total = await ctx.store.fetchval(
            f"SELECT COUNT(*) AS n FROM {resource.table} WHERE {where}", params)
        cols = ", ".join(resource.out_columns)
        rows = await ctx.store.fetchall(
            f"SELECT {cols} FROM {resource.table} WHERE {where} ORDER BY {resource.order_by} "
            f"LIMIT ? OFFSET ?", [*params, ctx.query.get("limit", 100),
                                  ctx.query.get("offset", 0)])
        return json_response({"items": [resource.to_out(r) for r in rows],
                              "total": int(total or 0)})

    async def create_item(ctx: Ctx) -> web.Response:
        body = dict(ctx.body)
        async with ctx.store.transaction() as tx:
            if resource.validate is not None:
                await resource.validate(ctx, tx, body, None)
            if resource.number_kind:
                await reserve_number(tx, body[resource.number_column], resource.number_kind)
            row_in = _columns(resource, body)
            if resource.create_defaults is not None:
                row_in = {**resource.create_defaults(), **row_in}
            new_id = await insert_row(tx, resource.table, row_in)
            if resource.after_create is not None:
                await resource.after_create(ctx, tx, new_id, body, None)
            await audit(ctx, tx, f"create {resource.name}", f"{resource.name}/{new_id}", body)
            row = await resource.fetch(tx, new_id)
        await publish_change(ctx, resource.table, new_id)
        assert row is not None
        return json_response(resource.to_out(row), status=201)

    async def get_item(ctx: Ctx) -> web.Response:
        row = await resource.fetch(ctx.store, ctx.path["id"])
        if row is None:
            not_found(f"{resource.name} {ctx.path['id']} not found")
        return json_response(resource.to_out(row))

    async def update_item(ctx: Ctx) -> web.Response:
        row_id = ctx.path["id"]
        body = dict(ctx.body)
        async with ctx.store.transaction() as tx:
            current = await resource.fetch(tx, row_id)
            if current is None:
                not_found(f"{resource.name} {row_id} not found")
            if resource.validate is not None:
                await resource.validate(ctx, tx, body, current)
            old_number = current.get(resource.number_column) if resource.number_kind else None
            new_number = body.get(resource.number_column) if resource.number_kind else None
            renumber = new_number is not None and new_number != old_number
            if renumber:
                assert resource.number_kind is not None
                await reserve_number(tx, new_number, resource.number_kind)
            await update_row(tx, resource.table, {"id": row_id}, _columns(resource, body))
            if renumber:
                await tx.execute("DELETE FROM numbering WHERE number = ? AND kind = ?",
                                 (old_number, resource.number_kind))
            if resource.after_update is not None:
                await resource.after_update(ctx, tx, row_id, body, current)
            await audit(ctx, tx, f"update {resource.name}", f"{resource.name}/{row_id}", body)
            row = await resource.fetch(tx, row_id)
        await publish_change(ctx, resource.table, row_id)
        if resource.on_change is not None:
            await resource.on_change(ctx, row_id, current, row, body)
        assert row is not None
        return json_response(resource.to_out(row))

    async def delete_item(ctx: Ctx) -> web.Response:
        row_id = ctx.path["id"]
        async with ctx.store.transaction() as tx:
            current = await resource.fetch(tx, row_id)
            if current is None:
                not_found(f"{resource.name} {row_id} not found")
            if resource.before_delete is not None:
                await resource.before_delete(ctx, tx, {}, current)
            await tx.execute(f"DELETE FROM {resource.table} WHERE id = ?", (row_id,))
            if resource.number_kind:
                await tx.execute("DELETE FROM numbering WHERE number = ? AND kind = ?",
                                 (current[resource.number_column], resource.number_kind))
            await audit(ctx, tx, f"delete {resource.name}", f"{resource.name}/{row_id}")
        await publish_change(ctx, resource.table, row_id)
        if resource.on_change is not None:
            await resource.on_change(ctx, row_id, current, None, {})
        return web.Response(status=204)

    singular = resource.name.rstrip("s")
    for fn, name in ((list_items, f"admin_list_{resource.name}"),
                     (create_item, f"admin_create_{singular}"),
                     (get_item, f"admin_get_{singular}"),
                     (update_item, f"admin_update_{singular}"),
                     (delete_item, f"admin_delete_{singular}")):
        fn.__name__ = name
    api.op("GET", base, summary=f"List {label}", tag="admin", auth="admin",
           query={"q": string(100), "limit": integer(1, 1000), "offset": integer(0, 10**9)},
           responses={200: Response("Items", obj({"items": array(out),
                                                  "total": integer(0)}))})(list_items)
    api.op("POST", base, summary=f"Create one of {label}", tag="admin", auth="admin",
           body=create_schema, responses={201: Response("Created", out),
                                          409: Response("Conflicts with existing data"),
                                          422: Response("Refused, with the reason")})(create_item)
    api.op("GET", base + "/{id}", summary=f"One of {label}", tag="admin", auth="admin",
           path_params=id_param, responses={200: Response("Item", out)})(get_item)
    api.op("PATCH", base + "/{id}", summary=f"Change one of {label}", tag="admin",
           auth="admin", path_params=id_param, body=patch_schema,
           responses={200: Response("Item", out), 409: Response("Conflicts with existing data"),
                      422: Response("Refused, with the reason")})(update_item)
    api.op("DELETE", base + "/{id}", summary=f"Delete one of {label}", tag="admin",
           auth="admin", path_params=id_param,
           responses={204: Response("Deleted", media=""),
                      409: Response("Still in use")})(delete_item)
