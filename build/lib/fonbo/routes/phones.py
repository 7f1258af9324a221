"""My phones: the phones of my extensions, their ring order and state, provisioning QR."""

from __future__ import annotations

import asyncio

from aiohttp import web

from fonbo.api import Api, Ctx, Response, fail, json_response, not_found
from fonbo.repo import phones
from fonbo.routes.events import publish_change
from fonbo.schema import ID, NULLABLE_ID, TIMESTAMP, array, boolean, integer, obj, string

api = Api()
TAG = "phones"

PHONE = obj({"id": ID, "extension_id": ID, "extension": string(32), "model": string(64),
             "position": integer(0, 7), "ring_order": integer(0, 1000), "enabled": boolean(),
             "secure": boolean(), "publishable": boolean(), "is_webcall": boolean(),
             "category_id": NULLABLE_ID, "sip_username": string(64),
             "secret_expires_at": {**TIMESTAMP, "nullable": True}, "provisioned": boolean()},
            closed=False)
PHONE_PATCH = obj({"enabled": boolean(), "ring_order": integer(0, 1000)}, min_properties=1)
_ID = {"id": ID}


@api.op("GET", "/fonbo/phones", summary="The phones of my extensions", tag=TAG,
        responses={200: Response("Phones", obj({"items": array(PHONE)}))},
        description="Ordered by extension, then ring_order (lowest rings first, equal orders "
                    "ring together, 0 never rings), then position.")
async def list_phones(ctx: Ctx) -> web.Response:
    return json_response({"items": await phones.my_phones(ctx.store, ctx.user_id)})


@api.op("PATCH", "/fonbo/phones/{id}", summary="Enable/disable a phone or change its order",
        tag=TAG, path_params=_ID, body=PHONE_PATCH, responses={200: Response("Phone", PHONE)})
async def update_phone(ctx: Ctx) -> web.Response:
    phone_id = ctx.path["id"]
    if await phones.my_phone(ctx.store, ctx.user_id, phone_id) is None:
        not_found("phone not found")
    await phones.set_phone(ctx.store, phone_id, ctx.body)
    await publish_change(ctx, "phones", phone_id)
    return json_response(await phones.my_phone(ctx.store, ctx.user_id, phone_id))


@api.op("PUT", "/fonbo/phones/order", summary="Set the ring order of several phones at once",
        tag=TAG, body=obj({"items": array(obj({"id": ID, "ring_order": integer(0, 1000)},
                                               ("id", "ring_order")), max_items=64,
                                           min_items=1)}, ("items",)),
        responses={200: Response("Phones", obj({"items": array(PHONE)}))})
async def order_phones(ctx: Ctx) -> web.Response:
    items = ctx.body["items"]
    mine = {p["id"] for p in await phones.my_phones(ctx.store, ctx.user_id)}
    unknown = [i["id"] for i in items if i["id"] not in mine]
    if unknown:
        not_found(f"phone not found: {unknown[0]}")
    async with ctx.store.transaction() as tx:
        for item in items:
            await phones.set_phone(tx, item["id"], {"ring_order": item["ring_order"]})
    for item in items:
        await publish_change(ctx, "phones", item["id"])
    return json_response({"items": await phones.my_phones(ctx.store, ctx.user_id)})


@api.op("POST", "/fonbo/phones/{id}/provision",
        summary="New SIP secret for a secure phone, returned once inside a QR code (PNG)",
        tag=TAG, path_params=_ID,
        responses={200: Response("QR code", {"type": "string", "format": "binary"},
                                 media="image/png"),
                   409: Response("Not a secure phone")},
        description="Generates a new secret, stores only its digest HA1s and returns a PNG QR "
                    "whose JSON payload (type webfon-provisioning) holds username, password, "
                    "realm, registrar, extension and expires_at. The secret is not kept, so "
                    "each call replaces the previous one.")
async def provision_phone(ctx: Ctx) -> web.Response:
    phone = await phones.my_phone(ctx.store, ctx.user_id, ctx.path["id"])
    if phone is None:
        not_found("phone not found")
    if not phone["secure"]:
        fail(409, "only secure phones are provisioned with a QR code; an administrator can "
                  "mark this phone secure")
    settings = ctx.settings
    secret = phones.new_secret()
    expires_at = phones.expiry(settings.provisioning_secret_ttl_days)
    payload = phones.provisioning_payload(
        username=str(phone["sip_username"]), secret=secret, realm=settings.realm,
        registrar=settings.provisioning_registrar, extension=str(phone["extension"]),
        expires_at=expires_at)
    png = await asyncio.to_thread(phones.qr_png, payload)
    await phones.store_new_secret(ctx.store, phone, secret, settings.realm, expires_at)
    await publish_change(ctx, "phones", phone["id"])
    return web.Response(body=png, content_type="image/png",
                        headers={"Cache-Control": "no-store"})
