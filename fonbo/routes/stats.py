"""Corporate statistics read back: per group and 15-minute period (offered, answered,
abandoned, overflowed, moved, waits, talk, service level) and the IVR and free (VV)
accumulators, as JSON and as CSV.

Groups' statistics are for admins (every group) and supervisors (the groups they supervise);
the accumulators are not tied to a group and are for admins only. A range is at most
``stats_max_days`` long; without one, the last 24 hours.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response, not_found
from fonbo.formats import csv_cell
from fonbo.repo import acd
from fonbo.repo.util import placeholders
from fonbo.schema import ID, array, enum, integer, number, obj, string

api = Api()

PERIOD_S = 900
DAY_S = 86400

RANGE = {"from": number(0, 4e9), "to": number(0, 4e9)}
PERIOD = obj({"queue_id": ID, "number": string(32), "name": string(128), "kind": string(16),
              "period_start": number(), "offered": integer(0), "answered": integer(0),
              "abandoned": integer(0), "overflowed": integer(0), "moved": integer(0),
              "answered_in_sla": integer(0), "service_level": number(0, 100),
              "avg_wait_s": number(), "max_wait_s": number(), "avg_talk_s": number(),
              "sla_s": integer(0)}, closed=False)
ACCUMULATOR = obj({"period_start": number(), "name": string(128), "key": string(128),
                   "count": integer()})
CSV_MEDIA = "text/csv"
QUEUE_COLUMNS = ("period_start", "number", "name", "kind", "offered", "answered", "abandoned",
                 "overflowed", "moved", "answered_in_sla", "service_level", "avg_wait_s",
                 "max_wait_s", "avg_talk_s", "sla_s")


def _range(ctx: Ctx) -> tuple[float, float]:
    now = time.time()
    to = float(ctx.query.get("to", now))
    start = float(ctx.query.get("from", to - DAY_S))
    if start >= to:
        fail(400, "from: must be before to")
    if to - start > ctx.settings.stats_max_days * DAY_S:
        fail(400, f"the range may span at most {ctx.settings.stats_max_days} days")
    # whole periods: the one ``from`` falls in, up to the one before ``to``
    return float(int(start // PERIOD_S) * PERIOD_S), to


async def _visible_queues(ctx: Ctx) -> dict[int, dict[str, Any]]:
    rows = await (acd.all_queues(ctx.store) if ctx.is_admin
                  else acd.supervised(ctx.store, ctx.user_id))
    if not rows and not ctx.is_admin:
        fail(403, "group statistics are for admins and the groups' supervisors")
    wanted = ctx.query.get("queue_id")
    queues = {int(r["id"]): r for r in rows}
    if wanted is not None:
        if wanted not in queues:
            not_found(f"queue {wanted} not found")
        queues = {wanted: queues[wanted]}
    return queues


def _period_row(r: dict[str, Any], q: dict[str, Any]) -> dict[str, Any]:
    offered = int(r["offered"])
    answered = int(r["answered"])
    return {"queue_id": int(r["queue_id"]), "number": q["number"], "name": q["name"],
            "kind": q["kind"], "period_start": float(r["period_start"]), "offered": offered,
            "answered": answered, "abandoned": int(r["abandoned"]),
            "overflowed": int(r["overflowed"]), "moved": int(r["moved"]),
            "answered_in_sla": int(r["answered_in_sla"]),
            "service_level": round(100.0 * int(r["answered_in_sla"]) / offered, 1)
            if offered else 0.0,
            "avg_wait_s": round(float(r["wait_total_s"]) / offered, 1) if offered else 0.0,
            "max_wait_s": round(float(r["max_wait_s"]), 1),
            "avg_talk_s": round(float(r["talk_total_s"]) / answered, 1) if answered else 0.0,
            "sla_s": int(q["sla_s"])}


async def _queue_periods(ctx: Ctx) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]],
                                            tuple[float, float]]:
    start, to = _range(ctx)
    queues = await _visible_queues(ctx)
    if not queues:
        return [], queues, (start, to)
    ids = list(queues)
    rows = await ctx.store.fetchall(
        f"SELECT * FROM queue_stats WHERE queue_id IN ({placeholders(ids)}) "
        "AND period_start >= ? AND period_start < ? ORDER BY period_start, queue_id",
        [*ids, start, to])
    return [_period_row(r, queues[int(r["queue_id"])]) for r in rows], queues, (start, to)


def _totals(items: list[dict[str, Any]], queues: dict[int, dict[str, Any]]
            ) -> list[dict[str, Any]]:
    out = []
    for qid, q in queues.items():
        mine = [i for i in items if i["queue_id"] == qid]
        offered = sum(i["offered"] for i in mine)
        answered = sum(i["answered"] for i in mine)
        in_sla = sum(i["answered_in_sla"] for i in mine)
        wait = sum(i["avg_wait_s"] * i["offered"] for i in mine)
        talk = sum(i["avg_talk_s"] * i["answered"] for i in mine)
        out.append({"queue_id": qid, "number": q["number"], "name": q["name"],
                    "kind": q["kind"], "offered": offered, "answered": answered,
                    "abandoned": sum(i["abandoned"] for i in mine),
                    "overflowed": sum(i["overflowed"] for i in mine),
                    "moved": sum(i["moved"] for i in mine), "answered_in_sla": in_sla,
                    "service_level": round(100.0 * in_sla / offered, 1) if offered else 0.0,
                    "avg_wait_s": round(wait / offered, 1) if offered else 0.0,
                    "max_wait_s": max((i["max_wait_s"] for i in mine), default=0.0),
                    "avg_talk_s": round(talk / answered, 1) if answered else 0.0,
                    "sla_s": int(q["sla_s"])})
    return out


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...], filename: str) -> web.Response:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["period_start_iso", *columns])
    for r in rows:
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r["period_start"]))
        writer.writerow([iso, *(csv_cell(r[c]) for c in columns)])
    return web.Response(text=buf.getvalue(), content_type=CSV_MEDIA, charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@api.op("GET", "/fonbo/stats/queues",
        summary="Group statistics per 15-minute period, with totals per group", tag="stats",
        query={**RANGE, "queue_id": ID},
        responses={200: Response("Periods", obj({"from": number(), "to": number(),
                                                 "items": array(PERIOD),
                                                 "totals": array(PERIOD)})),
                   403: Response("Neither admin nor a supervisor")})
async def stats_queues(ctx: Ctx) -> web.Response:
    items, queues, (start, to) = await _queue_periods(ctx)
    return json_response({"from": start, "to": to, "items": items,
                          "totals": _totals(items, queues)})


@api.op("GET", "/fonbo/stats/queues/export",
        summary="Group statistics per 15-minute period as CSV", tag="stats",
        query={**RANGE, "queue_id": ID},
        responses={200: Response("CSV", {"type": "string"}, media=CSV_MEDIA),
                   403: Response("Neither admin nor a supervisor")})
async def stats_queues_export(ctx: Ctx) -> web.Response:
    items, _, _ = await _queue_periods(ctx)
    return _csv(items, QUEUE_COLUMNS, "estadisticas-grupos.csv")


async def _accumulators(ctx: Ctx) -> list[dict[str, Any]]:
    if not ctx.is_admin:
        fail(403, "the accumulators are for admins")
    start, to = _range(ctx)
    kind = ctx.query.get("kind", "ivr")
    table, key = ("ivr_accumulators", "option_value") if kind == "ivr" \
        else ("vv_accumulators", "acc_key")
    where, params = "period_start >= ? AND period_start < ?", [start, to]
    if ctx.query.get("name"):
        where += " AND name = ?"
        params.append(ctx.query["name"])
    rows = await ctx.store.fetchall(
        f"SELECT period_start, name, {key} AS acc, count FROM {table} WHERE {where} "
        f"ORDER BY period_start, name, {key}", params)
    return [{"period_start": float(r["period_start"]), "name": r["name"], "key": r["acc"],
             "count": int(r["count"])} for r in rows]


ACC_QUERY = {**RANGE, "kind": enum("ivr", "vv"), "name": string(128)}


@api.op("GET", "/fonbo/stats/accumulators",
        summary="IVR (Cen_Sub_Acumulados_IVR) or free (Cen_Sub_Acumulados_VV) accumulators "
                "per 15-minute period", tag="stats", auth="admin", query=ACC_QUERY,
        responses={200: Response("Counts", obj({"kind": string(4), "items": array(ACCUMULATOR),
                                                "names": array(string(128))}))})
async def stats_accumulators(ctx: Ctx) -> web.Response:
    items = await _accumulators(ctx)
    return json_response({"kind": ctx.query.get("kind", "ivr"), "items": items,
                          "names": sorted({i["name"] for i in items})})


@api.op("GET", "/fonbo/stats/accumulators/export",
        summary="IVR or free accumulators per 15-minute period as CSV", tag="stats",
        auth="admin", query=ACC_QUERY,
        responses={200: Response("CSV", {"type": "string"}, media=CSV_MEDIA)})
async def stats_accumulators_export(ctx: Ctx) -> web.Response:
    items = await _accumulators(ctx)
    kind = ctx.query.get("kind", "ivr")
    return _csv(items, ("period_start", "name", "key", "count"), f"acumulados-{kind}.csv")
