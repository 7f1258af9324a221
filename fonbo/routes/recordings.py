"""Call recordings («Grabar por enrutamiento»): list, play (HTTP ranges, short tickets for
``<audio src>``) and delete mine; admins see and play everyone's; start and stop the recording
of a call I am in (the web phone's button), and, for admins, of any call by its id or an
extension's call (as VIVAit's InfoWS does).

A recording is its owner's (who asked for it, or whose «siempre» made it) and admins'; anyone
else gets 404, as for anything that is not theirs. Starting and stopping go to the PBX's
control API, which checks that the user is a party of the call and that their setting allows
it (403 «sin grabación», 409 recorded «siempre» or not being recorded).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response, not_found
from fonbo.keys import CONTROL_KEY
from fonbo.media_audio import WAV_DESCRIPTION, WAV_RESPONSES, require_resource, ticket_response
from fonbo.schema import (
    ID,
    NULLABLE_ID,
    TIMESTAMP,
    array,
    enum,
    integer,
    number,
    obj,
    string,
)
from webfon.control_client import ControlClient, ControlError

api = Api()
TAG = "recordings"

RECORDING = obj({"id": ID, "call_id": string(255), "owner_user_id": NULLABLE_ID,
                 "caller": string(64), "callee": string(64),
                 "reason": enum("always", "on_demand"),
                 "state": enum("recording", "done", "failed"), "started_at": TIMESTAMP,
                 "ended_at": {**TIMESTAMP, "nullable": True}, "duration_s": number(0),
                 "expires_at": TIMESTAMP}, closed=False)
_COLS = ("id, call_id, owner_user_id, caller, callee, reason, state, started_at, ended_at, "
         "duration_s, expires_at")
_ID = {"id": ID}
_LIST = {"call_id": string(255), "limit": integer(1, 500), "offset": integer(0, 10**9)}
CONTROL = obj({"recording_id": ID, "state": enum("recording", "stopped"),
               "call_id": string(255)})
ACTION = enum("start", "stop")


async def _is_admin(ctx: Ctx) -> bool:
    """Whether the caller is an admin: by the token's role, or for a media ticket (which
    carries no roles, and was issued to an admin or the owner) by the user's role now."""
    assert ctx.claims is not None
    if "media" not in ctx.claims.extra:
        return ctx.is_admin
    role = await ctx.store.fetchval("SELECT role FROM users WHERE id = ? AND enabled = 1",
                                    (ctx.user_id,))
    return role == "admin"


async def _visible(ctx: Ctx, recording_id: int, *, with_path: bool = False
                   ) -> dict[str, Any] | None:
    """The recording if the caller may see it (its owner or an admin)."""
    cols = _COLS + (", path" if with_path else "")
    row = await ctx.store.fetchone(f"SELECT {cols} FROM recordings WHERE id = ?",
                                   (recording_id,))
    if row is None:
        return None
    if row["owner_user_id"] != ctx.user_id and not await _is_admin(ctx):
        return None
    return row


async def _list(ctx: Ctx, owner: int | None) -> web.Response:
    where, params = ["1 = 1"], []
    if owner is not None:
        where.append("owner_user_id = ?")
        params.append(owner)
    if "call_id" in ctx.query:
        where.append("call_id = ?")
        params.append(ctx.query["call_id"])
    cond = " AND ".join(where)
    total = await ctx.store.fetchval(f"SELECT COUNT(*) AS n FROM recordings WHERE {cond}",
                                     params)
    rows = await ctx.store.fetchall(
        f"SELECT {_COLS} FROM recordings WHERE {cond} ORDER BY started_at DESC, id DESC "
        f"LIMIT ? OFFSET ?", [*params, ctx.query.get("limit", 50), ctx.query.get("offset", 0)])
    return json_response({"items": rows, "total": int(total or 0)})


@api.op("GET", "/fonbo/recordings", summary="My recordings, newest first", tag=TAG,
        query=_LIST, responses={200: Response("Recordings", obj({
            "items": array(RECORDING), "total": integer(0)}))},
        description="call_id: the recordings of one call (the id of its history rows).")
async def list_my_recordings(ctx: Ctx) -> web.Response:
    return await _list(ctx, ctx.user_id)


@api.op("GET", "/fonbo/admin/recordings", summary="Everyone's recordings, newest first",
        tag="admin", auth="admin", query={**_LIST, "owner_user_id": ID},
        responses={200: Response("Recordings", obj({"items": array(RECORDING),
                                                    "total": integer(0)}))})
async def admin_list_recordings(ctx: Ctx) -> web.Response:
    return await _list(ctx, ctx.query.get("owner_user_id"))


@api.op("GET", "/fonbo/recordings/{id}", summary="One recording (mine, or any for admins)",
        tag=TAG, path_params=_ID, responses={200: Response("Recording", RECORDING)})
async def get_recording(ctx: Ctx) -> web.Response:
    row = await _visible(ctx, ctx.path["id"])
    if row is None:
        not_found("recording not found")
    return json_response(row)


@api.op("DELETE", "/fonbo/recordings/{id}", summary="Delete a recording and its audio",
        tag=TAG, path_params=_ID, responses={204: Response("Deleted", media=""),
                                             409: Response("Still being recorded")})
async def delete_recording(ctx: Ctx) -> web.Response:
    row = await _visible(ctx, ctx.path["id"], with_path=True)
    if row is None:
        not_found("recording not found")
    if row["state"] == "recording":
        fail(409, "this recording is still in progress: stop it first")
    await ctx.store.execute("DELETE FROM recordings WHERE id = ?", (ctx.path["id"],))
    if row["path"]:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(Path(row["path"]).unlink, True)
    return web.Response(status=204)


@api.op("POST", "/fonbo/recordings/{id}/ticket",
        summary="A short-lived URL to play a recording in an <audio> element", tag=TAG,
        path_params=_ID, responses={200: Response("Ticket", obj({
            "url": string(2048), "ticket": string(512), "expires_at": TIMESTAMP}))})
async def recording_ticket(ctx: Ctx) -> web.Response:
    recording_id = ctx.path["id"]
    row = await _visible(ctx, recording_id)
    if row is None:
        not_found("recording not found")
    return ticket_response(ctx, f"recording:{recording_id}",
                           f"/fonbo/recordings/{recording_id}/audio")


@api.op("GET", "/fonbo/recordings/{id}/audio",
        summary="The recording's audio (stereo audio/wav: the caller left, the other party "
                "right; ranges)", tag=TAG, auth="media", path_params=_ID,
        responses=WAV_RESPONSES, description=WAV_DESCRIPTION)
async def recording_audio(ctx: Ctx) -> web.StreamResponse:
    recording_id = ctx.path["id"]
    require_resource(ctx, f"recording:{recording_id}", "recording not found")
    row = await _visible(ctx, recording_id, with_path=True)
    if row is None:
        not_found("recording not found")
    if row["state"] != "done" or not row["path"]:
        not_found("the audio of this recording is not ready")
    path = Path(row["path"])
    if not await asyncio.to_thread(path.is_file):
        not_found("the audio of this recording is missing")
    return web.FileResponse(path, headers={"Content-Type": "audio/wav",
                                           "Cache-Control": "private, max-age=300"})


# --- start and stop --------------------------------------------------------------------------
async def _control(ctx: Ctx, body: dict[str, Any]) -> web.Response:
    client: ControlClient = ctx.app[CONTROL_KEY]
    try:
        result = await client.post("/control/recording", body)
    except ControlError as exc:
        fail(exc.status if exc.status in (400, 403, 404, 409, 503) else 503, exc.message)
    return json_response(result)


@api.op("POST", "/fonbo/calls/{call_id}/recording",
        summary="Start or stop recording a call I am in", tag=TAG,
        path_params={"call_id": string(255, min_length=1)},
        body=obj({"action": ACTION}, ("action",)),
        responses={200: Response("Done", CONTROL), 403: Response("«Sin grabación» for me"),
                   409: Response("Already recorded, recorded always, or not being recorded"),
                   503: Response("The PBX is not reachable")},
        description="call_id: the SIP Call-ID of my leg of the call (what the web phone knows "
                    "as the line's call id) or the call's id from my history.")
async def control_my_call(ctx: Ctx) -> web.Response:
    return await _control(ctx, {"action": ctx.body["action"], "call_id": ctx.path["call_id"],
                                "user_id": ctx.user_id, "admin": False})


@api.op("POST", "/fonbo/admin/recording",
        summary="Start or stop recording any call, by call id or by extension", tag="admin",
        auth="admin", body=obj({"action": ACTION, "call_id": string(255, min_length=1),
                                "extension": string(32, min_length=1, pattern=r"^[0-9]+$",
                                                    message="must be digits only")},
                 ("action",)),
        responses={200: Response("Done", CONTROL), 409: Response("Nothing to stop, or "
                                                                  "already recording"),
                   503: Response("The PBX is not reachable")},
        description="What InfoWS's start/stop of recordings does: give call_id or extension "
                    "(the call that extension is in); the recording is owned by the party on "
                    "that extension.")
async def admin_control_recording(ctx: Ctx) -> web.Response:
    body = ctx.body
    if ("call_id" in body) == ("extension" in body):
        fail(400, "give call_id or extension")
    return await _control(ctx, {"action": body["action"], "call_id": body.get("call_id"),
                                "extension": body.get("extension"), "user_id": ctx.user_id,
                                "admin": True})
