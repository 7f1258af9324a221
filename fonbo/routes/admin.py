"""Admin API (role admin): users, extensions, phones, webphone pools, mobility groups,
categories, queues and their members, trunks, mdflow flows, sites and departments.

Rules the data model holds are checked first so the refusal says why: at most eight phones
per extension, one number for one thing, no multiterminal for pool web extensions,
«publicable» only for secure phones, the Web Call phone neither secure nor publishable.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response, not_found
from fonbo.crud import Resource, audit, register, reserve_number
from fonbo.repo.phones import MAX_PHONES
from fonbo.routes.events import end_sessions, publish_change
from fonbo.schema import (
    DIAL_NUMBER,
    EMAIL,
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
from webfon import session_end
from webfon.directory import digest_ha1
from webfon.passwords import hash_password
from webfon.store.base import Executor, Row

api = Api()

NUMBER = string(32, min_length=1, pattern=r"^[0-9]{1,32}$", message="must be digits only")
NAME = string(128, min_length=1, pattern=r"\S", message="must not be blank")
CLASSES = ("internal", "emergency", "local", "national", "mobile", "international", "premium",
           "special")
POOL_MAX_NUMBERS = 1000


_SINGULAR = {"categories": "category", "mobility_groups": "mobility group",
             "departments": "department", "sites": "site", "webphone_pools": "webphone pool",
             "users": "user", "extension_templates": "extension template", "nodes": "node",
             "extensions": "extension", "queues": "queue"}


async def _exists(db: Executor, table: str, row_id: Any) -> bool:
    if row_id is None:
        return True
    return bool(await db.fetchval(f"SELECT COUNT(*) AS n FROM {table} WHERE id = ?", (row_id,)))


async def _check_refs(db: Executor, data: dict[str, Any], refs: dict[str, str]) -> None:
    for column, table in refs.items():
        if column in data and not await _exists(db, table, data[column]):
            fail(422, f"{column}: there is no {_SINGULAR.get(table, table)} {data[column]}")


# --- users -----------------------------------------------------------------------------------
USER_REFS = {"category_id": "categories", "forward_category_id": "categories",
             "mobility_group_id": "mobility_groups", "department_id": "departments",
             "site_id": "sites", "webphone_pool_id": "webphone_pools"}


async def validate_user(ctx: Ctx, db: Executor, body: dict[str, Any], current: Row | None
                        ) -> None:
    await _check_refs(db, body, USER_REFS)
    merged = {**(current or {}), **body}
    if merged.get("webphone_mode") == "multiterminal" and merged.get("webphone_pool_id"):
        fail(422, "webphone_mode: a user with a webphone pool gets a pool web extension, and "
                  "a pool web extension cannot be multiterminal; choose exclusivo or remove "
                  "the pool")


async def transform_user(body: dict[str, Any]) -> dict[str, Any]:
    """Hashes a new password or PIN (argon2id, in a worker thread: it takes tens of ms)."""
    if "password" in body:
        body["password_hash"] = await asyncio.to_thread(hash_password, body.pop("password"))
    if "pin" in body:
        pin = body.pop("pin")
        body["pin_hash"] = await asyncio.to_thread(hash_password, pin) if pin else None
    return body


async def user_changed(ctx: Ctx, user_id: Any, before: Row | None, after: Row | None,
                       body: dict[str, Any]) -> None:
    """Disabling, deleting or setting the password of a user ends their sessions."""
    if after is None:
        await end_sessions(ctx, int(user_id), session_end.DELETED)
    elif before is not None and before.get("enabled") and not after.get("enabled"):
        await end_sessions(ctx, int(user_id), session_end.DISABLED)
    elif "password_hash" in body or "password" in body:
        await end_sessions(ctx, int(user_id), session_end.PASSWORD_CHANGED)


USERS = Resource(
    name="users", table="users", summary="users",
    fields={"display_name": NAME, "login_number": NUMBER,
            "username": string(64, pattern=r"^[A-Za-z0-9._@-]{1,64}$", nullable=True,
                               message="letters, digits and . _ @ - only"),
            "email": EMAIL, "external_number": DIAL_NUMBER, "role": enum("user", "admin"),
            "user_type": enum("normal", "solo_entrantes", "test"), "enabled": boolean(),
            "category_id": NULLABLE_ID, "forward_category_id": NULLABLE_ID,
            "mobility_group_id": NULLABLE_ID, "department_id": NULLABLE_ID,
            "site_id": NULLABLE_ID, "personal_comms": boolean(),
            "recording_mode": enum("none", "always", "on_demand"),
            "second_factor": enum("email", "totp"), "webphone_pool_id": NULLABLE_ID,
            "webphone_extension": string(32, pattern=r"^[0-9]{1,32}$", nullable=True,
                                         message="must be digits only"),
            "webphone_lines": integer(-1, 64), "conference_rooms": integer(-1, 64),
            "beep": integer(-1, 1), "move_queue": integer(-1, 1),
            "webphone_mode": enum("exclusivo", "multiterminal"),
            "webphone_position": integer(0, 7, nullable=True)},
    write_only={"password": string(256, min_length=8),
                "pin": string(12, pattern=r"^([0-9]{4,12})?$", nullable=True,
                              message="must be 4 to 12 digits")},
    required=("display_name", "login_number", "password"),
    hidden=("password_hash", "pin_hash"), extra_out=("created_at",),
    booleans=("enabled", "personal_comms"), number_kind="user", number_column="login_number",
    search=("display_name", "login_number", "username", "email"), order_by="login_number",
    validate=validate_user, transform=transform_user, on_change=user_changed,
    create_defaults=lambda: {"created_at": time.time()})


# --- extensions ------------------------------------------------------------------------------
EXT_REFS = {"owner_user_id": "users", "template_id": "extension_templates",
            "category_id": "categories", "pool_id": "webphone_pools", "node_id": "nodes"}


async def validate_extension(ctx: Ctx, db: Executor, body: dict[str, Any], current: Row | None
                             ) -> None:
    await _check_refs(db, body, EXT_REFS)
    merged = {"kind": "hard", **(current or {}), **body}
    if merged.get("pool_id") and merged["kind"] != "web":
        fail(422, "pool_id: only web extensions belong to a webphone pool")
    if merged.get("pool_id") and current is not None and body.get("kind") == "hard":
        fail(422, "kind: an extension of a webphone pool must stay web")


EXTENSIONS = Resource(
    name="extensions", table="extensions", summary="extensions",
    fields={"number": NUMBER, "kind": enum("hard", "web"), "owner_user_id": NULLABLE_ID,
            "node_id": integer(1, 2**31 - 1, nullable=True), "template_id": NULLABLE_ID,
            "category_id": NULLABLE_ID, "pool_id": NULLABLE_ID, "mobility_enabled": boolean(),
            "line_count": integer(1, 64), "conference_rooms": integer(0, 64),
            "beep": boolean(), "recording_mode": enum("none", "always", "on_demand")},
    required=("number",), booleans=("mobility_enabled", "beep"), number_kind="extension",
    search=("number",), order_by="number", validate=validate_extension)


# --- phones ----------------------------------------------------------------------------------
async def validate_phone(ctx: Ctx, db: Executor, body: dict[str, Any], current: Row | None
                         ) -> None:
    await _check_refs(db, body, {"category_id": "categories"})
    ext_id = current["extension_id"] if current else body["extension_id"]
    ext = await db.fetchone("SELECT id, number, pool_id FROM extensions WHERE id = ?", (ext_id,))
    if ext is None:
        fail(422, f"extension_id: there is no extension {ext_id}")
    if ext["pool_id"] is not None:
        fail(422, f"extension {ext['number']} is a pool web extension, and a pool web extension "
                  f"cannot be multiterminal (no phones of its own)")
    merged = {"secure": False, "publishable": False, "is_webcall": False,
              **{k: bool(v) for k, v in (current or {}).items()
                 if k in ("secure", "publishable", "is_webcall")}, **body}
    if merged["publishable"] and not merged["secure"]:
        fail(422, "publishable: a phone can be published on the internet only if it is secure")
    if merged["is_webcall"] and (merged["secure"] or merged["publishable"]):
        fail(422, "is_webcall: the Web Call phone can be neither secure nor publishable")
    taken = {int(r["position"]): int(r["id"]) for r in await db.fetchall(
        "SELECT id, position FROM phones WHERE extension_id = ?", (ext_id,))}
    if current is None:
        if len(taken) >= MAX_PHONES:
            fail(422, f"extension {ext['number']} already has {MAX_PHONES} phones, the most a "
                      f"multiterminal extension can have")
        if "position" not in body:
            body["position"] = min(p for p in range(MAX_PHONES) if p not in taken)
        if "sip_username" not in body:
            body["sip_username"] = (str(ext["number"]) if body["position"] == 0
                                    else f"{ext['number']}-{body['position']}")
    position = body.get("position")
    if position is not None and taken.get(position, current["id"] if current else None) != (
            current["id"] if current else None):
        fail(409, f"position {position} on extension {ext['number']} is already taken")
    username = body.get("sip_username")
    if username is not None and await db.fetchval(
            "SELECT COUNT(*) AS n FROM phones WHERE sip_username = ? AND id <> ?",
            (username, current["id"] if current else 0)):
        fail(409, f"sip_username {username} is already in use")
    if "sip_password" in body:
        user = username or (current or {}).get("sip_username")
        secret = body.pop("sip_password")
        body["sip_ha1_md5"] = digest_ha1(str(user), ctx.settings.realm, secret, "MD5")
        body["sip_ha1_sha256"] = digest_ha1(str(user), ctx.settings.realm, secret, "SHA-256")
        body["secret_expires_at"] = None


PHONES = Resource(
    name="phones", table="phones", summary="phones (up to eight per extension)",
    fields={"extension_id": ID, "model": string(64, min_length=1), "position": integer(0, 7),
            "ring_order": integer(0, 1000), "enabled": boolean(), "secure": boolean(),
            "publishable": boolean(), "is_webcall": boolean(), "category_id": NULLABLE_ID,
            "sip_username": string(64, pattern=r"^[A-Za-z0-9._-]{1,64}$",
                                   message="letters, digits and . _ - only")},
    write_only={"sip_password": string(128, min_length=8)},
    required=("extension_id",), create_only=("extension_id",),
    hidden=("sip_ha1_md5", "sip_ha1_sha256"), extra_out=("secret_expires_at",),
    booleans=("enabled", "secure", "publishable", "is_webcall"),
    search=("sip_username", "model"), order_by="extension_id, position",
    validate=validate_phone)


# --- webphone pools --------------------------------------------------------------------------
RANGES = string(1024, pattern=r"^\s*(\d{1,32}(\s*-\s*\d{1,32})?\s*(,\s*\d{1,32}(\s*-\s*\d{1,32})?"
                              r"\s*)*)?$",
                message="must be numbers and ranges separated by commas, like 7000-7009, 7020")


def pool_numbers(ranges: str) -> list[str]:
    """Expand ``7000-7009, 7020`` into the numbers, refusing reversed or huge ranges."""
    numbers: list[str] = []
    for part in (p.strip() for p in ranges.split(",")):
        if not part:
            continue
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if m is None:
            numbers.append(part)
            continue
        low, high = m.group(1), m.group(2)
        if len(low) != len(high) or int(low) > int(high):
            fail(422, f"ranges: {part} is not an ascending range of numbers of the same length")
        if int(high) - int(low) + 1 + len(numbers) > POOL_MAX_NUMBERS:
            fail(422, f"ranges: a pool may hold at most {POOL_MAX_NUMBERS} numbers")
        numbers += [str(n).zfill(len(low)) for n in range(int(low), int(high) + 1)]
    if len(numbers) > POOL_MAX_NUMBERS:
        fail(422, f"ranges: a pool may hold at most {POOL_MAX_NUMBERS} numbers")
    if len(set(numbers)) != len(numbers):
        fail(422, "ranges: a number appears twice")
    return numbers


async def validate_pool(ctx: Ctx, db: Executor, body: dict[str, Any], current: Row | None
                        ) -> None:
    if "ranges" in body:
        pool_numbers(body["ranges"])


async def _sync_pool(ctx: Ctx, db: Executor, pool_id: int, body: dict[str, Any],
                     current: Row | None) -> None:
    if "ranges" not in body:
        return
    wanted = pool_numbers(body["ranges"])
    existing = {str(r["number"]): int(r["id"]) for r in await db.fetchall(
        "SELECT id, number FROM extensions WHERE pool_id = ?", (pool_id,))}
    for num in wanted:
        if num not in existing:
            await reserve_number(db, num, "extension")
            await db.execute("INSERT INTO extensions (number, kind, pool_id) VALUES (?, 'web', ?)",
                             (num, pool_id))
    for num, ext_id in existing.items():
        if num not in wanted:
            await db.execute("DELETE FROM extensions WHERE id = ?", (ext_id,))
            await db.execute("DELETE FROM numbering WHERE number = ? AND kind = 'extension'",
                             (num,))


async def _delete_pool_extensions(ctx: Ctx, db: Executor, body: dict[str, Any],
                                  current: Row | None) -> None:
    assert current is not None
    await _sync_pool(ctx, db, int(current["id"]), {"ranges": ""}, current)


POOLS = Resource(
    name="webphone_pools", table="webphone_pools", summary="webphone pools",
    fields={"name": NAME, "base_extension": DIAL_NUMBER, "ranges": RANGES},
    required=("name",), validate=validate_pool, after_create=_sync_pool,
    after_update=_sync_pool, before_delete=_delete_pool_extensions, order_by="name")


# --- categories, mobility groups, sites, departments ------------------------------------------
def _check_classes(value: str) -> None:
    items = [c.strip() for c in value.split(",") if c.strip()]
    unknown = [c for c in items if c not in CLASSES]
    if unknown:
        fail(422, f"allowed: unknown destination class {unknown[0]!r}; use "
                  + ", ".join(CLASSES))


async def validate_category(ctx: Ctx, db: Executor, body: dict[str, Any], current: Row | None
                            ) -> None:
    if "allowed" in body:
        _check_classes(body["allowed"])


CATEGORIES = Resource(
    name="categories", table="categories", summary="categories",
    fields={"name": string(64, min_length=1, pattern=r"\S", message="must not be blank"),
            "allowed": string(255), "description": string(255)},
    required=("name",), validate=validate_category, order_by="name")

MOBILITY = Resource(name="mobility_groups", table="mobility_groups",
                    summary="mobility groups", fields={"name": NAME}, required=("name",),
                    order_by="name")

SITES = Resource(name="sites", table="sites", summary="sites",
                 fields={"name": NAME, "address": string(255)}, required=("name",),
                 order_by="name")


async def validate_department(ctx: Ctx, db: Executor, body: dict[str, Any],
                              current: Row | None) -> None:
    await _check_refs(db, body, {"site_id": "sites"})


DEPARTMENTS = Resource(name="departments", table="departments", summary="departments",
                       fields={"name": NAME, "site_id": NULLABLE_ID}, required=("name",),
                       validate=validate_department, order_by="name")


# --- queues ----------------------------------------------------------------------------------
async def validate_queue(ctx: Ctx, db: Executor, body: dict[str, Any], current: Row | None
                         ) -> None:
    """Each kind of group has its own settings: wrap-up time only for ACD groups (agents);
    position announcements and a waiting limit only where callers wait (operator, ACD)."""
    merged = {**(current or {}), **body}
    kind = merged.get("kind")
    if merged.get("wrapup_s") and kind != "acd":
        fail(422, f"wrapup_s: only corporate ACD groups have wrap-up time (this is a {kind} "
                  f"group)")
    if kind == "hunt":
        for key, default in (("announce_s", 30), ("max_waiting", 0)):
            if key in body and body[key] != default:
                fail(422, f"{key}: a hunt group keeps nobody waiting, so it has no "
                          f"{'position announcements' if key == 'announce_s' else 'waiting limit'}")


QUEUES = Resource(
    name="queues", table="queues",
    summary="groups (hunt «grupo de salto», operator «grupo de operadoras», corporate ACD)",
    fields={"number": NUMBER, "name": NAME, "kind": enum("hunt", "operator", "acd"),
            "strategy": enum("ringall", "linear", "roundrobin", "leastrecent", "fewestcalls",
                             "random"),
            "ring_timeout_s": integer(1, 3600), "timeout_s": integer(1, 86400),
            "overflow_target": DIAL_NUMBER, "stats_enabled": boolean(),
            "wrapup_s": integer(0, 3600), "sla_s": integer(1, 3600),
            "announce_s": integer(0, 3600), "max_waiting": integer(0, 10000),
            # sticky agent: a returning caller goes first to the member who last spoke with
            # them within this many seconds (0: off)
            "sticky_window_s": integer(0, 2592000)},
    required=("number", "name", "kind"), booleans=("stats_enabled",), number_kind="queue",
    search=("number", "name"), order_by="number", validate=validate_queue)

# --- trunks and mdflow -----------------------------------------------------------------------
async def validate_trunk(ctx: Ctx, db: Executor, body: dict[str, Any], current: Row | None
                         ) -> None:
    merged = {**(current or {}), **body}
    if merged.get("srtp") and merged.get("transport", "udp") != "tls":
        fail(422, "srtp: SDES-SRTP keys travel in the signalling, so a trunk with srtp must "
                  "use transport tls")


TRUNKS = Resource(
    name="trunks", table="trunks", summary="trunks (gateways tried by priority)",
    fields={"name": string(64, min_length=1, pattern=r"^[A-Za-z0-9_.-]+$",
                           message="letters, digits and _ . - only"),
            "host": string(255, min_length=1, pattern=r"^[A-Za-z0-9.:\[\]-]+$",
                           message="must be a host name or IP address"),
            "port": integer(1, 65535), "transport": enum("udp", "tcp", "tls"),
            "priority": integer(0, 1000), "enabled": boolean(), "ip_auth": boolean(),
            "username": string(64), "prefix_strip": integer(0, 32), "srtp": boolean(),
            "tls_server_name": string(255, pattern=r"^[A-Za-z0-9.-]*$",
                                      message="must be a DNS name")},
    required=("name", "host"), booleans=("enabled", "ip_auth", "srtp"),
    search=("name", "host"), order_by="priority, id", validate=validate_trunk)

MDFLOW = Resource(
    name="mdflow_flows", table="mdflow_flows", summary="mdflow flows",
    fields={"section": string(64, min_length=1, pattern=r"^[A-Za-z0-9_]+$",
                              message="letters, digits and _ only"),
            "flujo": string(128, min_length=1), "en_paso": boolean(),
            "tasa_sal_seg": number(0.001, 1e6), "dnis_max": integer(0, 100000),
            "dnis_umbral_masivo": integer(1, 1000000), "to_desborda_seg": number(0.001, 86400)},
    required=("section", "flujo"), booleans=("en_paso",), search=("section", "flujo"),
    order_by="section")

TEMPLATES = Resource(name="extension_templates", table="extension_templates",
                     summary="extension templates",
                     fields={"name": string(64, min_length=1, pattern=r"\S",
                                            message="must not be blank"),
                             "description": string(255)},
                     required=("name",), order_by="name")

for _resource in (USERS, EXTENSIONS, PHONES, POOLS, CATEGORIES, MOBILITY, SITES, DEPARTMENTS,
                  QUEUES, TRUNKS, MDFLOW, TEMPLATES):
    register(api, _resource)


# --- queue members ---------------------------------------------------------------------------
MEMBER = obj({"queue_id": ID, "extension_id": ID, "extension": string(32),
              "penalty": integer(0), "paused": boolean(), "dynamic": boolean(),
              "logged_in": boolean(), "pause_reason": string(64)}, closed=False)
MEMBER_IN = obj({"penalty": integer(0, 1000), "paused": boolean(), "dynamic": boolean(),
                 "logged_in": boolean(), "pause_reason": string(64)})


async def _members(db: Executor, queue_id: int) -> list[Row]:
    rows = await db.fetchall(
        "SELECT m.queue_id, m.extension_id, e.number AS extension, m.penalty, m.paused, "
        "m.dynamic, m.logged_in, m.pause_reason FROM queue_members m "
        "JOIN extensions e ON e.id = m.extension_id "
        "WHERE m.queue_id = ? ORDER BY m.penalty, e.number", (queue_id,))
    for r in rows:
        r["paused"], r["dynamic"] = bool(r["paused"]), bool(r["dynamic"])
        r["logged_in"] = bool(r["logged_in"])
    return rows


async def _queue_or_404(ctx: Ctx) -> None:
    if not await _exists(ctx.store, "queues", ctx.path["id"]):
        not_found(f"queue {ctx.path['id']} not found")


@api.op("GET", "/fonbo/admin/queues/{id}/members", summary="Members of a queue", tag="admin",
        auth="admin", path_params={"id": ID},
        responses={200: Response("Members", obj({"items": array(MEMBER)}))})
async def admin_list_queue_members(ctx: Ctx) -> web.Response:
    await _queue_or_404(ctx)
    return json_response({"items": await _members(ctx.store, ctx.path["id"])})


@api.op("PUT", "/fonbo/admin/queues/{id}/members/{extension_id}",
        summary="Add an extension to a queue or change its penalty/pause", tag="admin",
        auth="admin", path_params={"id": ID, "extension_id": ID}, body=MEMBER_IN,
        responses={200: Response("Members", obj({"items": array(MEMBER)}))})
async def admin_put_queue_member(ctx: Ctx) -> web.Response:
    await _queue_or_404(ctx)
    ext_id = ctx.path["extension_id"]
    if not await _exists(ctx.store, "extensions", ext_id):
        not_found(f"extension {ext_id} not found")
    kind = await ctx.store.fetchval("SELECT kind FROM queues WHERE id = ?", (ctx.path["id"],))
    if ctx.body.get("logged_in") is False and kind != "acd":
        fail(422, f"logged_in: members of a {kind} group do not log in or out (only corporate "
                  f"ACD groups have agent login)")
    row = {"queue_id": ctx.path["id"], "extension_id": ext_id, "penalty": 0, "paused": 0,
           "dynamic": 0, "logged_in": 1, "pause_reason": "", "state_since": time.time()}
    current = await ctx.store.fetchone(
        "SELECT penalty, paused, dynamic, logged_in, pause_reason FROM queue_members "
        "WHERE queue_id = ? AND extension_id = ?", (ctx.path["id"], ext_id))
    row.update(current or {})
    row.update({k: int(v) if isinstance(v, bool) else v for k, v in ctx.body.items()})
    if not row["paused"]:
        row["pause_reason"] = ""
    async with ctx.store.transaction() as tx:
        await tx.upsert("queue_members", row, ("queue_id", "extension_id"))
        await audit(ctx, tx, "put queue member", f"queues/{ctx.path['id']}", row)
    await publish_change(ctx, "queue_members", ctx.path["id"])
    return json_response({"items": await _members(ctx.store, ctx.path["id"])})


@api.op("DELETE", "/fonbo/admin/queues/{id}/members/{extension_id}",
        summary="Remove an extension from a queue", tag="admin", auth="admin",
        path_params={"id": ID, "extension_id": ID},
        responses={204: Response("Removed", media="")})
async def admin_delete_queue_member(ctx: Ctx) -> web.Response:
    key = (ctx.path["id"], ctx.path["extension_id"])
    if not await ctx.store.fetchval("SELECT COUNT(*) AS n FROM queue_members WHERE queue_id = ? "
                                    "AND extension_id = ?", key):
        not_found("that extension is not a member of this queue")
    async with ctx.store.transaction() as tx:
        await tx.execute("DELETE FROM queue_members WHERE queue_id = ? AND extension_id = ?", key)
        await audit(ctx, tx, "delete queue member", f"queues/{key[0]}",
                    {"extension_id": key[1]})
    await publish_change(ctx, "queue_members", ctx.path["id"])
    return web.Response(status=204)
