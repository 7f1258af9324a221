"""Smart buttons (global and mine), my profile and preferences, and the global logo."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from typing import Any

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response, not_found
from fonbo.repo.agenda import numbers_of_user
from fonbo.repo.util import insert_row, update_row
from fonbo.routes.events import publish_change
from fonbo.schema import ID, NULLABLE_ID, array, enum, integer, obj, string
from webfon import turn

api = Api()

BUTTON = obj({"id": ID, "user_id": NULLABLE_ID, "code": string(32), "label": string(64),
              "kind": enum("dial", "feature", "url"), "position": integer(0, 1000)},
             closed=False)
_BUTTON_FIELDS = {"code": string(32, min_length=1), "label": string(64, min_length=1),
                  "kind": enum("dial", "feature", "url"), "position": integer(0, 1000)}
BUTTON_IN = obj(_BUTTON_FIELDS, ("code", "label"))
BUTTON_PATCH = obj(_BUTTON_FIELDS, min_properties=1)
_ID = {"id": ID}
_BCOLS = "id, user_id, code, label, kind, position"


def check_button(row: dict[str, Any]) -> None:
    if row.get("kind", "dial") == "url":
        if not re.fullmatch(r"https?://[^\s]+", row["code"]):
            fail(422, "code: a url button needs an http(s) address (up to 32 characters)")
    elif not re.fullmatch(r"[0-9*#+]{1,32}", row["code"]):
        fail(422, "code: a dial or feature button needs digits, * and # (for example *43#)")


async def _buttons(ctx: Ctx, user_id: int | None) -> list[dict[str, Any]]:
    if user_id is None:
        return await ctx.store.fetchall(f"SELECT {_BCOLS} FROM smart_buttons WHERE user_id "
                                        f"IS NULL ORDER BY position, id")
    return await ctx.store.fetchall(f"SELECT {_BCOLS} FROM smart_buttons WHERE user_id = ? "
                                    f"ORDER BY position, id", (user_id,))


async def _button(ctx: Ctx, button_id: int, user_id: int | None) -> dict[str, Any] | None:
    if user_id is None:
        return await ctx.store.fetchone(f"SELECT {_BCOLS} FROM smart_buttons WHERE id = ? AND "
                                        f"user_id IS NULL", (button_id,))
    return await ctx.store.fetchone(f"SELECT {_BCOLS} FROM smart_buttons WHERE id = ? AND "
                                    f"user_id = ?", (button_id, user_id))


async def _create_button(ctx: Ctx, user_id: int | None) -> web.Response:
    row = {"kind": "dial", "position": 0, **ctx.body}
    check_button(row)
    new_id = await insert_row(ctx.store, "smart_buttons", {"user_id": user_id, **row})
    await publish_change(ctx, "smart_buttons", new_id)
    return json_response(await _button(ctx, new_id, user_id), status=201)


async def _update_button(ctx: Ctx, user_id: int | None) -> web.Response:
    current = await _button(ctx, ctx.path["id"], user_id)
    if current is None:
        not_found("button not found")
    check_button({**current, **ctx.body})
    await update_row(ctx.store, "smart_buttons", {"id": ctx.path["id"]}, ctx.body)
    await publish_change(ctx, "smart_buttons", ctx.path["id"])
    return json_response(await _button(ctx, ctx.path["id"], user_id))


async def _delete_button(ctx: Ctx, user_id: int | None) -> web.Response:
    if await _button(ctx, ctx.path["id"], user_id) is None:
        not_found("button not found")
    await ctx.store.execute("DELETE FROM smart_buttons WHERE id = ?", (ctx.path["id"],))
    await publish_change(ctx, "smart_buttons", ctx.path["id"])
    return web.Response(status=204)


@api.op("GET", "/fonbo/buttons", summary="Smart buttons: the global ones and mine",
        tag="buttons", responses={200: Response("Buttons", obj({"global": array(BUTTON),
                                                                "mine": array(BUTTON)}))})
async def list_buttons(ctx: Ctx) -> web.Response:
    return json_response({"global": await _buttons(ctx, None),
                          "mine": await _buttons(ctx, ctx.user_id)})


@api.op("POST", "/fonbo/buttons", summary="Add one of my smart buttons", tag="buttons",
        body=BUTTON_IN, responses={201: Response("Created", BUTTON)})
async def create_button(ctx: Ctx) -> web.Response:
    return await _create_button(ctx, ctx.user_id)


@api.op("PATCH", "/fonbo/buttons/{id}", summary="Change one of my smart buttons",
        tag="buttons", path_params=_ID, body=BUTTON_PATCH,
        responses={200: Response("Button", BUTTON)})
async def update_button(ctx: Ctx) -> web.Response:
    return await _update_button(ctx, ctx.user_id)


@api.op("DELETE", "/fonbo/buttons/{id}", summary="Delete one of my smart buttons",
        tag="buttons", path_params=_ID, responses={204: Response("Deleted", media="")})
async def delete_button(ctx: Ctx) -> web.Response:
    return await _delete_button(ctx, ctx.user_id)


@api.op("POST", "/fonbo/admin/buttons", summary="Add a global smart button", tag="admin",
        auth="admin", body=BUTTON_IN, responses={201: Response("Created", BUTTON)})
async def admin_create_button(ctx: Ctx) -> web.Response:
    return await _create_button(ctx, None)


@api.op("PATCH", "/fonbo/admin/buttons/{id}", summary="Change a global smart button",
        tag="admin", auth="admin", path_params=_ID, body=BUTTON_PATCH,
        responses={200: Response("Button", BUTTON)})
async def admin_update_button(ctx: Ctx) -> web.Response:
    return await _update_button(ctx, None)


@api.op("DELETE", "/fonbo/admin/buttons/{id}", summary="Delete a global smart button",
        tag="admin", auth="admin", path_params=_ID, responses={204: Response("Deleted",
                                                                             media="")})
async def admin_delete_button(ctx: Ctx) -> web.Response:
    return await _delete_button(ctx, None)


# --- me and my preferences -------------------------------------------------------------------
PREFS_FIELDS = {"audio_input_id": string(255), "audio_output_id": string(255),
                "ringer_output_id": string(255), "language": enum("", "es", "en")}
PREFS = obj(PREFS_FIELDS, closed=False)
ME = obj({"id": ID, "display_name": string(128), "login_number": string(32),
          "username": string(64, nullable=True), "email": string(255), "role": string(16),
          "numbers": array(string(32)), "webphone_extension": string(32, nullable=True),
          "webphone_mode": string(16)}, closed=False)


@api.op("GET", "/fonbo/me", summary="Who I am: name, numbers, role", tag="me",
        responses={200: Response("Profile", ME)})
async def get_me(ctx: Ctx) -> web.Response:
    row = await ctx.store.fetchone(
        "SELECT id, display_name, login_number, username, email, role, webphone_extension, "
        "webphone_mode FROM users WHERE id = ?", (ctx.user_id,))
    if row is None:
        not_found("user not found")
    row["numbers"] = await numbers_of_user(ctx.store, ctx.user_id)
    return json_response(row)


async def _prefs(ctx: Ctx) -> dict[str, Any]:
    row = await ctx.store.fetchone(
        "SELECT audio_input_id, audio_output_id, ringer_output_id, language "
        "FROM user_preferences WHERE user_id = ?", (ctx.user_id,))
    return row or {"audio_input_id": "", "audio_output_id": "", "ringer_output_id": "",
                   "language": ""}


@api.op("GET", "/fonbo/me/preferences", summary="My audio devices and language", tag="me",
        responses={200: Response("Preferences", PREFS)})
async def get_preferences(ctx: Ctx) -> web.Response:
    return json_response(await _prefs(ctx))


@api.op("PUT", "/fonbo/me/preferences",
        summary="Set my audio input/output/ringer device ids and language (fields omitted "
                "stay as they are)", tag="me", body=obj(PREFS_FIELDS),
        responses={200: Response("Preferences", PREFS)})
async def put_preferences(ctx: Ctx) -> web.Response:
    if not await ctx.store.fetchval("SELECT COUNT(*) AS n FROM users WHERE id = ?",
                                    (ctx.user_id,)):
        not_found("user not found")
    row = {**await _prefs(ctx), **ctx.body}
    await ctx.store.upsert("user_preferences", {"user_id": ctx.user_id, **row,
                                                "updated_at": time.time()}, ("user_id",))
    return json_response(await _prefs(ctx))


# --- the global logo -------------------------------------------------------------------------
_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
          "image/gif": (b"GIF87a", b"GIF89a"), "image/webp": (b"RIFF",)}


@api.op("GET", "/fonbo/logo", summary="The global logo (public: shown before login)",
        tag="personalisation", auth="none",
        responses={200: Response("Image", {"type": "string", "format": "binary"},
                                 media="image/png"),
                   304: Response("Not modified", media=""),
                   404: Response("No logo uploaded")})
async def get_logo(ctx: Ctx) -> web.Response:
    row = await ctx.store.fetchone("SELECT content_type, data, etag FROM portal_assets "
                                   "WHERE name = 'logo'")
    if row is None:
        not_found("no logo uploaded")
    etag = f'"{row["etag"]}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300",
               "X-Content-Type-Options": "nosniff"}
    if ctx.request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=_unpack(row["data"]), content_type=row["content_type"],
                        headers=headers)


def _pack(data: bytes) -> str:
    """Assets are kept base64-encoded: the MySQL driver pair installed here (aiomysql 0.3 with
    PyMySQL 1.2) cannot bind ``bytes`` parameters."""
    return base64.b64encode(data).decode("ascii")


def _unpack(value: bytes | str) -> bytes:
    return base64.b64decode(value if isinstance(value, str) else bytes(value))


@api.op("PUT", "/fonbo/admin/logo", summary="Upload the global logo (PNG, JPEG, GIF or WebP)",
        tag="admin", auth="admin",
        raw_body={k: {"type": "string", "format": "binary"} for k in _MAGIC},
        responses={200: Response("Stored", obj({"content_type": string(64), "size": integer(0),
                                                "etag": string(64)})),
                   413: Response("Too large"), 415: Response("Not an accepted image type")})
async def put_logo(ctx: Ctx) -> web.Response:
    content_type = ctx.request.content_type
    if content_type not in _MAGIC:
        fail(415, "the logo must be image/png, image/jpeg, image/gif or image/webp "
                  "(SVG is not accepted)")
    limit = ctx.settings.logo_max_bytes
    if ctx.request.content_length is not None and ctx.request.content_length > limit:
        fail(413, f"the logo may be at most {limit} bytes")
    data = await ctx.request.read()
    if len(data) > limit:
        fail(413, f"the logo may be at most {limit} bytes")
    if not data.startswith(_MAGIC[content_type]) or (
            content_type == "image/webp" and data[8:12] != b"WEBP"):
        fail(415, f"the file is not a {content_type} image")
    etag = hashlib.sha256(data).hexdigest()[:32]
    await ctx.store.upsert("portal_assets", {
        "name": "logo", "content_type": content_type, "data": _pack(data), "etag": etag,
        "updated_at": time.time(), "updated_by": None}, ("name",))
    await publish_change(ctx, "portal_assets", "logo")
    return json_response({"content_type": content_type, "size": len(data), "etag": etag})


@api.op("DELETE", "/fonbo/admin/logo", summary="Remove the global logo", tag="admin",
        auth="admin", responses={204: Response("Removed", media="")})
async def delete_logo(ctx: Ctx) -> web.Response:
    await ctx.store.execute("DELETE FROM portal_assets WHERE name = 'logo'")
    await publish_change(ctx, "portal_assets", "logo")
    return web.Response(status=204)


# --- ICE servers ---------------------------------------------------------------------------
ICE_SERVER = obj({"urls": {"oneOf": [string(512), array(string(512))]},
                  "username": string(256), "credential": string(256)}, ("urls",))


@api.op("GET", "/fonbo/ice-servers", summary="STUN/TURN servers for my calls",
        tag="me", responses={200: Response("RTCIceServer list", obj({
            "iceServers": array(ICE_SERVER), "ttl": integer(0)}))},
        description="TURN credentials are the TURN REST API's (coturn use-auth-secret): made "
                    "for this user, valid for `ttl` seconds; fetch again before they expire.")
async def ice_servers(ctx: Ctx) -> web.Response:
    s = ctx.settings
    servers = turn.ice_servers(turn.parse_urls(s.ice_servers), s.turn_secret,
                               str(ctx.user_id), s.turn_credential_ttl_s)
    return json_response({"iceServers": servers, "ttl": int(s.turn_credential_ttl_s)},
                         headers={"Cache-Control": "no-store"})
