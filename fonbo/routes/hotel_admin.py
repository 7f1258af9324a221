"""Admin API of the hotel PMS interface (CHAR / hmobile connect): the hotel's settings, its
rooms, the room status codes, and what the interface is doing (rooms' state, wake-up calls,
messages for the PMS, which an admin may send again).

The PBX reads all of it from the store when it needs it. CHAR's password is kept only as an
argon2id hash (never returned); the PBX's own credentials towards hmobile connect are secrets
of the PBX's configuration (``pms_user``, ``pms_password`` in ``pbx.jcfg``).
"""

from __future__ import annotations

import json
import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response, not_found
from fonbo.crud import Resource, audit, register
from fonbo.repo.util import bools
from fonbo.routes.events import publish_change
from fonbo.schema import (
    ID,
    NULLABLE_ID,
    array,
    boolean,
    enum,
    integer,
    number,
    obj,
    string,
)
from webfon.passwords import hash_password
from webfon.store.base import Executor, Row

api = Api()

CODE = string(8, min_length=2, pattern=r"^\*[0-9]{1,6}$",
              message="a star and 1 to 6 digits (*81)")
SETTING_FIELDS: dict[str, Any] = {
    "site": string(64, min_length=1, pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                   message="letters, digits and _ . - only (CHAR's «site»)"),
    "char_user": string(64, min_length=1, pattern=r"^[^\s=\[\]]{1,64}$",
                        message="no spaces, = or brackets"),
    "timezone": string(64, min_length=1),
    "wakeup_ring_s": integer(2, 300), "wakeup_retries": integer(0, 10),
    "wakeup_retry_s": integer(1, 3600), "wakeup_prompt_id": NULLABLE_ID,
    "wakeup_repeat": integer(1, 10), "wakeup_caller_name": string(64, min_length=1),
    "wakeup_code": CODE, "wakeup_cancel_code": CODE,
    "report_internal_calls": boolean(),
}
SETTINGS_OUT = obj({**SETTING_FIELDS, "char_password_set": boolean(), "updated_at": number()},
                   closed=False)
SETTINGS_IN = obj({**SETTING_FIELDS,
                   "char_password": string(256, min_length=12, pattern=r"^[^\r\n]+$",
                                           message="one line of at least 12 characters")},
                  min_properties=1)
DEFAULTS: dict[str, Any] = {
    "site": "", "char_user": "", "char_password_hash": "", "timezone": "Europe/Madrid",
    "wakeup_ring_s": 30, "wakeup_retries": 2, "wakeup_retry_s": 300, "wakeup_prompt_id": None,
    "wakeup_repeat": 3, "wakeup_caller_name": "Despertador", "wakeup_code": "*55",
    "wakeup_cancel_code": "*56", "report_internal_calls": False, "updated_at": 0.0}


async def _settings(db: Executor) -> dict[str, Any]:
    row = await db.fetchone("SELECT * FROM hotel_settings WHERE id = 1")
    return {**DEFAULTS, **(row or {})}


def _settings_out(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in (*SETTING_FIELDS, "updated_at")}
    out["char_password_set"] = bool(row["char_password_hash"])
    out["report_internal_calls"] = bool(out["report_internal_calls"])
    return out


@api.op("GET", "/fonbo/admin/hotel/settings", summary="The hotel PMS interface's settings",
        tag="admin", auth="admin", responses={200: Response("Settings", SETTINGS_OUT)})
async def admin_get_hotel_settings(ctx: Ctx) -> web.Response:
    return json_response(_settings_out(await _settings(ctx.store)))


@api.op("PATCH", "/fonbo/admin/hotel/settings",
        summary="Change the hotel PMS interface's settings (CHAR's site, user and password, "
                "time zone, wake-up calls, codes)",
        tag="admin", auth="admin", body=SETTINGS_IN,
        responses={200: Response("Settings", SETTINGS_OUT),
                   422: Response("Refused, with the reason")})
async def admin_update_hotel_settings(ctx: Ctx) -> web.Response:
    body = dict(ctx.body)
    async with ctx.store.transaction() as tx:
        current = await _settings(tx)
        merged = {**current, **{k: v for k, v in body.items() if k != "char_password"}}
        try:
            ZoneInfo(merged["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            fail(422, f"timezone: {merged['timezone']!r} is not a time zone (Europe/Madrid)")
        if merged["wakeup_code"] == merged["wakeup_cancel_code"]:
            fail(422, "wakeup_cancel_code must differ from wakeup_code")
        taken = await tx.fetchval("SELECT dial FROM hotel_status_codes WHERE dial IN (?, ?)",
                                  (merged["wakeup_code"], merged["wakeup_cancel_code"]))
        if taken:
            fail(422, f"{taken} is a room status code already")
        if merged["wakeup_prompt_id"] is not None and not await tx.fetchval(
                "SELECT COUNT(*) FROM ivr_prompts WHERE id = ?", (merged["wakeup_prompt_id"],)):
            fail(422, f"wakeup_prompt_id: no prompt {merged['wakeup_prompt_id']}")
        if "char_password" in body:
            merged["char_password_hash"] = hash_password(body["char_password"])
        merged["report_internal_calls"] = int(bool(merged["report_internal_calls"]))
        merged["updated_at"] = time.time()
        merged["id"] = 1
        await tx.upsert("hotel_settings", {k: merged[k] for k in ("id", *DEFAULTS)}, ("id",))
        await audit(ctx, tx, "update hotel settings", "hotel/settings", body)
        row = await _settings(tx)
    await publish_change(ctx, "hotel_settings", 1)
    return json_response(_settings_out(row))


# --- rooms --------------------------------------------------------------------------------------
async def _validate_room(ctx: Ctx, db: Executor, body: dict[str, Any], current: Row | None
                         ) -> None:
    if current is not None and current.get("state") == "occupied" and \
            ("extension_id" in body or "room" in body) and \
            (body.get("extension_id", current["extension_id"]) != current["extension_id"]
             or body.get("room", current["room"]) != current["room"]):
        fail(409, f"room {current['room']} is occupied: check the guest out first")
    if "extension_id" in body:
        ext = await db.fetchone("SELECT number, kind, owner_user_id FROM extensions WHERE id = ?",
                                (body["extension_id"],))
        if ext is None:
            fail(422, f"extension_id: no extension {body['extension_id']}")
        if ext["kind"] != "hard" or ext["owner_user_id"] is None:
            fail(422, f"extension_id: extension {ext['number']} needs an owner user (a desk "
                      f"extension): the owner's name is what shows the guest's")


async def _delete_room(ctx: Ctx, db: Executor, body: dict[str, Any], current: Row | None
                       ) -> None:
    assert current is not None
    if current["state"] == "occupied":
        fail(409, f"room {current['room']} is occupied: check the guest out first")


ROOMS = Resource(
    name="hotel_rooms", table="hotel_rooms", summary="hotel rooms (room number → extension)",
    fields={"room": string(16, min_length=1, pattern=r"^[A-Za-z0-9_-]{1,16}$",
                           message="letters, digits, _ and - only (the PMS's room number)"),
            "extension_id": ID,
            "vacant_name": string(128)},
    required=("room", "extension_id"),
    extra_out=("state", "dnd", "message_waiting", "updated_at"), booleans=("dnd",
                                                                           "message_waiting"),
    search=("room", "vacant_name"), order_by="room", validate=_validate_room,
    before_delete=_delete_room,
    create_defaults=lambda: {"updated_at": time.time()})

STATUS_CODES = Resource(
    name="hotel_status_codes", table="hotel_status_codes",
    summary="room status codes (dialled from a room, sent to the PMS)",
    fields={"dial": CODE,
            "code": string(32, min_length=1, pattern=r"^[A-Za-z0-9_.-]{1,32}$",
                           message="letters, digits and _ . - only (what the PMS receives)"),
            "label": string(64),
            "takes_value": boolean()},
    required=("dial", "code"), booleans=("takes_value",), search=("dial", "code", "label"),
    order_by="dial")


async def _validate_code(ctx: Ctx, db: Executor, body: dict[str, Any], current: Row | None
                         ) -> None:
    if "dial" in body:
        s = await _settings(db)
        if body["dial"] in (s["wakeup_code"], s["wakeup_cancel_code"]):
            fail(422, f"dial: {body['dial']} is the wake-up call's code")


STATUS_CODES.validate = _validate_code

for _resource in (ROOMS, STATUS_CODES):
    register(api, _resource)


# --- what the interface is doing ----------------------------------------------------------------
ROOM_STATUS = obj({"id": ID, "room": string(16), "extension": string(32),
                   "state": enum("vacant", "occupied"), "guest_name": string(128),
                   "language": string(8), "checkin_at": number(), "dnd": boolean(),
                   "message_waiting": boolean(), "wakeups": array(number())})


@api.op("GET", "/fonbo/admin/hotel/status",
        summary="The rooms now: guest, do not disturb, message waiting, wake-up calls due",
        tag="admin", auth="admin",
        responses={200: Response("Rooms", obj({"items": array(ROOM_STATUS)}))})
async def admin_hotel_status(ctx: Ctx) -> web.Response:
    rows = await ctx.store.fetchall(
        "SELECT r.id, r.room, e.number AS extension, r.state, r.dnd, r.message_waiting, "
        "s.guest_name, s.language, s.checkin_at FROM hotel_rooms r "
        "JOIN extensions e ON e.id = r.extension_id "
        "LEFT JOIN hotel_stays s ON s.id = r.stay_id ORDER BY r.room")
    wakeups: dict[str, list[float]] = {}
    for w in await ctx.store.fetchall(
            "SELECT room, due_at FROM hotel_wakeups WHERE state IN ('pending', 'calling') "
            "ORDER BY due_at"):
        wakeups.setdefault(w["room"], []).append(float(w["due_at"]))
    items = []
    for r in rows:
        item = bools(dict(r), "dnd", "message_waiting")
        item["guest_name"] = item["guest_name"] or ""
        item["language"] = item["language"] or ""
        item["wakeups"] = wakeups.get(r["room"], [])
        items.append(item)
    return json_response({"items": items})


WAKEUP = obj({"id": ID, "room": string(16), "due_at": number(), "next_at": number(),
              "state": enum("pending", "calling", "done", "failed", "cancelled"),
              "attempts": integer(0), "source": enum("pms", "phone"), "result": string(128),
              "updated_at": number()})


@api.op("GET", "/fonbo/admin/hotel/wakeups", summary="Wake-up calls (the latest first)",
        tag="admin", auth="admin",
        query={"room": string(16), "state": enum("pending", "calling", "done", "failed",
                                                 "cancelled"),
               "limit": integer(1, 1000), "offset": integer(0, 10**9)},
        responses={200: Response("Wake-up calls", obj({"items": array(WAKEUP),
                                                        "total": integer(0)}))})
async def admin_hotel_wakeups(ctx: Ctx) -> web.Response:
    where, params = _filters(ctx, ("room", "state"))
    total = await ctx.store.fetchval(f"SELECT COUNT(*) FROM hotel_wakeups WHERE {where}",
                                     params)
    rows = await ctx.store.fetchall(
        "SELECT id, room, due_at, next_at, state, attempts, source, result, updated_at "
        f"FROM hotel_wakeups WHERE {where} ORDER BY due_at DESC, id DESC LIMIT ? OFFSET ?",
        [*params, ctx.query.get("limit", 100), ctx.query.get("offset", 0)])
    return json_response({"items": rows, "total": int(total or 0)})


MESSAGE = obj({"id": ID, "action": string(16), "address": string(16),
               "state": enum("pending", "delivered", "refused"), "attempts": integer(0),
               "next_at": number(), "last_error": string(255), "created_at": number(),
               "delivered_at": number(nullable=True), "data": obj({}, closed=False)})


@api.op("GET", "/fonbo/admin/hotel/outbox",
        summary="Messages for the PMS (calls, status codes, wake-up results, CDRs), the latest "
                "first",
        tag="admin", auth="admin",
        query={"state": enum("pending", "delivered", "refused"), "action": string(16),
               "limit": integer(1, 1000), "offset": integer(0, 10**9)},
        responses={200: Response("Messages", obj({"items": array(MESSAGE),
                                                   "total": integer(0)}))})
async def admin_hotel_outbox(ctx: Ctx) -> web.Response:
    where, params = _filters(ctx, ("state", "action"))
    total = await ctx.store.fetchval(f"SELECT COUNT(*) FROM hotel_outbox WHERE {where}", params)
    rows = await ctx.store.fetchall(
        "SELECT id, action, address, state, attempts, next_at, last_error, created_at, "
        f"delivered_at, data FROM hotel_outbox WHERE {where} ORDER BY id DESC "
        "LIMIT ? OFFSET ?", [*params, ctx.query.get("limit", 100), ctx.query.get("offset", 0)])
    items = [{**r, "data": json.loads(r["data"])} for r in rows]
    return json_response({"items": items, "total": int(total or 0)})


@api.op("POST", "/fonbo/admin/hotel/outbox/{id}/retry",
        summary="Send a message the PMS refused once more", tag="admin", auth="admin",
        path_params={"id": ID},
        responses={200: Response("Queued again", MESSAGE),
                   409: Response("Not a refused message")})
async def admin_hotel_outbox_retry(ctx: Ctx) -> web.Response:
    async with ctx.store.transaction() as tx:
        row = await tx.fetchone("SELECT state FROM hotel_outbox WHERE id = ?", (ctx.path["id"],))
        if row is None:
            not_found(f"message {ctx.path['id']} not found")
        if row["state"] != "refused":
            fail(409, f"message {ctx.path['id']} is {row['state']}: only refused messages are "
                      f"sent again")
        await tx.execute("UPDATE hotel_outbox SET state = 'pending', next_at = ?, "
                         "lease_until = 0 WHERE id = ?", (time.time(), ctx.path["id"]))
        await audit(ctx, tx, "retry hotel message", f"hotel/outbox/{ctx.path['id']}")
        out = await tx.fetchone(
            "SELECT id, action, address, state, attempts, next_at, last_error, created_at, "
            "delivered_at, data FROM hotel_outbox WHERE id = ?", (ctx.path["id"],))
    assert out is not None
    return json_response({**out, "data": json.loads(out["data"])})


def _filters(ctx: Ctx, names: tuple[str, ...]) -> tuple[str, list[Any]]:
    where, params = ["1 = 1"], []
    for name in names:
        value = ctx.query.get(name)
        if value:
            where.append(f"{name} = ?")
            params.append(value)
    return " AND ".join(where), params
