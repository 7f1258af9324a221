"""Admin API of the call centre: the supervisors of each group, the agents' pause reasons,
IVR menus (dialable by number) with their options, and the IVR prompts (WAV uploads).

An uploaded prompt is checked (a WAV the PBX can play, at most ``ivr_prompt_max_bytes`` and
``ivr_prompt_max_s``) and kept as 8 kHz mono PCM16 in the store; a file that will not do is
refused with a message saying why (415 not a WAV, 413 too large, 422 too long or odd rate).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response, not_found
from fonbo.crud import Resource, audit, register
from fonbo.prompts import PromptError, normalise
from fonbo.routes.events import publish_change
from fonbo.schema import ID, NULLABLE_ID, array, boolean, enum, integer, number, obj, string
from webfon.store.base import Executor, Row

api = Api()

ACTIONS = ("extension", "queue", "voicemail", "menu", "hangup")
NUMBER = string(32, min_length=1, pattern=r"^[0-9]{1,32}$", message="must be digits only")
TARGET = string(32, pattern=r"^[0-9]{0,32}$", message="must be digits only")
ACC_NAME = string(64, pattern=r"^[A-Za-z0-9_.-]{0,64}$",
                  message="letters, digits and _ . - only")
DIGIT = string(1, min_length=1, pattern=r"^[0-9*#]$", message="must be one of 0-9, * or #")


# --- supervisors ---------------------------------------------------------------------------
SUPERVISOR = obj({"queue_id": ID, "user_id": ID, "login_number": string(32),
                  "display_name": string(128)})


async def _supervisors(db: Executor, queue_id: int) -> list[Row]:
    return await db.fetchall(
        "SELECT s.queue_id, s.user_id, u.login_number, u.display_name FROM queue_supervisors s "
        "JOIN users u ON u.id = s.user_id WHERE s.queue_id = ? ORDER BY u.login_number",
        (queue_id,))


async def _queue_or_404(ctx: Ctx) -> None:
    if not await ctx.store.fetchval("SELECT COUNT(*) AS n FROM queues WHERE id = ?",
                                    (ctx.path["id"],)):
        not_found(f"queue {ctx.path['id']} not found")


@api.op("GET", "/fonbo/admin/queues/{id}/supervisors", summary="Supervisors of a group",
        tag="admin", auth="admin", path_params={"id": ID},
        responses={200: Response("Supervisors", obj({"items": array(SUPERVISOR)}))})
async def admin_list_supervisors(ctx: Ctx) -> web.Response:
    await _queue_or_404(ctx)
    return json_response({"items": await _supervisors(ctx.store, ctx.path["id"])})


@api.op("PUT", "/fonbo/admin/queues/{id}/supervisors/{user_id}",
        summary="Make a user supervisor of a group (sees its calls and agents, acts on them)",
        tag="admin", auth="admin", path_params={"id": ID, "user_id": ID},
        responses={200: Response("Supervisors", obj({"items": array(SUPERVISOR)}))})
async def admin_put_supervisor(ctx: Ctx) -> web.Response:
    await _queue_or_404(ctx)
    user_id = ctx.path["user_id"]
    if not await ctx.store.fetchval("SELECT COUNT(*) AS n FROM users WHERE id = ?", (user_id,)):
        not_found(f"user {user_id} not found")
    async with ctx.store.transaction() as tx:
        await tx.upsert("queue_supervisors", {"queue_id": ctx.path["id"], "user_id": user_id},
                        ("queue_id", "user_id"))
        await audit(ctx, tx, "put queue supervisor", f"queues/{ctx.path['id']}",
                    {"user_id": user_id})
    await publish_change(ctx, "queue_supervisors", ctx.path["id"])
    return json_response({"items": await _supervisors(ctx.store, ctx.path["id"])})


@api.op("DELETE", "/fonbo/admin/queues/{id}/supervisors/{user_id}",
        summary="A user no longer supervises a group", tag="admin", auth="admin",
        path_params={"id": ID, "user_id": ID}, responses={204: Response("Removed", media="")})
async def admin_delete_supervisor(ctx: Ctx) -> web.Response:
    key = (ctx.path["id"], ctx.path["user_id"])
    if not await ctx.store.fetchval("SELECT COUNT(*) AS n FROM queue_supervisors WHERE "
                                    "queue_id = ? AND user_id = ?", key):
        not_found("that user does not supervise this queue")
    async with ctx.store.transaction() as tx:
        await tx.execute("DELETE FROM queue_supervisors WHERE queue_id = ? AND user_id = ?", key)
        await audit(ctx, tx, "delete queue supervisor", f"queues/{key[0]}",
                    {"user_id": key[1]})
    await publish_change(ctx, "queue_supervisors", ctx.path["id"])
    return web.Response(status=204)


# --- pause reasons ----------------------------------------------------------------------------
PAUSE_REASONS = Resource(
    name="pause_reasons", table="acd_pause_reasons", summary="agents' pause reasons",
    fields={"name": string(64, min_length=1, pattern=r"\S", message="must not be blank")},
    required=("name",), order_by="name")


# --- IVR menus --------------------------------------------------------------------------------
async def _check_target(db: Executor, action: str, target: str, field: str) -> None:
    """The target fits the action: a group for ``queue``, a menu for ``menu``, a user for
    ``voicemail``, a user or extension for ``extension``; nothing for ``hangup``."""
    if action == "hangup":
        if target:
            fail(422, f"{field}: hangup takes no target")
        return
    if not target:
        fail(422, f"{field}: {action} needs a target number")
    kind = await db.fetchval("SELECT kind FROM numbering WHERE number = ?", (target,))
    wanted = {"queue": ("queue",), "menu": ("ivr",), "voicemail": ("user",),
              "extension": ("user", "extension")}[action]
    if kind not in wanted:
        what = {"queue": "a group", "menu": "an IVR menu", "voicemail": "a user (mailbox)",
                "extension": "a user or an extension"}[action]
        fail(422, f"{field}: {target} is not {what}" +
             (f" (it is {'an' if kind in ('extension', 'ivr') else 'a'} {kind})" if kind
              else " (no such number)"))


async def validate_menu(ctx: Ctx, db: Executor, body: dict[str, Any], current: Row | None
                        ) -> None:
    for key in ("greeting_prompt_id", "invalid_prompt_id"):
        if body.get(key) is not None and not await db.fetchval(
                "SELECT COUNT(*) AS n FROM ivr_prompts WHERE id = ?", (body[key],)):
            fail(422, f"{key}: there is no prompt {body[key]}")
    if "fallback_action" in body or "fallback_target" in body:
        merged = {"fallback_action": "hangup", "fallback_target": "", **(current or {}), **body}
        await _check_target(db, merged["fallback_action"], merged["fallback_target"],
                            "fallback_target")
        if merged["fallback_action"] == "menu" and current is not None and \
                merged["fallback_target"] == current["number"]:
            fail(422, "fallback_target: a menu cannot fall back to itself")


async def _delete_menu_options(ctx: Ctx, db: Executor, body: dict[str, Any],
                               current: Row | None) -> None:
    assert current is not None
    used = await db.fetchval(
        "SELECT COUNT(*) AS n FROM ivr_options WHERE action = 'menu' AND target = ?",
        (current["number"],))
    used = (used or 0) + (await db.fetchval(
        "SELECT COUNT(*) AS n FROM ivr_menus WHERE fallback_action = 'menu' AND "
        "fallback_target = ?", (current["number"],)) or 0)
    if used:
        fail(409, f"menu {current['number']} is still the target of another menu's option")
    await db.execute("DELETE FROM ivr_options WHERE menu_id = ?", (current["id"],))


MENUS = Resource(
    name="ivr_menus", table="ivr_menus", summary="IVR menus (dialable by number)",
    fields={"number": NUMBER,
            "name": string(64, min_length=1, pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                           message="letters, digits and _ . - only (it names the "
                                   "Cen_Sub_Acumulados_IVR accumulator)"),
            "greeting_prompt_id": NULLABLE_ID, "invalid_prompt_id": NULLABLE_ID,
            "timeout_s": integer(1, 60), "max_tries": integer(1, 10),
            "fallback_action": enum(*ACTIONS), "fallback_target": TARGET},
    required=("number", "name"), number_kind="ivr", search=("number", "name"),
    order_by="number", validate=validate_menu, before_delete=_delete_menu_options)

for _resource in (PAUSE_REASONS, MENUS):
    register(api, _resource)


# --- IVR options ------------------------------------------------------------------------------
OPTION = obj({"digit": string(1), "action": enum(*ACTIONS), "target": string(32),
              "stats_enabled": boolean(), "vv_name": string(64), "vv_key": string(64)},
             closed=False)
OPTION_IN = obj({"action": enum(*ACTIONS), "target": TARGET, "stats_enabled": boolean(),
                 "vv_name": ACC_NAME, "vv_key": ACC_NAME}, ("action",))


async def _menu_or_404(ctx: Ctx) -> Row:
    row = await ctx.store.fetchone("SELECT id, number FROM ivr_menus WHERE id = ?",
                                   (ctx.path["id"],))
    if row is None:
        not_found(f"IVR menu {ctx.path['id']} not found")
    return row


async def _options(db: Executor, menu_id: int) -> list[dict[str, Any]]:
    rows = await db.fetchall("SELECT digit, action, target, stats_enabled, vv_name, vv_key "
                             "FROM ivr_options WHERE menu_id = ? ORDER BY digit", (menu_id,))
    for r in rows:
        r["stats_enabled"] = bool(r["stats_enabled"])
    return rows


@api.op("GET", "/fonbo/admin/ivr_menus/{id}/options", summary="The keys of an IVR menu",
        tag="admin", auth="admin", path_params={"id": ID},
        responses={200: Response("Options", obj({"items": array(OPTION)}))})
async def admin_list_ivr_options(ctx: Ctx) -> web.Response:
    await _menu_or_404(ctx)
    return json_response({"items": await _options(ctx.store, ctx.path["id"])})


@api.op("PUT", "/fonbo/admin/ivr_menus/{id}/options/{digit}",
        summary="Set what a key of an IVR menu does (to an extension, a group — with the "
                "group's statistics for these calls when stats_enabled —, a mailbox, another "
                "menu, or hang up; vv_name/vv_key count a free accumulator)",
        tag="admin", auth="admin", path_params={"id": ID, "digit": DIGIT}, body=OPTION_IN,
        responses={200: Response("Options", obj({"items": array(OPTION)})),
                   422: Response("Refused, with the reason")})
async def admin_put_ivr_option(ctx: Ctx) -> web.Response:
    menu = await _menu_or_404(ctx)
    body = {"target": "", "stats_enabled": False, "vv_name": "", "vv_key": "", **ctx.body}
    await _check_target(ctx.store, body["action"], body["target"], "target")
    if body["action"] == "menu" and body["target"] == menu["number"]:
        fail(422, "target: a key cannot lead back to the same menu (it would only repeat it)")
    if body["stats_enabled"] and body["action"] != "queue":
        fail(422, "stats_enabled: only an option leading to a group records its statistics")
    if body["vv_key"] and not body["vv_name"]:
        fail(422, "vv_key: give vv_name too (the free accumulator's name)")
    row = {"menu_id": menu["id"], "digit": ctx.path["digit"], "action": body["action"],
           "target": body["target"], "stats_enabled": int(body["stats_enabled"]),
           "vv_name": body["vv_name"], "vv_key": body["vv_key"]}
    async with ctx.store.transaction() as tx:
        await tx.upsert("ivr_options", row, ("menu_id", "digit"))
        await audit(ctx, tx, "put ivr option", f"ivr_menus/{menu['id']}", row)
    await publish_change(ctx, "ivr_options", menu["id"])
    return json_response({"items": await _options(ctx.store, menu["id"])})


@api.op("DELETE", "/fonbo/admin/ivr_menus/{id}/options/{digit}",
        summary="A key of an IVR menu no longer does anything", tag="admin", auth="admin",
        path_params={"id": ID, "digit": DIGIT}, responses={204: Response("Removed", media="")})
async def admin_delete_ivr_option(ctx: Ctx) -> web.Response:
    menu = await _menu_or_404(ctx)
    key = (menu["id"], ctx.path["digit"])
    if not await ctx.store.fetchval("SELECT COUNT(*) AS n FROM ivr_options WHERE menu_id = ? "
                                    "AND digit = ?", key):
        not_found(f"key {key[1]} does nothing in this menu")
    async with ctx.store.transaction() as tx:
        await tx.execute("DELETE FROM ivr_options WHERE menu_id = ? AND digit = ?", key)
        await audit(ctx, tx, "delete ivr option", f"ivr_menus/{key[0]}", {"digit": key[1]})
    await publish_change(ctx, "ivr_options", menu["id"])
    return web.Response(status=204)


# --- IVR prompts ------------------------------------------------------------------------------
PROMPT = obj({"id": ID, "name": string(128), "duration_s": number(),
              "original_format": string(64), "created_at": number()})
PROMPT_NAME = string(128, min_length=1, pattern=r"^[\w .,()-]{1,128}$",
                     message="letters, digits, spaces and _ . , ( ) - only")
WAV_BODY = {"audio/wav": {"type": "string", "format": "binary"},
            "audio/x-wav": {"type": "string", "format": "binary"},
            "audio/wave": {"type": "string", "format": "binary"}}
_PCOLS = "id, name, duration_s, original_format, created_at"


async def _read_wav(ctx: Ctx) -> bytes:
    if ctx.request.content_type not in WAV_BODY:
        fail(415, f"a prompt is uploaded as audio/wav, not {ctx.request.content_type or 'nothing'}")
    limit = ctx.settings.ivr_prompt_max_bytes
    if ctx.request.content_length is not None and ctx.request.content_length > limit:
        fail(413, f"a prompt file may be at most {limit} bytes")
    data = await ctx.request.read()
    if len(data) > limit:
        fail(413, f"a prompt file may be at most {limit} bytes")
    return data


def _prompt_row(data: bytes, ctx: Ctx) -> dict[str, Any]:
    try:
        prompt = normalise(data, ctx.settings.ivr_prompt_max_s)
    except PromptError as exc:
        fail(exc.status, str(exc))
    return {"data": base64.b64encode(prompt.wav).decode("ascii"),
            "duration_s": round(prompt.duration_s, 3), "original_format": prompt.original,
            "created_at": time.time()}


@api.op("GET", "/fonbo/admin/ivr_prompts", summary="IVR prompts", tag="admin", auth="admin",
        responses={200: Response("Prompts", obj({"items": array(PROMPT)}))})
async def admin_list_ivr_prompts(ctx: Ctx) -> web.Response:
    rows = await ctx.store.fetchall(f"SELECT {_PCOLS} FROM ivr_prompts ORDER BY name")
    return json_response({"items": rows})


@api.op("POST", "/fonbo/admin/ivr_prompts",
        summary="Upload an IVR prompt (a WAV: PCM, float, A-law or µ-law, any rate from 8 kHz, "
                "mono or stereo; kept as 8 kHz mono)",
        tag="admin", auth="admin", query={"name": {**PROMPT_NAME, "x-required": True}},
        raw_body=WAV_BODY,
        responses={201: Response("Stored", PROMPT), 409: Response("Name in use"),
                   413: Response("Too large"), 415: Response("Not a WAV file"),
                   422: Response("Too long, empty or an unsupported rate")})
async def admin_create_ivr_prompt(ctx: Ctx) -> web.Response:
    name = ctx.query["name"].strip()
    row = {"name": name, **_prompt_row(await _read_wav(ctx), ctx)}
    async with ctx.store.transaction() as tx:
        if await tx.fetchval("SELECT COUNT(*) AS n FROM ivr_prompts WHERE name = ?", (name,)):
            fail(409, f"a prompt named {name!r} exists already")
        new_id = await tx.insert("INSERT INTO ivr_prompts (name, data, duration_s, "
                                 "original_format, created_at) VALUES (?, ?, ?, ?, ?)",
                                 (row["name"], row["data"], row["duration_s"],
                                  row["original_format"], row["created_at"]))
        await audit(ctx, tx, "create ivr prompt", f"ivr_prompts/{new_id}",
                    {"name": name, "duration_s": row["duration_s"],
                     "original_format": row["original_format"]})
        out = await tx.fetchone(f"SELECT {_PCOLS} FROM ivr_prompts WHERE id = ?", (new_id,))
    await publish_change(ctx, "ivr_prompts", new_id)
    return json_response(out, status=201)


@api.op("PUT", "/fonbo/admin/ivr_prompts/{id}/audio",
        summary="Replace an IVR prompt's audio (menus using it play the new one)", tag="admin",
        auth="admin", path_params={"id": ID}, raw_body=WAV_BODY,
        responses={200: Response("Stored", PROMPT), 413: Response("Too large"),
                   415: Response("Not a WAV file"),
                   422: Response("Too long, empty or an unsupported rate")})
async def admin_replace_ivr_prompt(ctx: Ctx) -> web.Response:
    if not await ctx.store.fetchval("SELECT COUNT(*) AS n FROM ivr_prompts WHERE id = ?",
                                    (ctx.path["id"],)):
        not_found(f"prompt {ctx.path['id']} not found")
    row = _prompt_row(await _read_wav(ctx), ctx)
    async with ctx.store.transaction() as tx:
        await tx.execute("UPDATE ivr_prompts SET data = ?, duration_s = ?, original_format = ?, "
                         "created_at = ? WHERE id = ?",
                         (row["data"], row["duration_s"], row["original_format"],
                          row["created_at"], ctx.path["id"]))
        await audit(ctx, tx, "replace ivr prompt", f"ivr_prompts/{ctx.path['id']}",
                    {"duration_s": row["duration_s"]})
        out = await tx.fetchone(f"SELECT {_PCOLS} FROM ivr_prompts WHERE id = ?",
                                (ctx.path["id"],))
    await publish_change(ctx, "ivr_prompts", ctx.path["id"])
    return json_response(out)


@api.op("GET", "/fonbo/admin/ivr_prompts/{id}/audio",
        summary="An IVR prompt as the PBX plays it (8 kHz mono WAV)", tag="admin",
        auth="admin", path_params={"id": ID},
        responses={200: Response("WAV", {"type": "string", "format": "binary"},
                                 media="audio/wav")})
async def admin_get_ivr_prompt_audio(ctx: Ctx) -> web.Response:
    data = await ctx.store.fetchval("SELECT data FROM ivr_prompts WHERE id = ?",
                                    (ctx.path["id"],))
    if data is None:
        not_found(f"prompt {ctx.path['id']} not found")
    raw = base64.b64decode(data if isinstance(data, str) else bytes(data))
    return web.Response(body=raw, content_type="audio/wav",
                         headers={"Cache-Control": "no-store",
                                  "X-Content-Type-Options": "nosniff"})


@api.op("DELETE", "/fonbo/admin/ivr_prompts/{id}", summary="Delete an IVR prompt",
        tag="admin", auth="admin", path_params={"id": ID},
        responses={204: Response("Deleted", media=""), 409: Response("Still used by a menu")})
async def admin_delete_ivr_prompt(ctx: Ctx) -> web.Response:
    prompt_id = ctx.path["id"]
    if not await ctx.store.fetchval("SELECT COUNT(*) AS n FROM ivr_prompts WHERE id = ?",
                                    (prompt_id,)):
        not_found(f"prompt {prompt_id} not found")
    users = await ctx.store.fetchall(
        "SELECT name FROM ivr_menus WHERE greeting_prompt_id = ? OR invalid_prompt_id = ?",
        (prompt_id, prompt_id))
    if users:
        fail(409, "the prompt is still used by menu " + ", ".join(r["name"] for r in users))
    async with ctx.store.transaction() as tx:
        await tx.execute("DELETE FROM ivr_prompts WHERE id = ?", (prompt_id,))
        await audit(ctx, tx, "delete ivr prompt", f"ivr_prompts/{prompt_id}")
    await publish_change(ctx, "ivr_prompts", prompt_id)
    return web.Response(status=204)


