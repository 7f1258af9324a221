"""SIP calls through the gateway to sipp, with audio checked by tone detection."""

from __future__ import annotations

from tests.support.sipp import Sipp


async def test_outgoing_call_to_sipp_echo_relays_audio_both_ways(sip_clients, sipp_factory
                                                                 ) -> None:
    sipp: Sipp = sipp_factory("uas_echo", rtp_echo=True, timeout=60)
    await sipp.start()
    client = await sip_clients(tone_hz=600.0)
    await client.request({"request": "register", "type": "guest",
                          "username": "sip:alice@127.0.0.1"})
    registered, _ = await client.wait_event("registered")
    assert registered["result"]["register_sent"] is False
    offer = await client.make_offer()
    await client.request({"request": "call", "uri": f"sip:echo@{sipp.sip_address}"}, offer)
    await client.wait_event("calling")
    _, jsep = await client.wait_event("accepted")
    assert jsep is not None and jsep["type"] == "answer"
    assert "PCMU/8000" in jsep["sdp"] or "PCMA/8000" in jsep["sdp"]
    assert "opus" not in jsep["sdp"]
    await client.take_answer(jsep)
    recorder = await client.wait_recorder()
    heard = await recorder.wait_tone(600.0, timeout=15)
    assert abs(heard - 600.0) < 15
    await client.request({"request": "hangup"})
    hangup, _ = await client.wait_event("hangup")
    assert hangup["result"]["code"] == 200
