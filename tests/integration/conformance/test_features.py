"""In-call features, frame for frame against Janus: hold and resume (by either side), DTMF
(SIP INFO both ways, RFC 4733 from the SIP side), transfers (blind out, REFER received,
attended with Replaces) and helper lines."""

from __future__ import annotations

import asyncio

from tests.integration.conformance import steps
from tests.integration.conformance.runner import Run


async def test_hold_and_resume(conform) -> None:
    async def scenario(run: Run) -> None:
        peer = await run.start_peer("callee", "uas_hold")
        line = await run.line(await run.session(), "alice")
        await steps.register_guest(line)
        call = await steps.call_answered(line, peer)
        await line.ask({"request": "hold", "direction": "sendonly"}, "holding")
        # Janus ignores an unhold while the hold's re-INVITE is under way: let it finish
        await asyncio.sleep(0.5)
        await line.ask({"request": "unhold"}, "resuming")
        await asyncio.sleep(0.5)  # the same for the resume's re-INVITE before hanging up
        await steps.hangup(line)
        await call.event("hangup")
        await line.core_event("hangup")  # the PeerConnection closed
        await call.done()
        await run.finished(peer)

    await conform(scenario)


async def test_hold_and_resume_by_the_peer(conform) -> None:
    async def scenario(run: Run) -> None:
        peer = await run.start_peer("callee", "uas_holds")
        line = await run.line(await run.session(), "alice")
        await steps.register_guest(line)
        call = await steps.call_answered(line, peer)
        # the peer's re-INVITEs are answered by the server itself
        await call.event("hangup", timeout=15)
        await line.core_event("hangup")  # the PeerConnection closed
        await call.done()
        await run.finished(peer)

    await conform(scenario)


async def test_dtmf_by_sip_info_both_ways(conform) -> None:
    async def scenario(run: Run) -> None:
        peer = await run.start_peer("callee", "uas_info")
        line = await run.line(await run.session(), "alice")
        await steps.register_guest(line)
        call = await steps.call_answered(line, peer)
        await line.ask({"request": "dtmf_info", "digit": "5", "duration": 160}, "dtmfsent")
        info = await call.event("info")
        assert "Signal=7" in info["plugindata"]["data"]["result"]["content"], info
        await steps.hangup(line)
        await call.event("hangup")
        await line.core_event("hangup")  # the PeerConnection closed
        await call.done()
        await run.finished(peer)

    await conform(scenario)


async def test_dtmf_rfc4733_from_the_sip_side(conform) -> None:
    async def scenario(run: Run) -> None:
        peer = await run.start_peer("callee", "uas_rfc4733")
        line = await run.line(await run.session(), "alice")
        await steps.register_guest(line)
        call = await steps.call_answered(line, peer)
        await call.event("hangup", timeout=15)
        await line.core_event("hangup")  # the PeerConnection closed
        await call.done()
        await run.finished(peer)

    await conform(scenario)


async def test_blind_transfer_by_the_browser(conform) -> None:
    async def scenario(run: Run) -> None:
        peer = await run.start_peer("transferee", "uas_transferee")
        line = await run.line(await run.session(), "alice")
        await steps.register_guest(line)
        call = await steps.call_answered(line, peer)
        await line.ask({"request": "transfer", "uri": "sip:carol@127.0.0.1:5999"},
                       "transferring")
        await call.event("notify")
        await call.event("notify")
        await call.event("hangup")
        await line.core_event("hangup")  # the PeerConnection closed
        await call.done()
        await run.finished(peer)

    await conform(scenario)


async def test_transfer_received_and_followed_on_a_helper_line(conform) -> None:
    async def scenario(run: Run) -> None:
        target = await run.start_peer("target", "uas_answer")
        # -aa: a NOTIFY that comes while sipp is still answering the previous one gets its
        # 200 too (sipp would otherwise call it unexpected and fail)
        transferor = await run.start_peer("transferor", "uas_transferor", variables={
            "refer_to": f"sip:carol@{target.sip_address}"}, extra_args=["-aa"])
        session = await run.session()
        line = await run.line(session, "alice")
        registered = await steps.register_guest(line)
        helper = await run.line(session, "alice-2")
        master_id = registered["plugindata"]["data"]["result"]["master_id"]
        await helper.ask({"request": "register", "type": "helper", "master_id": master_id,
                          "username": "sip:alice@127.0.0.1"}, "registered")
        call = await steps.call_answered(line, transferor)
        transfer = await call.event("transfer")
        result = transfer["plugindata"]["data"]["result"]
        follow = await helper.request({"request": "call", "uri": result["refer_to"],
                                       "refer_id": result["refer_id"]},
                                      await helper.offer())
        await follow.reply()
        await follow.event("calling")
        accepted = await follow.event("accepted")
        await helper.take_answer(accepted)
        await helper.core_event("webrtcup")
        await call.event("hangup", timeout=15)  # the transferor hangs up once told
        await call.done()
        await steps.hangup(helper)
        await follow.event("hangup")
        await helper.core_event("hangup")  # the PeerConnection closed
        await follow.done()
        await run.finished(transferor)
        await run.finished(target)

    await conform(scenario)


async def test_attended_transfer_with_replaces(conform) -> None:
    async def scenario(run: Run) -> None:
        transferee = await run.start_peer("transferee", "uas_transferee")
        target = await run.start_peer("target", "uas_answer")
        session = await run.session()
        line = await run.line(session, "alice")
        registered = await steps.register_guest(line)
        helper = await run.line(session, "alice-2")
        master_id = registered["plugindata"]["data"]["result"]["master_id"]
        await helper.ask({"request": "register", "type": "helper", "master_id": master_id,
                          "username": "sip:alice@127.0.0.1"}, "registered")
        first = await steps.call_answered(line, transferee)
        second = await steps.call_answered(helper, target, "carol")
        calling = [m for m in run.recorder.frames if m.direction == "<"
                   and ((m.message.get("plugindata") or {}).get("data") or {})
                   .get("result", {}).get("event") == "calling"]
        second_id = calling[-1].message["plugindata"]["data"]["result"]["call_id"]
        await line.ask({"request": "transfer", "uri": f"sip:carol@{target.sip_address}",
                        "replace": second_id}, "transferring")
        await first.event("notify")
        await first.event("notify")
        await first.event("hangup")
        await line.core_event("hangup")  # the PeerConnection closed
        await first.done()
        await steps.hangup(helper)
        await second.event("hangup")
        await helper.core_event("hangup")  # the PeerConnection closed
        await second.done()
        await run.finished(transferee)
        await run.finished(target)

    await conform(scenario)


async def test_helper_line_takes_a_second_incoming_call(conform) -> None:
    async def scenario(run: Run) -> None:
        registrar = await run.registrar()
        session = await run.session()
        line = await run.line(session, "alice")
        registered = await steps.register_at(line, registrar)
        helper = await run.line(session, "alice-2")
        master_id = registered["plugindata"]["data"]["result"]["master_id"]
        await helper.ask({"request": "register", "type": "helper", "master_id": master_id,
                          "username": f"sip:alice@{registrar.domain}"}, "registered")
        first, offer = await steps.incoming(run, line, registrar, "uac_call")
        accepted = await steps.accept(line, offer)
        await accepted.done()
        second, offer2 = await steps.incoming(run, helper, registrar, "uac_call", "second")
        accepted2 = await steps.accept(helper, offer2)
        await accepted2.done()
        await line.unsolicited_event("hangup", timeout=15)
        await line.core_event("hangup")  # the PeerConnection closed
        await helper.unsolicited_event("hangup", timeout=15)
        await helper.core_event("hangup")  # the PeerConnection closed
        await run.finished(first)
        await run.finished(second)

    await conform(scenario)
