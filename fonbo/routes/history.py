"""Call history: filtered cursor pages, recents, missed count, CSV export and scroll."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response, not_found
from fonbo.formats import csv_cell
from fonbo.repo import history
from fonbo.repo.history import CursorError, HistoryFilter
from fonbo.schema import (
    ID,
    TIMESTAMP,
    array,
    boolean,
    enum,
    integer,
    number,
    obj,
    string,
)

api = Api()
TAG = "history"

NULLABLE_NUMBER = {**number(0), "nullable": True}
QUALITY = obj({
    "mos": {**number(1, 4.5), "nullable": True}, "loss_pct": NULLABLE_NUMBER,
    "jitter_ms": NULLABLE_NUMBER, "rtt_ms": NULLABLE_NUMBER, "bad": boolean()}, closed=False)
LEG = obj({
    "node": string(64), "leg": string(64), "address": string(64), "network": string(64),
    "codec": string(64), "srtp": boolean(), "rx_packets": integer(0),
    "rx_loss_pct": NULLABLE_NUMBER, "rx_jitter_ms": NULLABLE_NUMBER, "tx_packets": integer(0),
    "remote_loss_pct": NULLABLE_NUMBER, "remote_jitter_ms": NULLABLE_NUMBER,
    "rtt_ms": NULLABLE_NUMBER, "mos": {**number(1, 4.5), "nullable": True}}, closed=False)
RECORD = obj({
    "id": ID, "call_id": string(255), "direction": enum("inbound", "outbound", "internal"),
    "outgoing": boolean(), "missed": boolean(), "peer_number": string(64),
    "peer_name": string(128), "peer_contact_name": string(128), "caller": string(64),
    "callee": string(64), "extension": string(32), "started_at": TIMESTAMP,
    "answered_at": {**TIMESTAMP, "nullable": True}, "ended_at": TIMESTAMP,
    "duration_s": number(0), "billsec": number(0), "disposition": string(12),
    "trunk": string(64), "quality": QUALITY}, closed=False)
ADMIN_RECORD = obj({
    "id": ID, "call_id": string(255), "direction": enum("inbound", "outbound", "internal"),
    "caller": string(64), "caller_name": string(128), "callee": string(64),
    "extension": string(32), "user_id": {**ID, "nullable": True},
    "peer_user_id": {**ID, "nullable": True}, "started_at": TIMESTAMP,
    "answered_at": {**TIMESTAMP, "nullable": True}, "ended_at": TIMESTAMP,
    "duration_s": number(0), "billsec": number(0), "disposition": string(12),
    "trunk": string(64), "hangup_cause": string(64),
    "quality": obj({**QUALITY["properties"], "legs": array(LEG)}, closed=False)},
    closed=False)
FILTERS = {"direction": enum("inbound", "outbound", "internal"), "missed": boolean(),
           "answered": boolean(), "from": number(0, 1e11), "to": number(0, 1e11),
           "number": string(32, pattern=r"^[0-9+*#]*$",
                            message="must contain only digits, +, * and #"),
           "bad": boolean()}
CSV_COLUMNS = ("started_at", "direction", "outgoing", "missed", "peer_number", "peer_name",
               "caller", "callee", "extension", "disposition", "answered_at", "ended_at",
               "duration_s", "billsec", "call_id", "mos", "loss_pct", "jitter_ms", "rtt_ms")
FILTER_HELP = ("Filters: direction, missed, answered, from/to (epoch seconds, from inclusive, "
               "to exclusive), number (part of caller or callee), bad (true: only calls whose "
               "E-model MOS is below the setting bad_call_mos, 3.6 by default; false: the "
               "others).")


def _filter(ctx: Ctx) -> HistoryFilter:
    q = ctx.query
    return HistoryFilter(direction=q.get("direction"), missed=q.get("missed"),
                         answered=q.get("answered"), since=q.get("from"), until=q.get("to"),
                         number=q.get("number") or None, bad=q.get("bad"),
                         bad_mos=ctx.settings.bad_call_mos)


@api.op("GET", "/fonbo/history", summary="My calls, newest first (cursor paging)", tag=TAG,
        query={**FILTERS, "limit": integer(1, 200), "cursor": string(512)},
        responses={200: Response("A page", obj({
            "items": array(RECORD),
            "next_cursor": string(512, nullable=True)}))},
        description="Pass next_cursor back as cursor for the next page; it is null on the "
                    "last page. Each call carries its quality (MOS, worst loss %, jitter and "
                    "round trip in ms; null when no media was measured). " + FILTER_HELP)
async def list_history(ctx: Ctx) -> web.Response:
    limit = min(ctx.query.get("limit", 50), ctx.settings.history_page_max)
    try:
        items, next_cursor = await history.page(ctx.store, ctx.user_id, _filter(ctx), limit,
                                                ctx.query.get("cursor"))
    except CursorError as exc:
        fail(400, f"cursor: {exc}")
    return json_response({"items": items, "next_cursor": next_cursor})


@api.op("GET", "/fonbo/history/recents", summary="Recent calls, one row per peer", tag=TAG,
        query={"limit": integer(1, 100)},
        responses={200: Response("Recents", obj({"items": array(obj({
            "peer_number": string(64), "peer_name": string(128), "calls": integer(1),
            "missed": integer(0), "last": RECORD}, closed=False))}))})
async def list_recents(ctx: Ctx) -> web.Response:
    items = await history.recents(ctx.store, ctx.user_id, ctx.query.get("limit", 20),
                                  ctx.settings.recents_scan_max)
    return json_response({"items": items})


@api.op("GET", "/fonbo/history/missed-count", summary="How many calls I missed", tag=TAG,
        query={"since": number(0, 1e11)},
        responses={200: Response("Count", obj({"missed": integer(0)}))})
async def missed_count(ctx: Ctx) -> web.Response:
    return json_response({"missed": await history.missed_count(ctx.store, ctx.user_id,
                                                               ctx.query.get("since"))})


@api.op("GET", "/fonbo/history/export", summary="My calls as CSV (oldest first)", tag=TAG,
        query=FILTERS, responses={200: Response("CSV", {"type": "string"}, media="text/csv")})
async def export_history(ctx: Ctx) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": 'attachment; filename="calls.csv"'})
    await response.prepare(ctx.request)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    async for batch in history.iterate(ctx.store, ctx.user_id, _filter(ctx)):
        for rec in batch:
            flat = {**rec, **rec["quality"]}
            writer.writerow([csv_cell(flat[c]) for c in CSV_COLUMNS])
        await response.write(out.getvalue().encode())
        out.seek(0)
        out.truncate()
    if out.getvalue():
        await response.write(out.getvalue().encode())
    await response.write_eof()
    return response


@api.op("GET", "/fonbo/history/scroll", summary="Bulk export: batches in ascending order",
        tag=TAG, query={**FILTERS, "size": integer(1, 5000), "scroll_id": string(2048)},
        responses={200: Response("A batch", obj({
            "items": array(RECORD), "scroll_id": string(2048, nullable=True)}))},
        description="Start with the filters (and size); then call again with only the "
                    "returned scroll_id until it comes back null. The scroll id carries the "
                    "filters and the position, so it works on any FONBO node.")
async def scroll_history(ctx: Ctx) -> web.Response:
    if "scroll_id" in ctx.query:
        try:
            flt, after, size = history.decode_scroll(ctx.query["scroll_id"])
        except CursorError as exc:
            fail(400, f"scroll_id: {exc}")
        if "size" in ctx.query:
            size = ctx.query["size"]
    else:
        flt, after, size = _filter(ctx), None, ctx.query.get("size", 1000)
    size = min(size, ctx.settings.scroll_page_max)
    items, last = await history.scroll(ctx.store, ctx.user_id, flt, after, size)
    return json_response({"items": items,
                          "scroll_id": history.encode_scroll(flt, last, size) if last else None})


@api.op("GET", "/fonbo/admin/history", summary="Every call, newest first, with its quality",
        tag="admin", auth="admin",
        query={**{k: v for k, v in FILTERS.items() if k != "answered"}, "limit": integer(1, 200),
               "cursor": string(512)},
        responses={200: Response("A page", obj({
            "items": array(ADMIN_RECORD), "next_cursor": string(512, nullable=True)}))},
        description="Each call once, with both parties and its quality: MOS, worst loss, "
                    "jitter, end-to-end round trip, and every leg as measured where it was "
                    "relayed (node, the endpoint's address and network — signalling transport, "
                    "or ICE candidate type for a browser —, codec, SRTP, loss and jitter both "
                    "ways, round trip). " + FILTER_HELP)
async def admin_list_history(ctx: Ctx) -> web.Response:
    limit = min(ctx.query.get("limit", 50), ctx.settings.history_page_max)
    try:
        items, next_cursor = await history.admin_page(ctx.store, _filter(ctx), limit,
                                                      ctx.query.get("cursor"))
    except CursorError as exc:
        fail(400, f"cursor: {exc}")
    return json_response({"items": items, "next_cursor": next_cursor})


@api.op("GET", "/fonbo/history/{id}", summary="One call of mine", tag=TAG,
        path_params={"id": ID}, responses={200: Response("Call", RECORD)})
async def get_history_record(ctx: Ctx) -> web.Response:
    rec = await history.get_record(ctx.store, ctx.user_id, ctx.path["id"])
    if rec is None:
        not_found("call not found")
    return json_response(rec)
