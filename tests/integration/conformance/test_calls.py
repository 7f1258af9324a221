"""Calls, frame for frame against Janus: outgoing (answered, refused, cancelled; hung up by
either side) and incoming (accepted, declined, missed while busy)."""

from __future__ import annotations

from tests.integration.conformance import steps
from tests.integration.conformance.runner import Run


async def test_outgoing_call_hung_up_by_the_peer_with_audio_both_ways(conform) -> None:
    async def scenario(run: Run) -> None:
        peer = await run.start_peer("echo", "uas_answer_bye", rtp_echo=True)
        line = await run.line(await run.session(), "alice", tone_hz=440.0)
        await steps.register_guest(line)
        call = await steps.call_answered(line, peer)
        # sipp echoes the browser's tone: heard back, it crossed the server both ways
        assert await line.hears(440.0), f"{run.target}: the echoed tone was not heard"
        await call.event("hangup", timeout=15)
        await line.core_event("hangup")  # the PeerConnection closed
        await call.done()
        await run.finished(peer)

    await conform(scenario)


async def test_outgoing_call_hung_up_by_the_caller(conform) -> None:
    async def scenario(run: Run) -> None:
        peer = await run.start_peer("callee", "uas_answer")
        line = await run.line(await run.session(), "alice")
        await steps.register_guest(line)
        call = await steps.call_answered(line, peer)
        await steps.hangup(line)
        await call.event("hangup")
        await line.core_event("hangup")  # the PeerConnection closed
        await call.done()
        await run.finished(peer)

    await conform(scenario)


async def test_outgoing_call_refused_busy(conform) -> None:
    async def scenario(run: Run) -> None:
        peer = await run.start_peer("callee", "uas_busy")
        line = await run.line(await run.session(), "alice")
        await steps.register_guest(line)
        call = await steps.call(line, f"sip:busy@{peer.sip_address}")
        await call.event("ringing")
        await call.event("hangup")
        await call.done()
        await run.finished(peer)

    await conform(scenario)


async def test_outgoing_call_cancelled_while_ringing(conform) -> None:
    async def scenario(run: Run) -> None:
        peer = await run.start_peer("callee", "uas_ring")
        line = await run.line(await run.session(), "alice")
        await steps.register_guest(line)
        call = await steps.call(line, f"sip:nobody@{peer.sip_address}")
        await call.event("ringing")
        await steps.hangup(line)
        await call.event("hangup")
        await call.done()
        await run.finished(peer)

    await conform(scenario)


async def test_incoming_call_accepted_and_hung_up_by_the_caller(conform) -> None:
    async def scenario(run: Run) -> None:
        registrar = await run.registrar()
        line = await run.line(await run.session(), "alice")
        await steps.register_at(line, registrar)
        caller, offer = await steps.incoming(run, line, registrar, "uac_call")
        accepted = await steps.accept(line, offer)
        await accepted.done()
        await line.unsolicited_event("hangup", timeout=15)
        await line.core_event("hangup")  # the PeerConnection closed
        await run.finished(caller)

    await conform(scenario)


async def test_incoming_call_declined(conform) -> None:
    async def scenario(run: Run) -> None:
        registrar = await run.registrar()
        line = await run.line(await run.session(), "alice")
        await steps.register_at(line, registrar)
        caller, _ = await steps.incoming(run, line, registrar, "uac_declined")
        declined = await line.request({"request": "decline", "code": 603})
        await declined.reply()
        await declined.event("declining")
        await declined.done()
        await line.unsolicited_event("hangup")
        await run.finished(caller)

    await conform(scenario)


async def test_incoming_call_missed_while_busy(conform) -> None:
    async def scenario(run: Run) -> None:
        registrar = await run.registrar()
        line = await run.line(await run.session(), "alice")
        await steps.register_at(line, registrar)
        first, offer = await steps.incoming(run, line, registrar, "uac_call")
        accepted = await steps.accept(line, offer)
        contact = await registrar.contact()
        second = await run.start_peer("second", "uac_busy", contact.split("@", 1)[-1],
                                      variables={"ruri": contact,
                                                 "to": f"sip:alice@{registrar.domain}"})
        await accepted.done()
        await line.unsolicited_event("missed_call")
        await run.finished(second)
        await line.unsolicited_event("hangup", timeout=15)
        await line.core_event("hangup")  # the PeerConnection closed
        await run.finished(first)

    await conform(scenario)
