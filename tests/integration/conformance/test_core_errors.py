"""The Janus core's answers to bad requests (codes 452–469 and 490), frame for frame.

Sent as raw WebSocket frames (a client library would refuse to send most of them). Every code
of the range is listed in ``CODES`` with the request that makes Janus 1.1.2 answer with it, or,
for the codes Janus cannot produce from its WebSocket API, where Janus produces it and why a
client cannot reach it; ``test_every_core_error_code_is_covered`` keeps the list complete.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import aiohttp

from tests.integration.conformance.client import Frame
from tests.integration.conformance.differences import DIFFERENCES
from tests.integration.conformance.runner import Run

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
       "a=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\n"
       "a=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
       "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\n"
       "a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\na=rtcp-mux\r\n")

# code -> the request (by name in ``requests`` below) that produces it, or why none can
CODES: dict[int, str] = {
    452: "unreachable: Janus 1.1.2 defines JANUS_ERROR_MISSING_REQUEST but never sends it",
    453: "unknown verb in a session",
    454: "not JSON",
    455: "jsep that is not an object",
    456: "no transaction",
    457: "attach without a session",
    458: "keepalive to a session that does not exist",
    459: "message to a handle that does not exist",
    460: "attach to a plugin that does not exist",
    461: "unreachable: only when the plugin's create_session fails (the SIP plugin fails it "
         "only while shutting down)",
    462: "unreachable: only when a plugin returns no result or a severe error for a message "
         "(the SIP plugin queues every message and returns OK_WAIT)",
    463: "unreachable: only when a handle has no plugin left to detach from (a race with the "
         "plugin's own teardown)",
    464: "jsep of an unknown type",
    465: "jsep whose SDP does not parse",
    466: "unreachable: a trickle reaching a handle without a PeerConnection is queued and "
         "acked, so the 'no such PeerConnection' check after it cannot fail",
    467: "transaction that is not a string",
    468: "create with a session id in use",
    469: "answer without an offer",
    490: "unreachable: on the Janus API over WebSocket; 490 comes from the admin API "
         "(tokens, STUN/NAT helpers) and from memory errors",
}


async def test_core_errors(conform) -> None:
    async def scenario(run: Run) -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(
                run.server.ws_url, protocols=["janus-protocol"]) as ws:
            n = 0

            async def send(name: str, message: Any) -> dict[str, Any]:
                nonlocal n
                n += 1
                if isinstance(message, dict) and message.get("transaction") == "?":
                    message["transaction"] = f"tx{n}"
                    run.recorder.transactions[f"tx{n}"] = name
                text = message if isinstance(message, str) else json.dumps(message)
                run.recorder.frames.append(Frame("raw", ">", {"text": text}))
                await ws.send_str(text)
                tx = message.get("transaction") if isinstance(message, dict) else None
                while True:  # the reply, after any event the server pushed meanwhile
                    reply = await ws.receive_json(timeout=10)
                    run.recorder.frames.append(Frame("raw", "<", reply))
                    if reply.get("transaction") == tx or (
                            reply.get("janus") == "error" and "transaction" not in reply):
                        return reply

            created = await send("create", {"janus": "create", "transaction": "?"})
            session = created["data"]["id"]
            attached = await send("attach", {"janus": "attach", "transaction": "?",
                                             "session_id": session,
                                             "plugin": "janus.plugin.sip"})
            handle = attached["data"]["id"]
            run.recorder.handles[handle] = "sip"
            s = {"session_id": session}
            h = {"session_id": session, "handle_id": handle}
            requests: list[tuple[str, Any]] = [
                ("ping", {"janus": "ping", "transaction": "?"}),
                ("not JSON", "hello"),
                ("JSON but not an object", "[1, 2, 3]"),
                ("no janus", {"transaction": "?"}),
                ("no transaction", {"janus": "create"}),
                ("janus that is not a string", {"janus": 5, "transaction": "?"}),
                ("transaction that is not a string", {"janus": "create", "transaction": 5}),
                ("unknown verb without a session", {"janus": "foo", "transaction": "?"}),
                ("unknown verb in a session", {"janus": "foo", "transaction": "?", **s}),
                ("unknown verb on a handle", {"janus": "foo", "transaction": "?", **h}),
                ("attach without a session", {"janus": "attach", "transaction": "?",
                                              "plugin": "janus.plugin.sip"}),
                ("message without a session", {"janus": "message", "transaction": "?",
                                               "body": {}}),
                ("message without a handle", {"janus": "message", "transaction": "?",
                                              "body": {}, **s}),
                ("detach without a handle", {"janus": "detach", "transaction": "?", **s}),
                ("hangup without a handle", {"janus": "hangup", "transaction": "?", **s}),
                ("trickle without a handle", {"janus": "trickle", "transaction": "?",
                                              "candidate": {"completed": True}, **s}),
                ("attach on a handle", {"janus": "attach", "transaction": "?",
                                        "plugin": "janus.plugin.sip", **h}),
                ("destroy on a handle", {"janus": "destroy", "transaction": "?", **h}),
                ("keepalive to a session that does not exist",
                 {"janus": "keepalive", "transaction": "?", "session_id": 123}),
                ("session id that is not a number",
                 {"janus": "keepalive", "transaction": "?", "session_id": "abc"}),
                ("message to a handle that does not exist",
                 {"janus": "message", "transaction": "?", "body": {}, "session_id": session,
                  "handle_id": 999}),
                ("attach to a plugin that does not exist",
                 {"janus": "attach", "transaction": "?", "plugin": "janus.plugin.nope", **s}),
                ("attach without a plugin", {"janus": "attach", "transaction": "?", **s}),
                ("attach with a plugin that is not a string",
                 {"janus": "attach", "transaction": "?", "plugin": 5, **s}),
                ("message without a body", {"janus": "message", "transaction": "?", **h}),
                ("message with a body that is not an object",
                 {"janus": "message", "transaction": "?", "body": "x", **h}),
                ("jsep that is not an object",
                 {"janus": "message", "transaction": "?", "body": {}, "jsep": "x", **h}),
                ("jsep without a type",
                 {"janus": "message", "transaction": "?", "body": {}, "jsep": {"sdp": SDP},
                  **h}),
                ("jsep without sdp",
                 {"janus": "message", "transaction": "?", "body": {},
                  "jsep": {"type": "offer"}, **h}),
                ("jsep of an unknown type",
                 {"janus": "message", "transaction": "?", "body": {},
                  "jsep": {"type": "foo", "sdp": SDP}, **h}),
                ("jsep whose SDP does not parse",
                 {"janus": "message", "transaction": "?", "body": {},
                  "jsep": {"type": "offer", "sdp": "garbage"}, **h}),
                ("answer without an offer",
                 {"janus": "message", "transaction": "?", "body": {},
                  "jsep": {"type": "answer", "sdp": SDP}, **h}),
                ("trickle without a candidate", {"janus": "trickle", "transaction": "?", **h}),
                ("trickle with candidate and candidates",
                 {"janus": "trickle", "transaction": "?", "candidate": {"completed": True},
                  "candidates": [], **h}),
                ("create with a session id in use",
                 {"janus": "create", "transaction": "?", "id": session}),
                ("keepalive", {"janus": "keepalive", "transaction": "?", **s}),
                ("claim by the same connection", {"janus": "claim", "transaction": "?", **s}),
                ("detach", {"janus": "detach", "transaction": "?", **h}),
                ("detach again", {"janus": "detach", "transaction": "?", **h}),
                ("destroy", {"janus": "destroy", "transaction": "?", **s}),
                ("keepalive after destroy", {"janus": "keepalive", "transaction": "?", **s}),
            ]
            for name, message in requests:
                seen = len(run.recorder.frames)
                reply = await send(name, message)
                if name == "detach" and reply.get("janus") == "success":
                    # Janus pushes "detached" from the handle's own thread, before or after the
                    # reply; a "destroy" sent before that drops it. Wait for it, as a client does.
                    while not any(f.message.get("janus") == "detached"
                                  for f in run.recorder.frames[seen:]):
                        run.recorder.frames.append(
                            Frame("raw", "<", await ws.receive_json(timeout=10)))
            with contextlib.suppress(TimeoutError):
                while True:  # whatever else the server says (e.g. "detached")
                    run.recorder.frames.append(Frame("raw", "<",
                                                     await ws.receive_json(timeout=0.5)))

    janus = await conform(scenario)
    reachable = {code for code, how in CODES.items() if not how.startswith("unreachable:")}
    assert reachable <= janus.error_codes(), sorted(reachable - janus.error_codes())


def test_every_core_error_code_is_covered() -> None:
    """Every code has a request of the scenario (which checks Janus sent that code) or says
    why a client cannot get it from Janus."""
    assert sorted(CODES) == [*range(452, 470), 490]
    source = Path(__file__).read_text()
    for code, how in CODES.items():
        assert how.startswith("unreachable: ") or f'("{how}"' in source, (code, how)


def test_differences_are_documented_in_the_readme() -> None:
    """The list the suite applies is the list gateway/README.md gives, entry by entry."""
    readme = (Path(__file__).resolve().parents[3] / "gateway" / "README.md").read_text()
    section = readme.split("## Deliberate differences from Janus", 1)[1].split("\n## ", 1)[0]
    for difference in DIFFERENCES:
        assert f"**{difference.name}**" in section, difference.name
