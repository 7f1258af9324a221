"""SIP calls through the gateway to sipp, with audio checked by tone detection."""

from __future__ import annotations

from pathlib import Path

from aiortc import RTCRtpSender

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


async def test_browser_without_g711_is_transcoded_from_opus(sip_clients, sipp_factory) -> None:
    sipp: Sipp = sipp_factory("uas_echo", rtp_echo=True, timeout=60)
    await sipp.start()
    client = await sip_clients(tone_hz=700.0)
    await client.request({"request": "register", "type": "guest",
                          "username": "sip:opus@127.0.0.1"})
    await client.wait_event("registered")
    client._watch_tracks()
    transceiver = client.pc.addTransceiver(client.tone, direction="sendrecv")
    opus = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.name == "opus"]
    transceiver.setCodecPreferences(opus)
    await client.pc.setLocalDescription(await client.pc.createOffer())
    assert "PCMU" not in client.pc.localDescription.sdp
    await client.request({"request": "call", "uri": f"sip:echo@{sipp.sip_address}"},
                         {"type": "offer", "sdp": client.pc.localDescription.sdp})
    _, jsep = await client.wait_event("accepted")
    assert "opus/48000" in jsep["sdp"]
    await client.take_answer(jsep)
    recorder = await client.wait_recorder()
    heard = await recorder.wait_tone(700.0, timeout=15)
    assert abs(heard - 700.0) < 15
    await client.request({"request": "hangup"})
    await client.wait_event("hangup")


async def test_offerless_incoming_invite_takes_the_browser_offer(
        registrar_factory, sip_clients, sipp_factory, gateway_server) -> None:
    registrar = await registrar_factory("127.0.0.1")
    client = await sip_clients(tone_hz=650.0)
    await client.request({"request": "register", "username": f"sip:alice@{registrar.address}",
                          "secret": "alicepw", "proxy": f"sip:{registrar.address}"})
    await client.wait_event("registered")
    contact = registrar.bindings["alice"]
    user, hostport = contact.split(":", 1)[1].split("@")
    sipp: Sipp = sipp_factory(str(Path(__file__).parent / "sipp_uac_offerless.xml"),
                              hostport, service=user, rtp_echo=True, duration_ms=6000,
                              timeout=60)
    await sipp.start()
    incoming, offer = await client.wait_event("incomingcall")
    assert offer is None  # offerless: the browser makes the offer
    await client.request({"request": "accept"}, await client.make_offer())
    await client.wait_event("accepting")
    _, answer = await client.wait_event("accepted")
    assert answer is not None and answer["type"] == "answer" and "PCMU" in answer["sdp"]
    await client.take_answer(answer)
    recorder = await client.wait_recorder()
    assert abs(await recorder.wait_tone(650.0, timeout=15) - 650.0) < 15
    hangup, _ = await client.wait_event("hangup", timeout=20)
    assert hangup["result"]["code"] == 200
    result = await sipp.wait(30)
    assert result.successful_calls == 1, result.describe()
    assert incoming["result"]["username"].startswith("sip:sipp@")
