"""Forwarding: read and change my four forwarding rules."""

from __future__ import annotations

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response
from fonbo.repo import forwarding
from fonbo.repo.agenda import numbers_of_user
from fonbo.routes.events import publish_change
from fonbo.schema import DIAL_NUMBER, array, boolean, enum, integer, obj

api = Api()
TAG = "forwarding"

RULE = obj({"id": integer(1, nullable=True), "kind": enum(*forwarding.KINDS),
            "enabled": boolean(), "target_type": enum("number", "voicemail"),
            "target_number": DIAL_NUMBER, "timeout_s": integer(1, 600)}, closed=False)
RULE_IN = obj({"enabled": boolean(), "target_type": enum("number", "voicemail"),
               "target_number": DIAL_NUMBER, "timeout_s": integer(1, 600)},
              ("enabled", "target_type"))


@api.op("GET", "/fonbo/forwarding", summary="My four forwarding rules", tag=TAG,
        responses={200: Response("Rules", obj({"rules": array(RULE)}))},
        description="Always four rules, in this order: not_logged_in, no_answer, busy, "
                    "unconditional; a rule never saved comes back disabled with id null.")
async def get_forwarding(ctx: Ctx) -> web.Response:
    return json_response({"rules": await forwarding.rules(ctx.store, ctx.user_id)})


@api.op("PUT", "/fonbo/forwarding/{kind}", summary="Change one forwarding rule", tag=TAG,
        path_params={"kind": enum(*forwarding.KINDS)}, body=RULE_IN,
        responses={200: Response("Rule", RULE), 422: Response("Refused, with the reason")})
async def put_forwarding(ctx: Ctx) -> web.Response:
    values = {"target_number": "", "timeout_s": 20, **ctx.body}
    if values["target_type"] == "voicemail":
        values["target_number"] = ""
    elif values["enabled"] and not values["target_number"]:
        fail(422, "target_number: a forwarding to a number needs the number")
    if values["target_number"] and values["target_number"] in await numbers_of_user(
            ctx.store, ctx.user_id):
        fail(422, "target_number: you cannot forward calls to your own number")
    rule = await forwarding.save_rule(ctx.store, ctx.user_id, ctx.path["kind"], values)
    await publish_change(ctx, "forwarding_rules", rule["id"], user_id=ctx.user_id)
    return json_response(rule)
