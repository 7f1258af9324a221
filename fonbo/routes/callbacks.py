"""Callbacks («Retrollamada»): mine (book, list, cancel) and, for admins, everyone's.

Booking here is what ``*43*<number>#`` does from a phone: when the number is free the PBX rings
me (my number: my web phone or my phones) and then calls it for me, with my category. The PBX
watches the ``callbacks`` table; cancelling («Cancelar retrollamada», ``*44#``) is possible
while a booking is pending.
"""

from __future__ import annotations

import time

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response, not_found
from fonbo.routes.events import publish_change
from fonbo.schema import ID, NULLABLE_ID, TIMESTAMP, array, enum, integer, obj, string

api = Api()
TAG = "callbacks"

STATES = ("pending", "calling", "done", "cancelled", "expired", "failed")
CALLBACK = obj({"id": ID, "requester_user_id": NULLABLE_ID, "requester_number": string(32),
                "target_number": string(32), "state": enum(*STATES), "attempts": integer(0),
                "created_at": TIMESTAMP, "expires_at": TIMESTAMP,
                "finished_at": {**TIMESTAMP, "nullable": True}, "call_id": string(255)},
               closed=False)
_COLS = ("id, requester_user_id, requester_number, target_number, state, attempts, created_at, "
         "expires_at, finished_at, call_id")
_LIST = {"state": enum(*STATES), "limit": integer(1, 500), "offset": integer(0, 10**9)}
_ID = {"id": ID}
TARGET = string(32, min_length=1, pattern=r"^[0-9]{1,32}$", message="must be digits only")


async def _list(ctx: Ctx, user_id: int | None) -> web.Response:
    where, params = ["1 = 1"], []
    if user_id is not None:
        where.append("requester_user_id = ?")
        params.append(user_id)
    if "state" in ctx.query:
        where.append("state = ?")
        params.append(ctx.query["state"])
    cond = " AND ".join(where)
    total = await ctx.store.fetchval(f"SELECT COUNT(*) AS n FROM callbacks WHERE {cond}", params)
    rows = await ctx.store.fetchall(
        f"SELECT {_COLS} FROM callbacks WHERE {cond} ORDER BY created_at DESC, id DESC "
        f"LIMIT ? OFFSET ?", [*params, ctx.query.get("limit", 50), ctx.query.get("offset", 0)])
    return json_response({"items": rows, "total": int(total or 0)})


@api.op("GET", "/fonbo/callbacks", summary="My callbacks, newest first", tag=TAG, query=_LIST,
        responses={200: Response("Callbacks", obj({"items": array(CALLBACK),
                                                   "total": integer(0)}))})
async def list_my_callbacks(ctx: Ctx) -> web.Response:
    return await _list(ctx, ctx.user_id)


@api.op("POST", "/fonbo/callbacks", summary="Book a callback to a number", tag=TAG,
        body=obj({"number": TARGET}, ("number",)),
        responses={201: Response("Callback", CALLBACK),
                   422: Response("Refused, with the reason")},
        description="When the number is free the PBX rings me, then calls it for me. A "
                    "pending booking for the same number is replaced.")
async def book_callback(ctx: Ctx) -> web.Response:
    target = ctx.body["number"]
    now = time.time()
    async with ctx.store.transaction() as tx:
        me = await tx.fetchone("SELECT login_number, enabled FROM users WHERE id = ?",
                               (ctx.user_id,))
        if me is None or not me["enabled"]:
            fail(422, "your user cannot book callbacks")
        if target == me["login_number"]:
            fail(422, "number: a callback to yourself")
        extension = await tx.fetchval(
            "SELECT id FROM extensions WHERE owner_user_id = ? AND kind = 'hard' "
            "ORDER BY id LIMIT 1", (ctx.user_id,))
        await tx.execute(
            "UPDATE callbacks SET state = 'cancelled', finished_at = ? WHERE state = 'pending' "
            "AND requester_user_id = ? AND target_number = ?", (now, ctx.user_id, target))
        new_id = await tx.insert(
            "INSERT INTO callbacks (requester_user_id, requester_extension_id, "
            "requester_number, target_number, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (ctx.user_id, extension, me["login_number"], target, now,
             now + ctx.settings.callback_ttl_s))
        row = await tx.fetchone(f"SELECT {_COLS} FROM callbacks WHERE id = ?", (new_id,))
    await publish_change(ctx, "callbacks", new_id)
    return json_response(row, status=201)


@api.op("DELETE", "/fonbo/callbacks/{id}", summary="Cancel a pending callback of mine",
        tag=TAG, path_params=_ID,
        responses={200: Response("Callback", CALLBACK), 409: Response("No longer pending")})
async def cancel_callback(ctx: Ctx) -> web.Response:
    row = await ctx.store.fetchone(f"SELECT {_COLS} FROM callbacks WHERE id = ? AND "
                                   f"requester_user_id = ?", (ctx.path["id"], ctx.user_id))
    if row is None:
        not_found("callback not found")
    changed = await ctx.store.execute(
        "UPDATE callbacks SET state = 'cancelled', finished_at = ? WHERE id = ? AND "
        "state = 'pending'", (time.time(), ctx.path["id"]))
    if not changed:
        fail(409, f"this callback is {row['state']}, it can no longer be cancelled")
    await publish_change(ctx, "callbacks", ctx.path["id"])
    return json_response(await ctx.store.fetchone(f"SELECT {_COLS} FROM callbacks WHERE id = ?",
                                                  (ctx.path["id"],)))


@api.op("GET", "/fonbo/admin/callbacks", summary="Everyone's callbacks, newest first",
        tag="admin", auth="admin", query=_LIST,
        responses={200: Response("Callbacks", obj({"items": array(CALLBACK),
                                                   "total": integer(0)}))})
async def admin_list_callbacks(ctx: Ctx) -> web.Response:
    return await _list(ctx, None)
