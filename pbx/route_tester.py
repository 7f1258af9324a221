""""Where would this number go, for this caller, at this time?": the routing rules and the
router's answer for a call that is not made.

The caller is given as the PBX would see them: a phone of an extension (by the extension's
number, or a user's number for their own desk extension; the extension's first phone, whose
category counts first, as it would for a real call) or a trunk with the number the far end
presents. The answer lists every rule that matched in order, the rule that decided, and the
route with the checks a real call gets (category, «solo entrantes»). Flow control (mdflow) is
not consulted: it depends on the traffic of the moment, and asking must not use up its
capacity.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .directory import Directory
from .routing import Caller, Route, RouteKind, Router


@dataclass
class TesterError(Exception):
    status: int
    message: str


class RouteTester:
    def __init__(self, directory: Directory, router: Router) -> None:
        self.directory = directory
        self.router = router

    async def caller(self, origin: str, number: str, trunk: str = "") -> Caller:
        d = self.directory
        if origin == "trunk":
            trunks = await d.trunks()
            found = next((t for t in trunks if t.name == trunk), None) if trunk else \
                (trunks[0] if trunks else None)
            if found is None:
                raise TesterError(404, f"no enabled trunk {trunk}" if trunk else
                                  "there is no enabled trunk")
            return Caller(trunk=found, calling_number=number)
        ext = await d.extension_by_number(number)
        if ext is None:
            user = await d.user_by_number(number)
            ext = await d.hard_extension_of(user.id) if user is not None else None
            if user is not None and ext is None:
                return Caller(user=user, category=await d.category(user.category_id))
        if ext is None:
            raise TesterError(404, f"{number} is neither an extension nor a user's number")
        phones = sorted((p for p in await d.phones(ext.id) if p.enabled),
                        key=lambda p: p.position)
        if phones:
            return await self.router.caller_for_phone(phones[0])
        owner = await d.user(ext.owner_user_id) if ext.owner_user_id else None
        cat = owner.category_id if owner and owner.category_id else ext.category_id
        return Caller(user=owner, extension=ext, category=await d.category(cat))

    async def explain(self, number: str, caller: Caller, at: float | None = None
                      ) -> dict[str, Any]:
        when = time.time() if at is None else at
        decision = await self.router.decide(number, caller, when)
        route = await self.router.route(number, caller, at=when)
        return {
            "number": number, "at": when,
            "caller": {"origin": "trunk" if caller.trunk else "phone",
                       "number": caller.number,
                       "trunk": caller.trunk.name if caller.trunk else None,
                       "user": caller.user.display_name if caller.user else None,
                       "category": caller.category.name},
            "matched": [{"id": m.rule.id, "name": m.rule.name, "action": str(m.rule.action),
                         "number": m.number} for m in decision.matched],
            "rule": {"id": route.rule_id, "name": route.rule} if route.rule else None,
            "route": describe(route),
            "allowed": route.kind is not RouteKind.REJECT,
            "flow_control": "not evaluated",
        }


def describe(route: Route) -> dict[str, Any]:
    """A route as the admin reads it."""
    destination = ""
    if route.queue is not None:
        destination = f"{route.queue.name} ({route.queue.number})"
    elif route.user is not None:
        destination = route.user.display_name
        if route.extension is not None:
            destination += f" ({route.extension.number})"
    elif route.extension is not None:
        destination = route.extension.number
    if route.ivr is not None:
        destination = f"{route.ivr.name} ({route.ivr.number})"
    return {"kind": str(route.kind), "number": route.number, "dest_class": route.dest_class,
            "destination": destination, "trunks": [t.name for t in route.trunks],
            "status": route.status, "reason": route.reason,
            "rewritten_by": list(route.rewritten_by)}
