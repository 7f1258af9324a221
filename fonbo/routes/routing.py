"""Admin API of the routing rules: the rules (CRUD, checked when saved), their order, and the
rule tester ("where would this number go, for this caller, at this time?", answered by the PBX
itself through its control API, so the answer is the one a real call would get).

A rule is compiled exactly as the PBX compiles it (:mod:`webfon.routing_rules`) before it is
stored: a pattern RE2 cannot match in linear time (back-references, look-around), a pattern too
long or too large, a capture the pattern does not have, an unknown day or time zone — each is
refused with the field at fault. A fixed target (no captures) must be a number of the kind the
action names.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response
from fonbo.crud import Resource, audit, register
from fonbo.keys import CONTROL_KEY
from fonbo.routes.events import publish_change
from fonbo.schema import (
    ID,
    NULLABLE_ID,
    TIMESTAMP,
    array,
    boolean,
    enum,
    integer,
    obj,
    string,
)
from webfon.control_client import ControlClient, ControlError
from webfon.routing_rules import (
    ACTIONS,
    MAX_PATTERN_LENGTH,
    ORIGINS,
    REJECT_STATUSES,
    RuleError,
    compile_rule,
    placeholders,
)
from webfon.store.base import Executor, Row

api = Api()

_DEFAULTS = {"origin": "any", "caller_pattern": "", "days": "mon,tue,wed,thu,fri,sat,sun",
             "time_from": "00:00", "time_to": "24:00", "timezone": "Europe/Madrid",
             "target": "", "trunk_id": None, "trunk_prefix": "", "reject_status": 403}
_KINDS = {"extension": (("user", "extension"), "a user's or extension's number"),
          "queue": (("queue",), "a group or queue"), "ivr": (("ivr",), "an IVR menu")}


async def validate_rule(ctx: Ctx, db: Executor, body: dict[str, Any], current: Row | None
                        ) -> None:
    merged = {**_DEFAULTS, **(current or {}), **body}
    if merged["action"] != "trunk":
        # a rule that no longer goes to a trunk keeps neither trunk nor prefix
        if merged.get("trunk_id") is not None or merged.get("trunk_prefix"):
            body["trunk_id"], body["trunk_prefix"] = None, ""
            merged["trunk_id"], merged["trunk_prefix"] = None, ""
    if merged["action"] == "reject":
        body["target"] = merged["target"] = ""
    try:
        compile_rule(merged)
    except RuleError as exc:
        fail(422, str(exc), errors=[{"field": exc.field, "message": exc.message}])
    trunk_id = merged.get("trunk_id")
    if trunk_id is not None and not await db.fetchval(
            "SELECT COUNT(*) AS n FROM trunks WHERE id = ?", (trunk_id,)):
        fail(422, f"trunk_id: there is no trunk {trunk_id}")
    target = merged["target"]
    if merged["action"] in _KINDS and not placeholders(target):
        kinds, what = _KINDS[merged["action"]]
        kind = await db.fetchval("SELECT kind FROM numbering WHERE number = ?", (target,))
        if kind not in kinds:
            fail(422, f"target: {target} is not {what}")
    if current is None and "position" not in body:
        last = await db.fetchval("SELECT MAX(position) AS p FROM routing_rules")
        body["position"] = int(last or 0) + 10


PATTERN = string(MAX_PATTERN_LENGTH)
RULES = Resource(
    name="routing_rules", table="routing_rules",
    summary="routing rules (tried in position order before the fixed number classes)",
    fields={"name": string(64, min_length=1, pattern=r"\S", message="must not be blank"),
            "position": integer(0, 1_000_000), "enabled": boolean(),
            "origin": enum(*ORIGINS),
            "number_pattern": string(MAX_PATTERN_LENGTH, min_length=1),
            "caller_pattern": PATTERN,
            "days": string(64), "time_from": string(5), "time_to": string(5),
            "timezone": string(64), "action": enum(*ACTIONS), "target": string(64),
            "trunk_id": NULLABLE_ID, "trunk_prefix": string(16),
            "reject_status": {"type": "integer", "enum": list(REJECT_STATUSES)},
            "description": string(255)},
    required=("name", "number_pattern", "action"), booleans=("enabled",),
    search=("name", "number_pattern", "caller_pattern", "target", "description"),
    order_by="position, id", validate=validate_rule)
register(api, RULES)


@api.op("PUT", "/fonbo/admin/routing_rules/order", summary="Put the routing rules in this order",
        tag="admin", auth="admin",
        body=obj({"ids": array(ID, max_items=10000)}, ("ids",)),
        description="`ids` lists every rule once, first to be tried first; positions become "
                    "10, 20, 30…",
        responses={200: Response("The rules in their new order",
                                 obj({"items": array(RULES.out_schema)})),
                   422: Response("The list is not every rule exactly once")})
async def admin_order_routing_rules(ctx: Ctx) -> web.Response:
    ids: list[int] = ctx.body["ids"]
    async with ctx.store.transaction() as tx:
        existing = {int(r["id"]) for r in await tx.fetchall("SELECT id FROM routing_rules")}
        if len(ids) != len(set(ids)) or set(ids) != existing:
            fail(422, "ids: list every routing rule exactly once")
        for i, rule_id in enumerate(ids, start=1):
            await tx.execute("UPDATE routing_rules SET position = ? WHERE id = ?",
                             (i * 10, rule_id))
        await audit(ctx, tx, "order routing_rules", "routing_rules", {"ids": ids})
        rows = await tx.fetchall(f"SELECT {', '.join(RULES.out_columns)} FROM routing_rules "
                                 f"ORDER BY position, id")
    await publish_change(ctx, "routing_rules", None)
    return json_response({"items": [RULES.to_out(r) for r in rows]})


TEST_IN = obj({"number": string(64, min_length=1, pattern=r"^[0-9*#+]{1,64}$",
                                message="digits, * # and + only"),
               "caller": string(64, min_length=1, pattern=r"^[0-9*#+]{1,64}$",
                                message="digits, * # and + only"),
               "origin": enum("phone", "trunk"),
               "trunk": string(64),
               "at": TIMESTAMP}, ("number", "caller"))
_RULE_REF = obj({"id": integer(), "name": string(64)}, closed=False)
TEST_OUT = obj({
    "number": string(64), "at": {"type": "number"},
    "caller": obj({"origin": string(8), "number": string(64),
                   "trunk": string(64, nullable=True), "user": string(128, nullable=True),
                   "category": string(64)}, closed=False),
    "matched": array(obj({"id": integer(), "name": string(64), "action": string(12),
                          "number": string(64)}, closed=False)),
    "rule": {**_RULE_REF, "nullable": True},
    "route": obj({"kind": string(16), "number": string(64), "dest_class": string(16),
                  "destination": string(255), "trunks": array(string(64)),
                  "status": integer(), "reason": string(255),
                  "rewritten_by": array(string(64))}, closed=False),
    "allowed": boolean(), "flow_control": string(32)}, closed=False)


def _control(ctx: Ctx) -> ControlClient:
    return ctx.app[CONTROL_KEY]


@api.op("POST", "/fonbo/admin/routing/test", summary="Where would this number go, for this "
        "caller, at this time? (asks the PBX)", tag="admin", auth="admin", body=TEST_IN,
        description="`caller` is an extension's or a user's number (origin `phone`, as from "
                    "that extension's first phone) or the number presented on a trunk (origin "
                    "`trunk`, optionally naming the trunk); `at` defaults to now. The answer "
                    "lists the rules that matched, the one that decided and the route with the "
                    "checks a real call gets; flow control is not evaluated.",
        responses={200: Response("The route", TEST_OUT),
                   422: Response("Unknown caller or trunk"),
                   503: Response("The PBX cannot be reached")})
async def admin_test_routing(ctx: Ctx) -> web.Response:
    body = {"origin": "phone", **ctx.body}
    try:
        answer = await _control(ctx).post("/control/routing/test", body)
    except ControlError as exc:
        if exc.status in (400, 404):
            fail(422, exc.message)
        fail(503, f"cannot ask the PBX: {exc.message}")
    return json_response(answer)
