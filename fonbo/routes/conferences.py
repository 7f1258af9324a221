"""Conference rooms: mine (dial-in rooms and the web phone's ad-hoc «Conferencia» room) and,
for admins, everyone's.

A user may own as many rooms as their «Salas de conferencia Webphone» says (-1: their
extension's value), ad-hoc rooms in progress included. A room's number is given by the admin
or taken from ``conference_numbers``; its PIN is kept as an argon2id hash (the API says only
whether there is one). An ad-hoc room has a random PIN nobody knows: only its owner dials in
or transfers parties in; the PBX deletes it when it empties, or when nobody joined it within
``conference_adhoc_ttl_s``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response, not_found
from fonbo.crud import audit, reserve_number
from fonbo.repo import conferences as rooms
from fonbo.repo.util import update_row
from fonbo.routes.events import publish_change
from fonbo.schema import ID, NULLABLE_ID, TIMESTAMP, array, boolean, integer, obj, string
from webfon.passwords import hash_password
from webfon.store.base import Executor

api = Api()
TAG = "conferences"

NUMBER = string(32, min_length=1, pattern=r"^[0-9]{1,32}$", message="must be digits only")
PIN = string(12, pattern=r"^[0-9]{4,12}$", nullable=True, message="must be 4 to 12 digits")
ROOM = obj({"id": ID, "number": string(32), "name": string(128), "owner_user_id": NULLABLE_ID,
            "beep": integer(-1, 1), "max_participants": integer(2, 64), "adhoc": boolean(),
            "has_pin": boolean(), "created_at": TIMESTAMP,
            "expires_at": {**TIMESTAMP, "nullable": True}}, closed=False)
_MINE = {"name": string(128), "pin": PIN, "beep": integer(-1, 1),
         "max_participants": integer(2, 64)}
_ADMIN = {**_MINE, "number": NUMBER, "owner_user_id": NULLABLE_ID}
_ID = {"id": ID}
_LIST = {"q": string(100), "limit": integer(1, 1000), "offset": integer(0, 10**9)}


async def _check_limit(db: Executor, user_id: int) -> None:
    if not await db.fetchval("SELECT COUNT(*) AS n FROM users WHERE id = ?", (user_id,)):
        fail(422, f"owner_user_id: there is no user {user_id}")
    limit = await rooms.room_limit(db, user_id)
    used = await rooms.rooms_owned(db, user_id)
    if used >= limit:
        fail(422, f"«Salas de conferencia Webphone»: user {user_id} may have {limit} "
                  f"conference room(s) and has {used}")


async def _number(ctx: Ctx, db: Executor, wanted: str | None) -> str:
    number = wanted
    if number is None:
        number = await rooms.free_number(db, *ctx.settings.conference_range)
        if number is None:
            fail(503, "no conference room number is free (conference_numbers)")
    await reserve_number(db, number, "conference")
    return number


async def _pin_hash(pin: str | None) -> str | None:
    return await asyncio.to_thread(hash_password, pin) if pin else None


async def _create(ctx: Ctx, body: dict[str, Any], owner: int | None, *, adhoc: bool = False
                  ) -> dict[str, Any]:
    pin = body.get("pin") if not adhoc else "".join(secrets.choice("0123456789")
                                                    for _ in range(12))
    pin_hash = await _pin_hash(pin)
    now = time.time()
    async with ctx.store.transaction() as tx:
        if owner is not None:
            await _check_limit(tx, owner)
        number = await _number(ctx, tx, body.get("number"))
        room_id = await rooms.insert(tx, {
            "number": number, "name": body.get("name") or f"Sala {number}",
            "owner_user_id": owner, "pin_hash": pin_hash, "beep": body.get("beep", -1),
            "max_participants": body.get("max_participants", 10), "adhoc": int(adhoc),
            "created_at": now,
            "expires_at": now + ctx.settings.conference_adhoc_ttl_s if adhoc else None})
        await audit(ctx, tx, "create conference room", f"conference_rooms/{room_id}",
                    {k: v for k, v in body.items() if k != "pin"})
        row = await rooms.room(tx, room_id)
    await publish_change(ctx, "conference_rooms", room_id)
    assert row is not None
    return rooms.to_out(row)


async def _update(ctx: Ctx, room_id: int, owner: int | None) -> web.Response:
    body = dict(ctx.body)
    changes: dict[str, Any] = {k: v for k, v in body.items()
                               if k in ("name", "beep", "max_participants", "owner_user_id")}
    if "pin" in body:
        changes["pin_hash"] = await _pin_hash(body["pin"])
    async with ctx.store.transaction() as tx:
        current = await rooms.room(tx, room_id, owner)
        if current is None or (owner is not None and current["adhoc"]):
            not_found("conference room not found")
        new_owner = body.get("owner_user_id", current["owner_user_id"])
        if "owner_user_id" in body and new_owner is not None \
                and new_owner != current["owner_user_id"]:
            await _check_limit(tx, new_owner)
        if current["adhoc"] and new_owner is None:
            fail(422, "owner_user_id: an ad-hoc room always has its owner")
        number = body.get("number")
        if number is not None and number != current["number"]:
            await reserve_number(tx, number, "conference")
            changes["number"] = number
        await update_row(tx, "conference_rooms", {"id": room_id}, changes)
        if "number" in changes:
            await tx.execute("DELETE FROM numbering WHERE number = ? AND kind = 'conference'",
                             (current["number"],))
        await audit(ctx, tx, "update conference room", f"conference_rooms/{room_id}",
                    {k: v for k, v in body.items() if k != "pin"})
        row = await rooms.room(tx, room_id)
    await publish_change(ctx, "conference_rooms", room_id)
    assert row is not None
    return json_response(rooms.to_out(row))


async def _delete(ctx: Ctx, room_id: int, owner: int | None) -> web.Response:
    async with ctx.store.transaction() as tx:
        current = await rooms.room(tx, room_id, owner)
        if current is None:
            not_found("conference room not found")
        await tx.execute("DELETE FROM conference_rooms WHERE id = ?", (room_id,))
        await tx.execute("DELETE FROM numbering WHERE number = ? AND kind = 'conference'",
                         (current["number"],))
        await audit(ctx, tx, "delete conference room", f"conference_rooms/{room_id}")
    await publish_change(ctx, "conference_rooms", room_id)
    return web.Response(status=204)


# --- mine ------------------------------------------------------------------------------------
@api.op("GET", "/fonbo/conferences", summary="My conference rooms and how many I may have",
        tag=TAG, responses={200: Response("Rooms", obj({
            "items": array(ROOM), "total": integer(0), "limit": integer(0),
            "used": integer(0)}))})
async def list_my_rooms(ctx: Ctx) -> web.Response:
    items = await rooms.rooms_of(ctx.store, ctx.user_id)
    limit = await rooms.room_limit(ctx.store, ctx.user_id)
    return json_response({"items": items, "total": len(items), "limit": limit,
                          "used": len(items)})


@api.op("POST", "/fonbo/conferences", summary="Make a dial-in conference room of mine",
        tag=TAG, body=obj(_MINE),
        responses={201: Response("Room", ROOM), 422: Response("Refused, with the reason")},
        description="Its number comes from conference_numbers. Refused (422) beyond my "
                    "«Salas de conferencia Webphone».")
async def create_my_room(ctx: Ctx) -> web.Response:
    return json_response(await _create(ctx, dict(ctx.body), ctx.user_id), status=201)


@api.op("POST", "/fonbo/conferences/adhoc",
        summary="An ad-hoc room for the web phone's «Conferencia» button", tag=TAG,
        responses={201: Response("Room", ROOM), 422: Response("Refused, with the reason")},
        description="The web phone transfers its active and held lines' parties into it "
                    "(REFER) and dials it itself. It has a random PIN nobody knows (only I "
                    "get in) and goes away when it empties.")
async def create_adhoc_room(ctx: Ctx) -> web.Response:
    user = await ctx.store.fetchone("SELECT display_name FROM users WHERE id = ?",
                                    (ctx.user_id,))
    name = f"Conferencia de {user['display_name']}"[:128] if user else "Conferencia"
    return json_response(await _create(ctx, {"name": name}, ctx.user_id, adhoc=True),
                         status=201)


@api.op("PATCH", "/fonbo/conferences/{id}", summary="Change my room (name, PIN, beep, size)",
        tag=TAG, path_params=_ID, body=obj(_MINE, min_properties=1),
        responses={200: Response("Room", ROOM)},
        description="A null pin removes the PIN.")
async def update_my_room(ctx: Ctx) -> web.Response:
    return await _update(ctx, ctx.path["id"], ctx.user_id)


@api.op("DELETE", "/fonbo/conferences/{id}", summary="Delete my room", tag=TAG,
        path_params=_ID, responses={204: Response("Deleted", media="")})
async def delete_my_room(ctx: Ctx) -> web.Response:
    return await _delete(ctx, ctx.path["id"], ctx.user_id)


# --- admin -----------------------------------------------------------------------------------
@api.op("GET", "/fonbo/admin/conference_rooms", summary="List conference rooms", tag="admin",
        auth="admin", query=_LIST,
        responses={200: Response("Rooms", obj({"items": array(ROOM), "total": integer(0)}))})
async def admin_list_rooms(ctx: Ctx) -> web.Response:
    items, total = await rooms.all_rooms(ctx.store, ctx.query.get("q", "").strip(),
                                         ctx.query.get("limit", 100), ctx.query.get("offset", 0))
    return json_response({"items": items, "total": total})


@api.op("POST", "/fonbo/admin/conference_rooms", summary="Make a conference room",
        tag="admin", auth="admin", body=obj(_ADMIN),
        responses={201: Response("Room", ROOM), 409: Response("Number in use"),
                   422: Response("Refused, with the reason")},
        description="Without a number it gets one from conference_numbers; an owner may not "
                    "have more rooms than their «Salas de conferencia Webphone».")
async def admin_create_room(ctx: Ctx) -> web.Response:
    body = dict(ctx.body)
    return json_response(await _create(ctx, body, body.get("owner_user_id")), status=201)


@api.op("GET", "/fonbo/admin/conference_rooms/{id}", summary="One conference room",
        tag="admin", auth="admin", path_params=_ID, responses={200: Response("Room", ROOM)})
async def admin_get_room(ctx: Ctx) -> web.Response:
    row = await rooms.room(ctx.store, ctx.path["id"])
    if row is None:
        not_found("conference room not found")
    return json_response(rooms.to_out(row))


@api.op("PATCH", "/fonbo/admin/conference_rooms/{id}", summary="Change a conference room",
        tag="admin", auth="admin", path_params=_ID, body=obj(_ADMIN, min_properties=1),
        responses={200: Response("Room", ROOM), 409: Response("Number in use"),
                   422: Response("Refused, with the reason")})
async def admin_update_room(ctx: Ctx) -> web.Response:
    return await _update(ctx, ctx.path["id"], None)


@api.op("DELETE", "/fonbo/admin/conference_rooms/{id}", summary="Delete a conference room",
        tag="admin", auth="admin", path_params=_ID,
        responses={204: Response("Deleted", media="")})
async def admin_delete_room(ctx: Ctx) -> web.Response:
    return await _delete(ctx, ctx.path["id"], None)
