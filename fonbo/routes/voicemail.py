"""Voicemail: list, unread count, stream audio (HTTP ranges), mark heard, delete."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from aiohttp import web

from fonbo.api import Api, Ctx, Response, json_response, not_found
from fonbo.media_audio import WAV_DESCRIPTION, WAV_RESPONSES, require_resource, ticket_response
from fonbo.realtime import emit_to_user
from fonbo.repo import voicemail
from fonbo.schema import ID, TIMESTAMP, array, boolean, integer, number, obj, string

api = Api()
TAG = "voicemail"

MESSAGE = obj({"id": ID, "caller": string(64), "caller_name": string(128),
               "call_id": string(255), "created_at": TIMESTAMP, "duration_s": number(0),
               "heard": boolean()}, closed=False)
_ID = {"id": ID}


def audio_path(ctx: Ctx, stored: str) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else ctx.settings.data_dir / path


async def _announce_unread(ctx: Ctx) -> None:
    unread = await voicemail.unread_count(ctx.store, ctx.user_id)
    await emit_to_user(ctx.app, ctx.user_id, "voicemail.unread", {"unread": unread})


@api.op("GET", "/fonbo/voicemail", summary="My voicemail messages, newest first", tag=TAG,
        query={"heard": boolean(), "limit": integer(1, 500), "offset": integer(0, 1_000_000)},
        responses={200: Response("Messages", obj({"items": array(MESSAGE), "total": integer(0),
                                                  "unread": integer(0)}))})
async def list_voicemail(ctx: Ctx) -> web.Response:
    items, total = await voicemail.list_messages(
        ctx.store, ctx.user_id, heard=ctx.query.get("heard"), limit=ctx.query.get("limit", 50),
        offset=ctx.query.get("offset", 0))
    unread = await voicemail.unread_count(ctx.store, ctx.user_id)
    return json_response({"items": items, "total": total, "unread": unread})


@api.op("GET", "/fonbo/voicemail/unread", summary="How many messages I have not heard",
        tag=TAG, responses={200: Response("Count", obj({"unread": integer(0)}))})
async def voicemail_unread(ctx: Ctx) -> web.Response:
    return json_response({"unread": await voicemail.unread_count(ctx.store, ctx.user_id)})


@api.op("GET", "/fonbo/voicemail/{id}", summary="One message", tag=TAG, path_params=_ID,
        responses={200: Response("Message", MESSAGE)})
async def get_voicemail(ctx: Ctx) -> web.Response:
    row = await voicemail.get_message(ctx.store, ctx.user_id, ctx.path["id"])
    if row is None:
        not_found("message not found")
    return json_response(row)


@api.op("PATCH", "/fonbo/voicemail/{id}", summary="Mark a message heard or unheard", tag=TAG,
        path_params=_ID, body=obj({"heard": boolean()}, ("heard",)),
        responses={200: Response("Message", MESSAGE)})
async def update_voicemail(ctx: Ctx) -> web.Response:
    row = await voicemail.set_heard(ctx.store, ctx.user_id, ctx.path["id"], ctx.body["heard"])
    if row is None:
        not_found("message not found")
    await _announce_unread(ctx)
    return json_response(row)


@api.op("DELETE", "/fonbo/voicemail/{id}", summary="Delete a message and its audio", tag=TAG,
        path_params=_ID, responses={204: Response("Deleted", media="")})
async def delete_voicemail(ctx: Ctx) -> web.Response:
    stored = await voicemail.delete_message(ctx.store, ctx.user_id, ctx.path["id"])
    if stored is None:
        not_found("message not found")
    path = audio_path(ctx, stored)
    with contextlib.suppress(OSError):
        await asyncio.to_thread(path.unlink, True)
    await _announce_unread(ctx)
    return web.Response(status=204)


@api.op("POST", "/fonbo/voicemail/{id}/ticket",
        summary="A short-lived URL to play a message in an <audio> element", tag=TAG,
        path_params=_ID, responses={200: Response("Ticket", obj({
            "url": string(2048), "ticket": string(512), "expires_at": TIMESTAMP}))})
async def voicemail_ticket(ctx: Ctx) -> web.Response:
    message_id = ctx.path["id"]
    if await voicemail.get_message(ctx.store, ctx.user_id, message_id) is None:
        not_found("message not found")
    return ticket_response(ctx, f"voicemail:{message_id}", f"/fonbo/voicemail/{message_id}/audio")


@api.op("GET", "/fonbo/voicemail/{id}/audio", summary="The message audio (audio/wav, ranges)",
        tag=TAG, auth="media", path_params=_ID,
        responses=WAV_RESPONSES, description=WAV_DESCRIPTION)
async def voicemail_audio(ctx: Ctx) -> web.StreamResponse:
    message_id = ctx.path["id"]
    require_resource(ctx, f"voicemail:{message_id}", "message not found")
    row = await voicemail.get_message(ctx.store, ctx.user_id, message_id, with_path=True)
    if row is None:
        not_found("message not found")
    path = audio_path(ctx, str(row["path"]))
    if not await asyncio.to_thread(path.is_file):
        not_found("the audio of this message is missing")
    return web.FileResponse(path, headers={"Content-Type": "audio/wav",
                                           "Cache-Control": "private, max-age=300"})
