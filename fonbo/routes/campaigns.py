"""Admin API of the dialler campaigns: campaigns (CRUD), their number lists (CSV import with an
error per bad line), starting, pausing and stopping them, their status and per-number results
(JSON and CSV export).

The PBX's dialler (:mod:`pbx.campaigns`) runs what is ``running`` here; every change is in the
store, so it takes effect at the dialler's next look (a fraction of a second). A campaign
calls on its owner's behalf: their category decides which numbers it may reach.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response, not_found
from fonbo.campaign_csv import parse_numbers, write_results
from fonbo.crud import Resource, audit, register
from fonbo.formats import decode_text
from fonbo.routes.events import publish_change
from fonbo.schema import (
    ID,
    array,
    boolean,
    enum,
    integer,
    number,
    obj,
    string,
)
from webfon.store.base import Executor, Row
from webfon.timewindow import TimeWindow, WindowError

api = Api()

STATES = ("draft", "running", "paused", "finished", "stopped")
OUTCOMES = ("answered", "busy", "no_answer", "failed", "refused")
NUMBER_STATES = ("pending", "dialling", "done")
_WINDOW_DEFAULTS = {"days": "mon,tue,wed,thu,fri", "time_from": "09:00", "time_to": "20:00",
                    "timezone": "Europe/Madrid"}


async def validate_campaign(ctx: Ctx, db: Executor, body: dict[str, Any], current: Row | None
                            ) -> None:
    merged = {**_WINDOW_DEFAULTS, **(current or {}), **body}
    try:
        TimeWindow.parse(merged["days"], merged["time_from"], merged["time_to"],
                         merged["timezone"])
    except WindowError as exc:
        fail(422, str(exc), errors=[{"field": exc.field, "message": exc.message}])
    if "owner_user_id" in body and not await db.fetchval(
            "SELECT COUNT(*) AS n FROM users WHERE id = ?", (body["owner_user_id"],)):
        fail(422, f"owner_user_id: there is no user {body['owner_user_id']}")
    if "destination" in body:
        kind = await db.fetchval("SELECT kind FROM numbering WHERE number = ?",
                                 (body["destination"],))
        if kind not in ("queue", "ivr"):
            fail(422, f"destination: {body['destination']} is not a group, queue or IVR menu")


async def refuse_running(ctx: Ctx, db: Executor, body: dict[str, Any], current: Row | None
                         ) -> None:
    assert current is not None
    if current["state"] == "running":
        fail(409, "the campaign is running: pause or stop it first")


RETRY_S = integer(1, 604800)
CAMPAIGNS = Resource(
    name="campaigns", table="campaigns",
    summary="dialler campaigns (numbers called for their owner, answered calls sent to a "
            "group, queue or IVR)",
    fields={"name": string(128, min_length=1, pattern=r"\S", message="must not be blank"),
            "owner_user_id": ID,
            "destination": string(32, min_length=1, pattern=r"^[0-9]{1,32}$",
                                  message="must be digits only"),
            "max_concurrent": integer(1, 200), "calls_per_s": number(0.01, 50),
            "ring_timeout_s": integer(1, 300), "days": string(64), "time_from": string(5),
            "time_to": string(5), "timezone": string(64),
            "busy_retries": integer(0, 20), "busy_retry_s": RETRY_S,
            "no_answer_retries": integer(0, 20), "no_answer_retry_s": RETRY_S,
            "failed_retries": integer(0, 20), "failed_retry_s": RETRY_S},
    extra_out=("state", "created_at", "started_at", "finished_at"),
    required=("name", "owner_user_id", "destination"), search=("name", "destination"),
    order_by="id DESC", validate=validate_campaign, before_delete=refuse_running,
    create_defaults=lambda: {"created_at": time.time()})
register(api, CAMPAIGNS)


async def _campaign(ctx: Ctx) -> Row:
    row = await ctx.store.fetchone("SELECT id, name, state, started_at FROM campaigns "
                                   "WHERE id = ?", (ctx.path["id"],))
    if row is None:
        not_found(f"campaign {ctx.path['id']} not found")
    return row


IMPORT_RESULT = obj({"imported": integer(0), "already": integer(0), "skipped": integer(0),
                     "errors": array(obj({"line": integer(1), "message": string(500)}))})


@api.op("POST", "/fonbo/admin/campaigns/{id}/numbers/import",
        summary="Add numbers to a campaign from CSV (all or nothing unless partial=true)",
        tag="admin", auth="admin", path_params={"id": ID}, query={"partial": boolean()},
        raw_body={"text/csv": {"type": "string"}},
        description="Columns `number` and optional `name` (a header line is optional: "
                    "without one the first column is the number). Each bad line is reported "
                    "with its line number and why; without partial=true nothing is imported "
                    "when any line is bad. Numbers already in the campaign are left as they "
                    "are (`already`).",
        responses={200: Response("Imported", IMPORT_RESULT),
                   422: Response("Bad lines; nothing imported unless partial=true")})
async def admin_import_campaign_numbers(ctx: Ctx) -> web.Response:
    campaign = await _campaign(ctx)
    raw = await ctx.request.read()
    if not raw.strip():
        fail(400, "empty body: send the CSV file as the request body")
    parsed = parse_numbers(decode_text(raw), ctx.settings.campaign_import_max_rows)
    errors = [e.as_dict() for e in parsed.errors]
    if errors and not ctx.query.get("partial", False):
        fail(422, f"{len(errors)} line(s) have errors; nothing was imported", errors=errors)
    imported = already = 0
    async with ctx.store.transaction() as tx:
        existing = {r["number"] for r in await tx.fetchall(
            "SELECT number FROM campaign_numbers WHERE campaign_id = ?", (campaign["id"],))}
        for _, num, name in parsed.numbers:
            if num in existing:
                already += 1
                continue
            await tx.execute("INSERT INTO campaign_numbers (campaign_id, number, name) "
                             "VALUES (?, ?, ?)", (campaign["id"], num, name))
            imported += 1
        await audit(ctx, tx, "import campaign numbers", f"campaigns/{campaign['id']}",
                    {"imported": imported, "already": already, "skipped": len(errors)})
    await publish_change(ctx, "campaign_numbers", campaign["id"])
    return json_response({"imported": imported, "already": already, "skipped": len(errors),
                          "errors": errors})


NUMBER_OUT = obj({"id": ID, "number": string(32), "name": string(128),
                  "state": enum(*NUMBER_STATES), "attempts": integer(0),
                  "outcome": string(10), "last_status": integer(0),
                  "last_reason": string(128),
                  "last_attempt_at": number(0, nullable=True),
                  "answered_at": number(0, nullable=True)}, closed=False)
_NUMBER_COLS = "id, number, name, state, attempts, outcome, last_status, last_reason, " \
               "last_attempt_at, answered_at"


@api.op("GET", "/fonbo/admin/campaigns/{id}/numbers", summary="A campaign's numbers and "
        "their results", tag="admin", auth="admin", path_params={"id": ID},
        query={"state": enum(*NUMBER_STATES), "outcome": enum(*OUTCOMES),
               "q": string(32), "limit": integer(1, 1000), "offset": integer(0, 10**9)},
        responses={200: Response("Numbers", obj({"items": array(NUMBER_OUT),
                                                 "total": integer(0)}))})
async def admin_list_campaign_numbers(ctx: Ctx) -> web.Response:
    campaign = await _campaign(ctx)
    where, params = ["campaign_id = ?"], [campaign["id"]]
    for key in ("state", "outcome"):
        if key in ctx.query:
            where.append(f"{key} = ?")
            params.append(ctx.query[key])
    if ctx.query.get("q"):
        where.append("number LIKE ?")
        params.append("%" + "".join(ch for ch in ctx.query["q"] if ch.isalnum()) + "%")
    cond = " AND ".join(where)
    total = await ctx.store.fetchval(f"SELECT COUNT(*) AS n FROM campaign_numbers WHERE {cond}",
                                     params)
    rows = await ctx.store.fetchall(
        f"SELECT {_NUMBER_COLS} FROM campaign_numbers WHERE {cond} ORDER BY id LIMIT ? "
        f"OFFSET ?", [*params, ctx.query.get("limit", 100), ctx.query.get("offset", 0)])
    return json_response({"items": rows, "total": int(total or 0)})


@api.op("DELETE", "/fonbo/admin/campaigns/{id}/numbers/{number_id}",
        summary="Take a number out of a campaign", tag="admin", auth="admin",
        path_params={"id": ID, "number_id": ID},
        responses={204: Response("Removed", media=""),
                   409: Response("Being called right now")})
async def admin_delete_campaign_number(ctx: Ctx) -> web.Response:
    campaign = await _campaign(ctx)
    row = await ctx.store.fetchone("SELECT state FROM campaign_numbers WHERE id = ? AND "
                                   "campaign_id = ?", (ctx.path["number_id"], campaign["id"]))
    if row is None:
        not_found("that number is not in this campaign")
    if row["state"] == "dialling":
        fail(409, "that number is being called right now")
    async with ctx.store.transaction() as tx:
        await tx.execute("DELETE FROM campaign_numbers WHERE id = ?", (ctx.path["number_id"],))
        await audit(ctx, tx, "delete campaign number", f"campaigns/{campaign['id']}",
                    {"number_id": ctx.path["number_id"]})
    return web.Response(status=204)


STATUS_OUT = obj({"id": ID, "name": string(128), "state": enum(*STATES),
                  "numbers": integer(0), "pending": integer(0), "dialling": integer(0),
                  "done": integer(0), "attempts": integer(0),
                  "outcomes": obj({o: integer(0) for o in OUTCOMES}, closed=False)},
                 closed=False)


async def _status(ctx: Ctx, campaign: Row) -> dict[str, Any]:
    by_state = {r["state"]: int(r["n"]) for r in await ctx.store.fetchall(
        "SELECT state, COUNT(*) AS n FROM campaign_numbers WHERE campaign_id = ? "
        "GROUP BY state", (campaign["id"],))}
    by_outcome = {r["outcome"]: int(r["n"]) for r in await ctx.store.fetchall(
        "SELECT outcome, COUNT(*) AS n FROM campaign_numbers WHERE campaign_id = ? AND "
        "state = 'done' GROUP BY outcome", (campaign["id"],))}
    attempts = await ctx.store.fetchval(
        "SELECT COALESCE(SUM(attempts), 0) AS n FROM campaign_numbers WHERE campaign_id = ?",
        (campaign["id"],))
    return {"id": campaign["id"], "name": campaign["name"], "state": campaign["state"],
            "numbers": sum(by_state.values()),
            **{s: by_state.get(s, 0) for s in NUMBER_STATES},
            "attempts": int(attempts or 0),
            "outcomes": {o: by_outcome.get(o, 0) for o in OUTCOMES}}


@api.op("GET", "/fonbo/admin/campaigns/{id}/status", summary="A campaign's progress",
        tag="admin", auth="admin", path_params={"id": ID},
        description="`outcomes` counts the numbers that are done, by final outcome.",
        responses={200: Response("Status", STATUS_OUT)})
async def admin_campaign_status(ctx: Ctx) -> web.Response:
    return json_response(await _status(ctx, await _campaign(ctx)))


_TRANSITIONS = {"start": (("draft", "paused", "stopped", "finished"), "running"),
                "pause": (("running",), "paused"),
                "stop": (("running", "paused"), "stopped")}


@api.op("POST", "/fonbo/admin/campaigns/{id}/control",
        summary="Start, pause or stop a campaign", tag="admin", auth="admin",
        path_params={"id": ID}, body=obj({"action": enum(*_TRANSITIONS)}, ("action",)),
        description="start: a draft, paused, stopped or finished campaign runs (new numbers "
                    "of a finished one get called); pause: no new calls until started again; "
                    "stop: no new calls, the campaign is over (calls in progress end by "
                    "themselves in every case).",
        responses={200: Response("Status", STATUS_OUT),
                   409: Response("Not possible in the campaign's state")})
async def admin_control_campaign(ctx: Ctx) -> web.Response:
    campaign = await _campaign(ctx)
    action = ctx.body["action"]
    allowed, new_state = _TRANSITIONS[action]
    if campaign["state"] not in allowed:
        fail(409, f"cannot {action} a {campaign['state']} campaign")
    now = time.time()
    async with ctx.store.transaction() as tx:
        if action == "start" and not await tx.fetchval(
                "SELECT COUNT(*) AS n FROM campaign_numbers WHERE campaign_id = ? AND "
                "state = 'pending'", (campaign["id"],)):
            fail(409, "the campaign has no number left to call: import some first")
        changes: dict[str, Any] = {"state": new_state}
        if action == "start":
            changes["finished_at"] = None
            if campaign["started_at"] is None:
                changes["started_at"] = now
        else:
            changes.update(lease_owner="", lease_until=0)
        if action == "stop":
            changes["finished_at"] = now
        sets = ", ".join(f"{k} = ?" for k in changes)
        await tx.execute(f"UPDATE campaigns SET {sets} WHERE id = ? AND state = ?",
                         [*changes.values(), campaign["id"], campaign["state"]])
        await audit(ctx, tx, f"{action} campaign", f"campaigns/{campaign['id']}")
    await publish_change(ctx, "campaigns", campaign["id"])
    return json_response(await _status(ctx, {**campaign, "state": new_state}))


def _iso(value: Any) -> str:
    if value is None:
        return ""
    return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@api.op("GET", "/fonbo/admin/campaigns/{id}/results.csv",
        summary="A campaign's results per number as CSV", tag="admin", auth="admin",
        path_params={"id": ID},
        description="number, name, state, outcome, attempts, last_status, last_reason, "
                    "last_attempt_at, answered_at (UTC, ISO 8601); cells that could run as "
                    "spreadsheet formulas are quoted.",
        responses={200: Response("CSV", {"type": "string"}, media="text/csv")})
async def admin_export_campaign(ctx: Ctx) -> web.Response:
    campaign = await _campaign(ctx)
    rows = await ctx.store.fetchall(
        f"SELECT {_NUMBER_COLS} FROM campaign_numbers WHERE campaign_id = ? ORDER BY id",
        (campaign["id"],))
    for r in rows:
        r["last_attempt_at"], r["answered_at"] = _iso(r["last_attempt_at"]), \
            _iso(r["answered_at"])
    safe = "".join(ch if ch.isalnum() else "_" for ch in campaign["name"])[:60] or "campaign"
    return web.Response(text=write_results(rows), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{safe}-results.csv"'})
