"""Call quality in the CDR from real calls: a webphone (aiortc through the gateway) calls a
baresip desk phone through the PBX, audio verified both ways. The PBX reads the RTCP relayed
between them, the gateway reports the browser leg in its BYE; the CDR gets the MOS, loss,
jitter and round trip, and each leg's node, network and codec. A second call whose browser
drops every fifth packet it sends shows as loss and a lower MOS, and is the one the history's
"bad calls" filter finds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from fonbo.repo import history
from pbx.app import build
from tests.integration.pbx.pbxrun import app_settings
from tests.support.audio import assert_tone
from tests.support.baresip import BaresipPhone, PhoneNetwork
from tests.support.net import free_port, free_port_block, wait_until
from webfon.control_key import control_key_path, ensure_control_key
from webfon.rtp.packet import is_rtcp
from webfon.store import open_store

CALL_S = 9.0
"""Long enough for baresip's reports (every ~5 s) to echo the gateway's (every ~1 s here)."""


@pytest.fixture
async def pbx_app(tmp_path: Path, phone_network: PhoneNetwork) -> AsyncIterator[dict[str, Any]]:
    host = phone_network.host_ip
    rtp = free_port_block(400, host=host)
    settings, ids = await app_settings(tmp_path, "7000-7009", data_dir=tmp_path / "pbxdata",
                                       sip_host=host, sip_port=free_port("both", host),
                                       rtp_port_min=rtp, rtp_port_max=rtp + 398,
                                       node_name="pbx-test")
    app = await build(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    ensure_control_key(settings.data_dir)
    try:
        yield {"url": f"http://127.0.0.1:{runner.addresses[0][1]}", "ids": ids,
               "key": control_key_path(settings.data_dir), "settings": settings}
    finally:
        await runner.cleanup()


def drop_every(client: Any, nth: int) -> None:
    """The browser loses every ``nth`` RTP packet it sends (RTCP goes through)."""
    for transceiver in client.pc.getTransceivers():
        dtls = transceiver.sender.transport
        original = dtls._send_rtp
        count = [0]

        async def lossy(data: bytes, original: Any = original, count: list[int] = count
                        ) -> None:
            if not is_rtcp(data):
                count[0] += 1
                if count[0] % nth == 0:
                    return
            await original(data)

        dtls._send_rtp = lossy


async def call_desk_phone(sip_clients: Any, gw: Any, user_id: int, phone: BaresipPhone,
                          tone: float, lossy: bool) -> None:
    client = await sip_clients(gw=gw, token=gw.token(sub=user_id), tone_hz=tone)
    await client.request({"request": "register", "type": "webfon"})
    await client.wait_event("registered")
    await client.request({"request": "call", "uri": "sip:1002@webfon"},
                         await client.make_offer())
    _, answer = await client.wait_event("accepted", timeout=20)
    await client.take_answer(answer)
    if lossy:
        drop_every(client, 5)
    await phone.wait_event("CALL_ESTABLISHED", 10)
    heard = await client.wait_recorder()
    assert abs(await heard.wait_tone(1000.0, timeout=15) - 1000.0) < 15
    await asyncio.sleep(CALL_S)
    await client.request({"request": "hangup"})
    await client.wait_event("hangup", timeout=10)
    await phone.wait_event("CALL_CLOSED", 10)
    assert_tone(phone.last_decoded_wav(), tone, tolerance_hz=5, min_seconds=2.0)
    await client.request({"request": "unregister"})
    await client.wait_event("unregistered")


async def test_call_quality_reaches_the_cdr_and_the_bad_calls_filter(
        pbx_app: dict[str, Any], gateway_factory: Any, sip_clients: Any,
        phone_network: PhoneNetwork, baresip_factory: Any) -> None:
    host = phone_network.host_ip
    settings = pbx_app["settings"]
    gw = await gateway_factory(pbx_control_url=pbx_app["url"],
                               pbx_control_key=str(pbx_app["key"]), local_nodo_id=4,
                               local_ip=host, rtcp_interval_s=1.0)
    phone = await baresip_factory("2002", tone_hz=1000.0,
                                  registrar=f"{host}:{settings.sip_port}",
                                  password="sip-2002", codecs=("PCMA", "PCMU"))
    ids = pbx_app["ids"]
    await call_desk_phone(sip_clients, gw, ids["user1001"], phone, 500.0, lossy=False)
    await call_desk_phone(sip_clients, gw, ids["user1001"], phone, 700.0, lossy=True)

    store = await open_store(settings.database_url)
    try:
        await wait_until(lambda: _two_calls(store), timeout=10, message="both calls' CDR")
        rows = await _two_calls(store)
        assert rows is not None
        good, bad = rows
        for row in rows:
            legs = {leg["leg"]: leg for leg in json.loads(row["quality"])}
            assert set(legs) == {"caller", "callee", "webrtc"}, legs
            assert legs["caller"]["node"] == legs["callee"]["node"] == "pbx-test"
            assert legs["webrtc"]["node"] == "gateway-4"
            assert legs["callee"]["address"].startswith(phone.ip + ":")
            assert legs["callee"]["network"] == legs["caller"]["network"] == "udp"
            assert legs["callee"]["codec"] == legs["caller"]["codec"] == \
                legs["webrtc"]["codec"] == "PCMU"  # the browser's first G.711 choice
            assert legs["webrtc"]["network"] == "host" and legs["webrtc"]["srtp"]
            # baresip's receiver reports came through the relay, echoing the gateway's
            # sender reports: the round trip to the desk phone, and to the gateway
            assert legs["callee"]["rtt_ms"] is not None
            assert legs["caller"]["rtt_ms"] is not None
            assert legs["webrtc"]["rtt_ms"] is not None
            assert legs["callee"]["remote_loss_pct"] is not None
            assert row["rtt_ms"] is not None and row["jitter_ms"] is not None
        assert good["loss_pct"] < 1.0 and good["mos"] > 4.0, dict(good)
        # a fifth of the browser's packets never arrive: the gateway sees them missing, and
        # so do the PBX on the gateway's leg and the desk phone (its receiver reports)
        legs = {leg["leg"]: leg for leg in json.loads(bad["quality"])}
        assert 15 <= legs["webrtc"]["rx_loss_pct"] <= 25, legs["webrtc"]
        assert 15 <= legs["caller"]["rx_loss_pct"] <= 25, legs["caller"]
        assert 15 <= legs["callee"]["remote_loss_pct"] <= 25, legs["callee"]
        assert bad["loss_pct"] >= 15 and bad["mos"] < 3.0 < good["mos"], dict(bad)

        page, _ = await history.page(store, ids["user1001"],
                                     history.HistoryFilter(bad=True), 10)
        assert [item["call_id"] for item in page] == [bad["call_id"]]
        assert page[0]["quality"]["bad"] and page[0]["quality"]["mos"] == bad["mos"]
        calls, _ = await history.admin_page(store, history.HistoryFilter(bad=True), 10)
        assert [c["call_id"] for c in calls] == [bad["call_id"]]
        assert {leg["leg"] for leg in calls[0]["quality"]["legs"]} == \
            {"caller", "callee", "webrtc"}
    finally:
        await store.close()


async def _two_calls(store: Any) -> list[Any] | None:
    """The caller's row of each call, oldest first, once both are written."""
    rows = await store.fetchall("SELECT c.* FROM cdr c JOIN users u ON u.id = c.user_id "
                                "WHERE c.leg = 0 AND u.login_number = '1001' "
                                "AND c.disposition = 'answered' ORDER BY c.started_at")
    return rows if len(rows) == 2 else None
