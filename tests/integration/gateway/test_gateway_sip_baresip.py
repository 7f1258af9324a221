"""Real SIP phones (baresip in network namespaces) talking to browsers through the gateway.

The gateway's SIP and RTP side listens on the phone network's host address; its WebRTC side
(and the aiortc test clients) stay on 127.0.0.1.
"""

from __future__ import annotations

import asyncio

from gateway.transports.websocket import GATEWAY_KEY
from tests.support.audio import analyse
from webfon.rtp.dtmf import DtmfSender
from webfon.rtp.packet import build_header
from webfon.sip.sdp import SessionDescription


async def bridged(gateway_factory, phone_network, **overrides):
    # the test registrar does not Record-Route: the phones call the gateway directly
    overrides.setdefault("sip_allowed_servers", (f"{phone_network.host_ip}/24:*",))
    return await gateway_factory(local_ip=phone_network.host_ip, ice_addresses=("127.0.0.1",),
                                 **overrides)


async def register(client, registrar, user: str = "alice", password: str = "alicepw"):
    await client.request({"request": "register", "username": f"sip:{user}@{registrar.address}",
                          "secret": password, "proxy": f"sip:{registrar.address}"})
    await client.wait_event("registering")
    return await client.wait_event("registered", timeout=40)


async def test_register_receive_call_hold_dtmf_hangup(gateway_factory, phone_network,
                                                      registrar_factory, baresip_factory,
                                                      sip_clients) -> None:
    gw = await bridged(gateway_factory, phone_network)
    registrar = await registrar_factory(phone_network.host_ip)
    client = await sip_clients(gw=gw, tone_hz=600.0)

    bad = await sip_clients(gw=gw)
    await bad.request({"request": "register", "username": f"sip:alice@{registrar.address}",
                       "secret": "wrong", "proxy": f"sip:{registrar.address}"})
    failed, _ = await bad.wait_event("registration_failed")
    assert failed["result"]["code"] == 403

    registered, _ = await register(client, registrar)
    assert registered["result"]["register_sent"] is True
    contact = registrar.bindings["alice"]

    bob = await baresip_factory("bob", tone_hz=800.0)
    await bob.dial(contact)
    incoming, offer = await client.wait_event("incomingcall")
    assert incoming["result"]["username"].startswith("sip:bob@")
    assert offer is not None and offer["type"] == "offer"
    answer = await client.answer_offer(offer)
    await client.request({"request": "accept"}, answer)
    await client.wait_event("accepted")
    await bob.wait_event("CALL_ESTABLISHED", timeout=10)
    recorder = await client.wait_recorder()
    assert abs(await recorder.wait_tone(800.0, timeout=15) - 800.0) < 15

    # DTMF from the phone reaches the browser side as events
    await bob.send_dtmf("15#")
    digits = ""
    for _ in range(3):
        event, _ = await client.wait_event("dtmf")
        digits += event["result"]["signal"]
    assert digits == "15#"

    # SIP INFO DTMF towards the phone
    await client.request({"request": "dtmf_info", "digit": "7"})
    await client.wait_event("dtmfsent")

    # hold silences the phone's audio, unhold brings it back
    await client.request({"request": "hold"})
    await client.wait_event("holding")
    await recorder.wait_silence(timeout=10)
    await client.request({"request": "unhold"})
    await client.wait_event("resuming")
    assert abs(await recorder.wait_tone(800.0, timeout=15) - 800.0) < 15

    await asyncio.sleep(1.0)
    await client.request({"request": "hangup"})
    await client.wait_event("hangup")
    await bob.wait_event("CALL_CLOSED", timeout=10)
    report = analyse(bob.last_decoded_wav(), 600.0)
    assert report.tone_s > 1.0, str(report)


async def test_outgoing_call_to_baresip_hears_both_tones(gateway_factory, phone_network,
                                                         registrar_factory, baresip_factory,
                                                         sip_clients) -> None:
    gw = await bridged(gateway_factory, phone_network)
    registrar = await registrar_factory(phone_network.host_ip)
    client = await sip_clients(gw=gw, tone_hz=500.0)
    await register(client, registrar)
    carol = await baresip_factory("carol", tone_hz=1000.0)
    offer = await client.make_offer()
    await client.request({"request": "call", "uri": carol.uri}, offer)
    await client.wait_event("calling")
    await client.wait_event("ringing")
    _, jsep = await client.wait_event("accepted")
    await client.take_answer(jsep)
    recorder = await client.wait_recorder()
    assert abs(await recorder.wait_tone(1000.0, timeout=15) - 1000.0) < 15
    # the phone holds and resumes: re-INVITEs answered by the gateway on its own
    await carol.hold()
    held, _ = await client.wait_event("remote_hold")
    assert held["result"]["direction"] in ("sendonly", "inactive")
    await recorder.wait_silence(timeout=10)
    await carol.resume()
    await client.wait_event("remote_resume")
    assert abs(await recorder.wait_tone(1000.0, timeout=15) - 1000.0) < 15
    line = next(iter(gw.app[GATEWAY_KEY].registry.get("janus.plugin.sip").calls.values()))
    before = line.media.rtp.packets_to_sip
    await asyncio.sleep(1.0)
    assert line.media.rtp.packets_to_sip - before > 30  # our audio flows to the phone again
    await carol.hangup()
    hangup, _ = await client.wait_event("hangup")
    assert hangup["result"]["code"] == 200
    # baresip's recorder stops at the hold: the part before it carries our tone
    report = analyse(carol.last_decoded_wav(), 500.0)
    assert report.tone_s > 0.5, str(report)


async def test_second_call_rings_a_helper_line_while_the_first_is_held(
        gateway_factory, phone_network, registrar_factory, baresip_factory,
        sip_clients) -> None:
    gw = await bridged(gateway_factory, phone_network)
    registrar = await registrar_factory(phone_network.host_ip)
    master = await sip_clients(gw=gw, tone_hz=500.0)
    registered, _ = await register(master, registrar)
    master_id = registered["result"]["master_id"]
    helper = await sip_clients(gw=gw, tone_hz=700.0, session=master.session)
    await helper.request({"request": "register", "type": "helper", "master_id": master_id,
                          "username": registered["result"]["username"]})
    helped, _ = await helper.wait_event("registered")
    assert helped["result"]["helper"] is True
    contact = registrar.bindings["alice"]

    bob = await baresip_factory("bob", tone_hz=800.0)
    await bob.dial(contact)
    _, offer = await master.wait_event("incomingcall")
    await master.request({"request": "accept"}, await master.answer_offer(offer))
    await master.wait_event("accepted")
    await master.request({"request": "hold"})
    await master.wait_event("holding")

    carol = await baresip_factory("carol", tone_hz=1000.0)
    await carol.dial(contact)
    _, offer2 = await helper.wait_event("incomingcall")
    await helper.request({"request": "accept"}, await helper.answer_offer(offer2))
    await helper.wait_event("accepted")
    await carol.wait_event("CALL_ESTABLISHED", timeout=10)
    recorder = await helper.wait_recorder()
    assert abs(await recorder.wait_tone(1000.0, timeout=15) - 1000.0) < 15

    # a third call finds every line busy: 486 for the caller, missed_call for the user
    dave = await baresip_factory("dave", tone_hz=300.0)
    await dave.dial(contact)
    missed, _ = await master.wait_event("missed_call")
    assert missed["result"]["caller"].startswith("sip:dave@")
    await dave.wait_event("CALL_CLOSED", timeout=10)

    await helper.request({"request": "hangup"})
    await helper.wait_event("hangup")
    await master.request({"request": "hangup"})
    await master.wait_event("hangup")
    await bob.wait_event("CALL_CLOSED", timeout=10)
    await carol.wait_event("CALL_CLOSED", timeout=10)


async def test_blind_transfer_sends_refer_and_the_phone_calls_the_target(
        gateway_factory, phone_network, registrar_factory, baresip_factory,
        sip_clients) -> None:
    gw = await bridged(gateway_factory, phone_network)
    registrar = await registrar_factory(phone_network.host_ip)
    client = await sip_clients(gw=gw)
    await register(client, registrar)
    bob = await baresip_factory("bob", tone_hz=800.0)
    carol = await baresip_factory("carol", tone_hz=1000.0)
    offer = await client.make_offer()
    await client.request({"request": "call", "uri": bob.uri}, offer)
    _, jsep = await client.wait_event("accepted")
    await client.take_answer(jsep)
    await client.request({"request": "transfer", "uri": carol.uri})
    await client.wait_event("transferring")
    await carol.wait_event("CALL_ESTABLISHED", timeout=15)
    notify, _ = await client.wait_event("notify", timeout=15)
    assert notify["result"]["notify"].startswith("refer")
    await asyncio.sleep(1.5)
    await carol.hangup()
    await carol.wait_event("CALL_CLOSED", timeout=10)
    report = analyse(carol.last_decoded_wav(), 800.0)  # bob called carol after the REFER
    assert report.tone_s > 1.0, str(report)


async def test_incoming_refer_is_offered_and_followed_on_a_helper(
        gateway_factory, phone_network, registrar_factory, baresip_factory,
        sip_clients) -> None:
    gw = await bridged(gateway_factory, phone_network)
    registrar = await registrar_factory(phone_network.host_ip)
    master = await sip_clients(gw=gw, tone_hz=500.0)
    registered, _ = await register(master, registrar)
    helper = await sip_clients(gw=gw, tone_hz=500.0, session=master.session)
    await helper.request({"request": "register", "type": "helper",
                          "master_id": registered["result"]["master_id"],
                          "username": registered["result"]["username"]})
    await helper.wait_event("registered")
    bob = await baresip_factory("bob", tone_hz=800.0)
    carol = await baresip_factory("carol", tone_hz=1000.0)
    offer = await master.make_offer()
    await master.request({"request": "call", "uri": bob.uri}, offer)
    _, jsep = await master.wait_event("accepted")
    await master.take_answer(jsep)
    await bob.wait_event("CALL_ESTABLISHED", timeout=10)
    await bob.command("transfer", carol.uri)
    transfer, _ = await master.wait_event("transfer", timeout=10)
    result = transfer["result"]
    assert result["refer_to"] == carol.uri
    offer2 = await helper.make_offer()
    await helper.request({"request": "call", "uri": result["refer_to"],
                          "refer_id": result["refer_id"]}, offer2)
    _, jsep2 = await helper.wait_event("accepted")
    await helper.take_answer(jsep2)
    recorder = await helper.wait_recorder()
    assert abs(await recorder.wait_tone(1000.0, timeout=15) - 1000.0) < 15


async def send_rfc4733(client, digits: str, pt: int) -> None:
    """What a browser's RTCDTMFSender does: telephone-event packets in the audio stream."""
    transceiver = next(t for t in client.pc.getTransceivers() if t.kind == "audio")
    sender = transceiver.sender
    dtls = sender.transport
    # the events continue the audio stream's sequence (SRTP refuses going backwards):
    # stop the tone, then carry on from its last packet
    sender.replaceTrack(None)
    await asyncio.sleep(0.1)
    last_ts = sender._RTCRtpSender__rtp_timestamp
    history = sender._RTCRtpSender__rtp_history.values()
    seq = next(p.sequence_number for p in history if p.timestamp == last_ts) + 1
    ts = (last_ts + 8000) & 0xFFFFFFFF
    for digit in digits:
        for packet in DtmfSender().packets(digit, ts, duration_ms=120):
            data = build_header(pt, seq, packet.timestamp, sender._ssrc, packet.marker)
            await dtls._send_rtp(data + packet.payload)
            seq = (seq + 1) & 0xFFFF
            await asyncio.sleep(0.02)
        ts = (ts + 8000) & 0xFFFFFFFF
        await asyncio.sleep(0.15)


async def test_browser_rfc4733_digits_reach_the_phone(gateway_factory, phone_network,
                                                      registrar_factory, baresip_factory,
                                                      sip_clients) -> None:
    gw = await bridged(gateway_factory, phone_network)
    registrar = await registrar_factory(phone_network.host_ip)
    client = await sip_clients(gw=gw)
    await register(client, registrar)
    carol = await baresip_factory("carol", tone_hz=1000.0)
    offer = await client.make_offer()
    desc = SessionDescription.parse(offer["sdp"])
    desc.audio.add_telephone_event(110)  # as a browser offers it
    await client.request({"request": "call", "uri": carol.uri},
                         {"type": "offer", "sdp": str(desc)})
    _, jsep = await client.wait_event("accepted")
    answer = SessionDescription.parse(jsep["sdp"])
    assert answer.audio.telephone_event == 110
    await client.take_answer(jsep)
    await carol.wait_event("CALL_ESTABLISHED", timeout=10)
    recorder = await client.wait_recorder()
    await recorder.wait_tone(1000.0, timeout=15)
    await send_rfc4733(client, "29*", 110)
    for _ in range(30):
        if len(carol.dtmf_received()) >= 3:
            break
        await asyncio.sleep(0.1)
    assert carol.dtmf_received() == "29*"
