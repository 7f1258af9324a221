"""Telling the other components that settings changed (topic ``settings.changed``)."""

from __future__ import annotations

import logging
from typing import Any

from fonbo.api import Ctx

log = logging.getLogger("fonbo.events")


async def publish_change(ctx: Ctx, table: str, row_id: Any, **extra: Any) -> None:
    try:
        await ctx.bus.publish("settings.changed", {"table": table, "id": row_id, **extra})
    except (OSError, ConnectionError) as exc:
        log.warning("could not publish settings.changed", extra={"table": table,
                                                                 "error": str(exc)})
