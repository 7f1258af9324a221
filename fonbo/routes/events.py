"""Telling the other components that settings changed (topic ``settings.changed``) and that a
user's sessions must end (topic ``auth.ended``, :mod:`webfon.session_end`)."""

from __future__ import annotations

import logging
from typing import Any

from fonbo.api import Ctx
from fonbo.keys import REALTIME_KEY
from webfon import session_end

log = logging.getLogger("fonbo.events")


async def publish_change(ctx: Ctx, table: str, row_id: Any, **extra: Any) -> None:
    try:
        await ctx.bus.publish("settings.changed", {"table": table, "id": row_id, **extra})
    except (OSError, ConnectionError) as exc:
        log.warning("could not publish settings.changed", extra={"table": table,
                                                                 "error": str(exc)})


async def end_sessions(ctx: Ctx, user_id: int, reason: str) -> None:
    """Every session of ``user_id`` ends now (gateway, webphone, Socket.IO), everywhere."""
    try:
        end = await session_end.publish(ctx.bus, user_id, None, reason)
    except (OSError, ConnectionError) as exc:
        log.warning("could not publish auth.ended", extra={"user_id": user_id,
                                                           "error": str(exc)})
        return
    log.info("sessions ended", extra={"user_id": user_id, "reason": reason,
                                      "by": ctx.claims.sub if ctx.claims else None})
    realtime = ctx.request.app.get(REALTIME_KEY)
    if realtime is not None:  # this node at once, even with the bus down
        await realtime.end_sessions(end)
