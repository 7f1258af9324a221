"""Steps the scenarios share: registering, placing, answering and ending calls.

Each step is written the way an application on ``janus-client`` would do it: a request's
later events are awaited on that request's transaction.
"""

from __future__ import annotations

from typing import Any

from tests.integration.conformance.client import Pending, SipLine
from tests.integration.conformance.runner import Registrar, Run
from tests.support.net import HOST
from tests.support.sipp import Sipp


async def register_guest(line: SipLine, user: str = "alice") -> dict[str, Any]:
    return await line.ask({"request": "register", "type": "guest",
                           "username": f"sip:{user}@{HOST}"}, "registered")


async def register_at(line: SipLine, registrar: Registrar, user: str = "alice",
                      secret: str = "secret") -> dict[str, Any]:
    """Register with digest credentials; returns the ``registered`` event."""
    pending = await line.request({"request": "register", "username":
                                  f"sip:{user}@{registrar.domain}", "secret": secret,
                                  "proxy": registrar.uri})
    await pending.reply()
    await pending.event("registering")
    await pending.done()
    return await line.unsolicited_event("registered")


async def call(line: SipLine, uri: str) -> Pending:
    """Place a call; returns the ``call`` request, whose later events come on it."""
    pending = await line.request({"request": "call", "uri": uri}, await line.offer())
    await pending.reply()
    await pending.event("calling")
    return pending


async def call_answered(line: SipLine, peer: Sipp, user: str = "echo") -> Pending:
    """Place a call to ``peer`` and wait until it is answered (on the call's transaction)."""
    pending = await call(line, f"sip:{user}@{peer.sip_address}")
    await pending.event("ringing")
    accepted = await pending.event("accepted")
    await line.take_answer(accepted)
    await line.core_event("webrtcup")
    return pending


async def hangup(line: SipLine) -> None:
    pending = await line.request({"request": "hangup"})
    await pending.reply()
    await pending.event("hangingup")
    await pending.done()


async def incoming(run: Run, line: SipLine, registrar: Registrar, scenario: str,
                   name: str = "caller", user: str = "alice") -> tuple[Sipp, dict[str, Any]]:
    """Have a sipp ``scenario`` call the contact ``line`` registered; returns the caller and
    the ``incomingcall`` event."""
    contact = await registrar.contact()
    host_port = contact.split("@", 1)[-1].split(";", 1)[0]
    caller = await run.start_peer(name, scenario, host_port, variables={
        "ruri": contact, "to": f"sip:{user}@{registrar.domain}"})
    return caller, await line.unsolicited_event("incomingcall")


async def accept(line: SipLine, offer: dict[str, Any]) -> Pending:
    """Accept an incoming call; returns the ``accept`` request."""
    pending = await line.request({"request": "accept"}, await line.answer(offer))
    await pending.reply()
    await pending.event("accepted")
    await line.core_event("webrtcup")
    return pending
