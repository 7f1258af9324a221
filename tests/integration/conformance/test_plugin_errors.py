"""The SIP plugin's error events (codes 440–454), frame for frame against Janus.

``CODES`` lists every code with the request that makes Janus 1.1.2 answer with it, or why a
client cannot make Janus produce it; ``test_every_plugin_error_code_is_covered`` keeps the
list complete.
"""

from __future__ import annotations

from tests.integration.conformance import steps
from tests.integration.conformance.runner import Run

OUTSIDE, IN_CALLS = "test_plugin_errors_outside_calls", "test_plugin_errors_in_calls"
# code -> the scenario that makes Janus send it (checked in its transcript), or why none can
CODES: dict[int, str] = {
    440: "unreachable: the core refuses a message without a body (456) before the plugin "
         "sees it",
    441: "unreachable: the core refuses a body that is not an object (467) first",
    442: OUTSIDE,  # unknown request
    443: OUTSIDE,  # register without a username
    444: OUTSIDE,  # register with a username that is not a string
    445: "unreachable: Janus lets a guest register again, and a registered account's second "
         "register needs a registrar (covered by our own tests)",
    446: OUTSIDE,  # register with an invalid username
    447: OUTSIDE,  # call before registering
    448: OUTSIDE,  # call without an offer
    449: "unreachable: a failure inside the SIP stack (sofia's NUA or handle missing)",
    450: "unreachable: the machine out of RTP ports, or an SDP that cannot be rewritten",
    451: IN_CALLS,  # recording that records nothing
    452: IN_CALLS,  # accept with SDES-SRTP required from a caller that offers plain RTP
    453: OUTSIDE,  # helper of a master that does not exist
    454: IN_CALLS,  # attended transfer of a call that does not exist
}


def expected(test: str) -> set[int]:
    return {code for code, where in CODES.items() if where == test}


async def test_plugin_errors_outside_calls(conform) -> None:
    async def scenario(run: Run) -> None:
        session = await run.session()
        line = await run.line(session, "alice")
        for body in [
            {"request": "nonsense"},                                 # unknown request
            {},                                                      # no request at all
            {"request": 5},
            {"request": "register", "type": "guest"},                # without a username
            {"request": "register", "type": "guest", "username": 5},
            {"request": "register", "type": "guest", "username": "alice"},  # invalid
            {"request": "register", "type": "guest", "username": "sip:"},
            {"request": "register", "username": "sip:alice@127.0.0.1", "secret": "x",
             "ha1_secret": "y"},
            {"request": "register", "type": "guest", "username": "sip:alice@127.0.0.1",
             "proxy": "nonsense"},
            {"request": "register", "type": "guest", "username": "sip:alice@127.0.0.1",
             "register_ttl": "x"},
            {"request": "register", "type": "helper", "username": "sip:alice@127.0.0.1"},
            {"request": "register", "type": "helper", "username": "sip:alice@127.0.0.1",
             "master_id": 12345},                                     # no such master
            {"request": "call", "uri": "sip:bob@127.0.0.1"},          # not registered
            {"request": "unregister"},
            {"request": "accept"},
            {"request": "decline"},
            {"request": "hold"},
            {"request": "transfer", "uri": "sip:bob@127.0.0.1"},
            {"request": "dtmf_info", "digit": "1"},
            {"request": "info", "type": "text/plain", "content": "x"},
            {"request": "message", "content": "x"},
            {"request": "update"},
        ]:
            await line.poke(body)
        await steps.register_guest(line)
        for body in [
            {"request": "register", "type": "guest",
             "username": "sip:alice@127.0.0.1"},                      # register twice
            {"request": "call"},                                      # without a uri
            {"request": "call", "uri": 5},
            {"request": "call", "uri": "sip:bob@127.0.0.1"},          # without an offer
            {"request": "call", "uri": "bob"},
            {"request": "call", "uri": "sip:bob@127.0.0.1", "secret": "x",
             "ha1_secret": "y"},
            {"request": "call", "uri": "sip:bob@127.0.0.1", "srtp": "nonsense"},
            {"request": "accept"},
            {"request": "decline"},
            {"request": "hangup"},
            {"request": "hold"},
            {"request": "unhold"},
            {"request": "transfer", "uri": "sip:bob@127.0.0.1"},
            {"request": "dtmf_info", "digit": "1"},
            {"request": "info", "type": "text/plain", "content": "x"},
            {"request": "message", "content": "x"},
            {"request": "recording", "action": "start", "audio": True},
        ]:
            await line.poke(body)

    janus = await conform(scenario)
    assert expected(OUTSIDE) <= janus.error_codes(), janus.error_codes()


async def test_plugin_errors_in_calls(conform) -> None:
    async def scenario(run: Run) -> None:
        registrar = await run.registrar()
        line = await run.line(await run.session(), "alice")
        await steps.register_at(line, registrar)
        caller, _ = await steps.incoming(run, line, registrar, "uac_declined")
        # (the SRTP checks come before the SDP's: without a JSEP, neither server starts ICE
        # on an answer the plugin then refuses)
        for body, jsep in [
            ({"request": "accept", "srtp": "sdes_mandatory"}, None),
            ({"request": "accept", "srtp": "nonsense"}, None),
            ({"request": "call", "uri": "sip:bob@127.0.0.1"}, None),   # already in a call
            ({"request": "transfer", "uri": "sip:bob@127.0.0.1"}, None),
            ({"request": "decline", "code": "x"}, None),
        ]:
            await line.poke(body, jsep)
        declined = await line.request({"request": "decline", "code": 603})
        await declined.reply()
        await declined.event("declining")
        await declined.done()
        await line.unsolicited_event("hangup")
        # Janus made an offer for the declined call that was never answered: without this, a
        # new call on the handle may fail there with 490 "Error setting ICE locally"
        await line.hang_up_peer_connection()
        await run.finished(caller)
        peer = await run.start_peer("callee", "uas_answer")
        call = await steps.call_answered(line, peer)
        for body in [
            {"request": "recording", "action": "start"},             # records nothing
            {"request": "recording", "action": "nonsense", "audio": True},
            {"request": "recording"},
            {"request": "transfer", "uri": "sip:carol@127.0.0.1", "replace": "nonsense"},
            {"request": "transfer"},
            {"request": "transfer", "uri": "carol"},
            {"request": "hold", "direction": "nonsense"},
            {"request": "dtmf_info"},
            {"request": "info", "content": "x"},
            {"request": "message"},
            {"request": "accept"},
        ]:
            await line.poke(body)
        await steps.hangup(line)
        await call.event("hangup")
        await line.core_event("hangup")  # the PeerConnection closed
        await call.done()
        await run.finished(peer)

    janus = await conform(scenario)
    assert expected(IN_CALLS) <= janus.error_codes(), janus.error_codes()


def test_every_plugin_error_code_is_covered() -> None:
    assert sorted(CODES) == list(range(440, 455))
    for where in CODES.values():
        assert where in (OUTSIDE, IN_CALLS) or where.startswith("unreachable: ")
