"""Two browsers log in as webphones of the embedded PBX (control API + REGISTER) and call
each other through it; each hears the other's tone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from pbx.app import build
from tests.integration.pbx.pbxrun import app_settings
from tests.support.net import free_port
from webfon.control_key import control_key_path, ensure_control_key


@pytest.fixture
async def pbx_app(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    settings, ids = await app_settings(tmp_path, "7000-7009", data_dir=tmp_path / "pbxdata",
                                       sip_port=free_port("both"), rtp_port_min=43000,
                                       rtp_port_max=43400)
    app = await build(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    ensure_control_key(settings.data_dir)
    try:
        yield {"url": f"http://127.0.0.1:{runner.addresses[0][1]}", "ids": ids,
               "key": control_key_path(settings.data_dir)}
    finally:
        await runner.cleanup()


async def test_two_webphones_call_each_other_through_the_pbx(pbx_app, gateway_factory,
                                                             sip_clients) -> None:
    # the default SIP servers: none but what the PBX gives each webphone login (its
    # registrar, where the calls go, and its domain, which they name)
    gw = await gateway_factory(pbx_control_url=pbx_app["url"],
                               pbx_control_key=str(pbx_app["key"]), local_nodo_id=4,
                               sip_allowed_servers=())
    ids = pbx_app["ids"]
    alice = await sip_clients(gw=gw, token=gw.token(sub=ids["user1001"]), tone_hz=500.0)
    bob = await sip_clients(gw=gw, token=gw.token(sub=ids["user1002"]), tone_hz=900.0)
    await alice.request({"request": "register", "type": "webfon"})
    a_reg, _ = await alice.wait_event("registered")
    await bob.request({"request": "register", "type": "webfon"})
    b_reg, _ = await bob.wait_event("registered")
    a_ext, b_ext = a_reg["result"]["extension"], b_reg["result"]["extension"]
    assert {a_ext, b_ext} == {"7000", "7001"}

    await alice.request({"request": "call", "uri": f"sip:{b_ext}@webfon"},
                        await alice.make_offer())
    incoming, offer = await bob.wait_event("incomingcall", timeout=20)
    await bob.request({"request": "accept"}, await bob.answer_offer(offer))
    _, answer = await alice.wait_event("accepted", timeout=20)
    await alice.take_answer(answer)
    a_rec = await alice.wait_recorder()
    b_rec = await bob.wait_recorder()
    assert abs(await a_rec.wait_tone(900.0, timeout=15) - 900.0) < 15
    assert abs(await b_rec.wait_tone(500.0, timeout=15) - 500.0) < 15
    await alice.request({"request": "hangup"})
    await bob.wait_event("hangup", timeout=10)
    await alice.request({"request": "unregister"})
    await alice.wait_event("unregistered")
    assert incoming["result"]["username"]
