"""Attended transfer: the REFER names the consultation call in a Replaces parameter whose
tags are those of the transfer target's dialog (RFC 3891), so the target can match it."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

from webfon.sip.headers import Address


async def test_transfer_with_replace_sends_refer_with_replaces(test_phones, sip_clients) -> None:
    bob = await test_phones("bob")
    carol = await test_phones("carol")
    master = await sip_clients()
    await master.request({"request": "register", "type": "guest",
                          "username": "sip:alice@127.0.0.1"})
    registered, _ = await master.wait_event("registered")
    helper = await sip_clients(session=master.session)
    await helper.request({"request": "register", "type": "helper",
                          "master_id": registered["result"]["master_id"],
                          "username": "sip:alice@127.0.0.1"})
    await helper.wait_event("registered")

    await master.request({"request": "call", "uri": bob.uri}, await master.make_offer())
    _, jsep = await master.wait_event("accepted")
    await master.take_answer(jsep)
    await master.request({"request": "hold"})
    await master.wait_event("holding")

    await helper.request({"request": "call", "uri": carol.uri}, await helper.make_offer())
    calling, _ = await helper.wait_event("calling")
    consult_id = calling["result"]["call_id"]
    _, jsep2 = await helper.wait_event("accepted")
    await helper.take_answer(jsep2)

    await master.request({"request": "transfer", "uri": carol.uri, "replace": consult_id})
    await master.wait_event("transferring")
    for _ in range(50):
        if bob.received("REFER"):
            break
        await asyncio.sleep(0.05)
    refer = bob.received("REFER")[0]
    target = Address.parse(refer.headers.get("Refer-To"))
    assert str(target.uri.copy(headers={})) == carol.uri
    replaces = unquote(target.uri.headers["Replaces"]).split(";")
    invite = carol.received("INVITE")[0]
    assert replaces[0] == consult_id == invite.call_id
    params = dict(p.split("=", 1) for p in replaces[1:])
    assert params["to-tag"] == carol.local_tag(consult_id)
    assert params["from-tag"] == invite.from_tag
    assert refer.headers.get("Referred-By")
