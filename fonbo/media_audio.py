"""What every audio a user plays from the portal shares (voicemail messages, call
recordings): a short-lived ticket for the ``<audio>`` element, the claim check on the audio
request, and the audio endpoint's documented responses."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from fonbo.api import Ctx, Response, json_response, not_found
from fonbo.auth import issue_media_ticket
from fonbo.keys import MEDIA_KEY

WAV_RESPONSES = {
    200: Response("WAV audio", {"type": "string", "format": "binary"}, media="audio/wav"),
    206: Response("Part of the audio", {"type": "string", "format": "binary"},
                  media="audio/wav"),
    416: Response("Range not satisfiable", media=""),
}
WAV_DESCRIPTION = ("Send Authorization: Bearer, or the ticket from POST …/ticket. Honours "
                   "Range and If-Range.")


def ticket_response(ctx: Ctx, resource: str, audio_path: str) -> web.Response:
    """A ticket for ``resource`` (e.g. ``voicemail:7``) and the URL that plays it."""
    ticket, expires = issue_media_ticket(ctx.app[MEDIA_KEY], ctx.user_id, resource,
                                         ctx.settings.media_ticket_ttl_s)
    return json_response({"url": f"{audio_path}?ticket={quote(ticket)}", "ticket": ticket,
                          "expires_at": expires})


def require_resource(ctx: Ctx, resource: str, missing: str) -> None:
    """A media ticket opens only the resource it was issued for (a bearer token any)."""
    assert ctx.claims is not None
    media = ctx.claims.extra.get("media")
    if media is not None and media != resource:
        not_found(missing)
