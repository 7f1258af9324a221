"""The Janus API core over HTTP and WebSocket: replies, events, errors, timeouts, auth."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway import errors as E
from webfon.tokens import TokenIssuer


async def test_info_lists_plugins_and_echoes_transaction(gw) -> None:
    reply = await gw.post("/janus", {"janus": "info", "transaction": "t1"})
    assert reply["janus"] == "server_info"
    assert reply["transaction"] == "t1"
    assert "janus.plugin.echotest" in reply["plugins"]
    pong = await gw.post("/janus", {"janus": "ping", "transaction": "p"})
    assert pong == {"janus": "pong", "transaction": "p"}


async def test_create_attach_message_detach_destroy_over_http(gw) -> None:
    sid = await gw.session()
    hid = await gw.handle(sid)
    reply = await gw.post(f"/janus/{sid}/{hid}", {"janus": "message", "transaction": "m1",
                                                  "body": {"audio": True}})
    assert reply == {"janus": "ack", "session_id": sid, "transaction": "m1"}
    resp = await gw.client.get(f"/janus/{sid}?maxev=1")
    event = await resp.json()
    assert event["janus"] == "event"
    assert event["transaction"] == "m1"
    assert event["sender"] == hid
    assert event["plugindata"] == {"plugin": "janus.plugin.echotest",
                                   "data": {"echotest": "event", "result": "ok"}}
    keep = await gw.post(f"/janus/{sid}", {"janus": "keepalive", "transaction": "k"})
    assert keep == {"janus": "ack", "session_id": sid, "transaction": "k"}
    detach = await gw.post(f"/janus/{sid}/{hid}", {"janus": "detach", "transaction": "d"})
    assert detach["janus"] == "success"
    destroy = await gw.post(f"/janus/{sid}", {"janus": "destroy", "transaction": "x"})
    assert destroy["janus"] == "success"
    gone = await gw.post(f"/janus/{sid}", {"janus": "keepalive", "transaction": "k2"})
    assert gone["error"]["code"] == E.SESSION_NOT_FOUND


@pytest.mark.parametrize(("body", "code"), [
    ({"transaction": "t"}, E.MISSING_MANDATORY_ELEMENT),
    ({"janus": "create"}, E.MISSING_MANDATORY_ELEMENT),
    # as Janus: without a session only create, info and ping exist at this path
    ({"janus": "fly", "transaction": "t"}, E.INVALID_REQUEST_PATH),
    ({"janus": 5, "transaction": "t"}, E.INVALID_ELEMENT_TYPE),
    # as Janus: JSON that is not an object lacks a transaction
    ([1, 2, 3], E.MISSING_MANDATORY_ELEMENT),
    ({"janus": "keepalive", "transaction": "t", "session_id": 12345}, E.SESSION_NOT_FOUND),
])
async def test_bad_requests_get_janus_error_codes(gw, body, code) -> None:
    reply = await gw.post("/janus", body)
    assert reply["janus"] == "error"
    assert reply["error"]["code"] == code


async def test_invalid_json_and_unknown_ids(gw) -> None:
    resp = await gw.client.post("/janus", data=b"{not json")
    assert (await resp.json())["error"]["code"] == E.INVALID_JSON
    sid = await gw.session()
    reply = await gw.post(f"/janus/{sid}/999", {"janus": "message", "transaction": "t",
                                                "body": {}})
    assert reply["error"]["code"] == E.HANDLE_NOT_FOUND
    reply = await gw.post("/janus/notanumber", {"janus": "keepalive", "transaction": "t"})
    assert reply["error"]["code"] == E.INVALID_REQUEST_PATH
    reply = await gw.post(f"/janus/{sid}", {"janus": "attach", "transaction": "t",
                                            "plugin": "janus.plugin.nope",
                                            "token": gw.token()})
    assert reply["error"]["code"] == E.PLUGIN_NOT_FOUND
    reply = await gw.post(f"/janus/{sid}", {"janus": "message", "transaction": "t"})
    assert reply["error"]["code"] == E.INVALID_REQUEST_PATH


async def test_message_body_and_jsep_are_checked(gw) -> None:
    sid = await gw.session()
    hid = await gw.handle(sid)
    path = f"/janus/{sid}/{hid}"
    reply = await gw.post(path, {"janus": "message", "transaction": "t"})
    assert reply["error"]["code"] == E.MISSING_MANDATORY_ELEMENT
    reply = await gw.post(path, {"janus": "message", "transaction": "t", "body": "x"})
    assert reply["error"]["code"] == E.INVALID_ELEMENT_TYPE
    reply = await gw.post(path, {"janus": "message", "transaction": "t", "body": {},
                                 "jsep": {"type": "pranswer", "sdp": "v=0"}})
    assert reply["error"]["code"] == E.JSEP_UNKNOWN_TYPE
    reply = await gw.post(path, {"janus": "message", "transaction": "t", "body": {},
                                 "jsep": {"type": "offer", "sdp": "garbage\r\nmore"}})
    assert reply["error"]["code"] == E.JSEP_INVALID_SDP
    reply = await gw.post(path, {"janus": "message", "transaction": "t", "body": {},
                                 "jsep": {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 x"}})
    assert reply["error"]["code"] == E.JSEP_INVALID_SDP
    reply = await gw.post(path, {"janus": "trickle", "transaction": "t"})
    assert reply["error"]["code"] == E.MISSING_MANDATORY_ELEMENT
    # still serving
    assert (await gw.post(path, {"janus": "message", "transaction": "ok",
                                 "body": {}}))["janus"] == "ack"


async def test_tokens_are_required_and_checked(gw, tmp_path: Path) -> None:
    reply = await gw.post("/janus", {"janus": "create", "transaction": "t"})
    assert reply["error"]["code"] == E.UNAUTHORIZED
    reply = await gw.post("/janus", {"janus": "create", "transaction": "t",
                                     "token": "not-a-jwt"})
    assert reply["error"]["code"] == E.UNAUTHORIZED
    forged = TokenIssuer(Ed25519PrivateKey.generate()).issue(
        1, audience=["gateway"], roles=["admin"], ttl=60)[0]
    reply = await gw.post("/janus", {"janus": "create", "transaction": "t", "token": forged})
    assert reply["error"]["code"] == E.UNAUTHORIZED
    wrong_aud = gw.token(audience=("fonbo",))
    reply = await gw.post("/janus", {"janus": "create", "transaction": "t",
                                     "token": wrong_aud})
    assert reply["error"]["code"] == E.UNAUTHORIZED
    expired = gw.token(ttl=-60)
    reply = await gw.post("/janus", {"janus": "create", "transaction": "t", "token": expired})
    assert reply["error"]["code"] == E.UNAUTHORIZED
    sid = await gw.session()
    reply = await gw.post(f"/janus/{sid}", {"janus": "attach", "transaction": "t",
                                            "plugin": "janus.plugin.echotest"})
    assert reply["error"]["code"] == E.UNAUTHORIZED
    other_user = gw.token(sub=2002)
    reply = await gw.post(f"/janus/{sid}", {"janus": "attach", "transaction": "t",
                                            "plugin": "janus.plugin.echotest",
                                            "token": other_user})
    assert reply["error"]["code"] == E.UNAUTHORIZED


async def test_oversized_http_message_is_refused(gw) -> None:
    resp = await gw.client.post("/janus", data=b"{" + b" " * 70000 + b"}")
    assert resp.status == 413
    assert (await gw.post("/janus", {"janus": "ping", "transaction": "p"}))["janus"] == "pong"


async def ws_connect(gw) -> aiohttp.ClientWebSocketResponse:
    ws = await gw.client.ws_connect("/janus", protocols=("janus-protocol",))
    assert ws.protocol == "janus-protocol"
    return ws


async def ws_call(ws, msg: dict) -> dict:
    await ws.send_str(json.dumps(msg))
    while True:
        reply = json.loads((await ws.receive(timeout=10)).data)
        if reply.get("transaction") == msg.get("transaction"):
            return reply


async def test_websocket_flow_and_session_destroyed_on_close(gw) -> None:
    ws = await ws_connect(gw)
    created = await ws_call(ws, {"janus": "create", "transaction": "c", "token": gw.token()})
    sid = created["data"]["id"]
    attached = await ws_call(ws, {"janus": "attach", "transaction": "a", "session_id": sid,
                                  "plugin": "janus.plugin.echotest", "token": gw.token()})
    hid = attached["data"]["id"]
    await ws.send_str(json.dumps({"janus": "message", "transaction": "m", "session_id": sid,
                                  "handle_id": hid, "body": {"audio": False}}))
    first = json.loads((await ws.receive(timeout=10)).data)
    second = json.loads((await ws.receive(timeout=10)).data)
    assert first["janus"] == "ack" and second["janus"] == "event"
    assert second["transaction"] == "m"
    await ws.send_str("{broken")
    err = json.loads((await ws.receive(timeout=10)).data)
    assert err["error"]["code"] == E.INVALID_JSON
    await ws.close()
    for _ in range(50):
        reply = await gw.post(f"/janus/{sid}", {"janus": "keepalive", "transaction": "k"})
        if reply["janus"] == "error":
            break
        await asyncio.sleep(0.05)
    assert reply["error"]["code"] == E.SESSION_NOT_FOUND


async def test_claimed_session_survives_its_first_websocket(gw) -> None:
    ws1 = await ws_connect(gw)
    sid = (await ws_call(ws1, {"janus": "create", "transaction": "c",
                               "token": gw.token()}))["data"]["id"]
    ws2 = await ws_connect(gw)
    stranger = await ws_call(ws2, {"janus": "claim", "transaction": "cl", "session_id": sid,
                                   "token": gw.token(sub=2002)})
    assert stranger["error"]["code"] == E.UNAUTHORIZED
    claimed = await ws_call(ws2, {"janus": "claim", "transaction": "cl", "session_id": sid,
                                  "token": gw.token()})
    assert claimed["janus"] == "success"
    await ws1.close()
    await asyncio.sleep(0.2)
    alive = await ws_call(ws2, {"janus": "keepalive", "transaction": "k", "session_id": sid})
    assert alive["janus"] == "ack"
    await ws2.close()


async def test_events_queued_while_unclaimed_arrive_on_the_claiming_socket(
        make_gateway) -> None:
    gw = await make_gateway(reclaim_session_timeout=10)
    ws1 = await ws_connect(gw)
    sid = (await ws_call(ws1, {"janus": "create", "transaction": "c",
                               "token": gw.token()}))["data"]["id"]
    hid = (await ws_call(ws1, {"janus": "attach", "transaction": "a", "session_id": sid,
                               "plugin": "janus.plugin.echotest",
                               "token": gw.token()}))["data"]["id"]
    await ws1.close()
    await asyncio.sleep(0.2)
    # an event produced while no socket is bound (here: a request over HTTP) is kept
    reply = await gw.post(f"/janus/{sid}/{hid}", {"janus": "message", "transaction": "m",
                                                  "body": {"audio": False}})
    assert reply["janus"] == "ack"
    ws2 = await ws_connect(gw)
    claimed = await ws_call(ws2, {"janus": "claim", "transaction": "cl", "session_id": sid,
                                  "token": gw.token()})
    assert claimed["janus"] == "success"
    queued = json.loads((await ws2.receive(timeout=5)).data)
    assert queued["janus"] == "event" and queued["transaction"] == "m"
    assert queued["sender"] == hid
    await ws2.close()


async def test_oversized_websocket_message_closes_only_that_socket(gw) -> None:
    ws = await ws_connect(gw)
    await ws.send_str(json.dumps({"janus": "ping", "transaction": "x" * 70000}))
    msg = await ws.receive(timeout=10)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.ERROR)
    ws2 = await ws_connect(gw)
    assert (await ws_call(ws2, {"janus": "ping", "transaction": "p"}))["janus"] == "pong"
    await ws2.close()


async def test_idle_session_times_out(make_gateway) -> None:
    gw = await make_gateway(session_timeout=1)
    ws = await ws_connect(gw)
    sid = (await ws_call(ws, {"janus": "create", "transaction": "c",
                              "token": gw.token()}))["data"]["id"]
    msg = json.loads((await ws.receive(timeout=5)).data)
    assert msg == {"janus": "timeout", "session_id": sid}
    reply = await gw.post(f"/janus/{sid}", {"janus": "keepalive", "transaction": "k"})
    assert reply["error"]["code"] == E.SESSION_NOT_FOUND
    await ws.close()


async def test_admin_listing_needs_admin_token_and_metrics_are_exposed(gw) -> None:
    sid = await gw.session()
    resp = await gw.client.get("/admin/sessions")
    assert resp.status == 401
    resp = await gw.client.get("/admin/sessions",
                               headers={"Authorization": f"Bearer {gw.token()}"})
    assert resp.status == 403
    resp = await gw.client.get("/admin/sessions", headers={
        "Authorization": f"Bearer {gw.token(roles=('admin',))}"})
    listing = await resp.json()
    assert [s["session_id"] for s in listing["sessions"]] == [sid]
    resp = await gw.client.get("/metrics")
    text = await resp.text()
    assert "webfon_gateway_sessions 1" in text
    assert "webfon_gateway_sessions_created_total 1" in text


async def test_revoked_tokens_are_refused(gw) -> None:
    from gateway.app import TOKENS_KEY
    from webfon.runner import STORE_KEY

    token, claims = gw.issuer.issue(1001, audience=["gateway"], roles=["user"], ttl=300)
    assert (await gw.post("/janus", {"janus": "create", "transaction": "t",
                                     "token": token}))["janus"] == "success"
    app = gw.client.server.app
    assert app[TOKENS_KEY].is_revoked is not None
    await app[STORE_KEY].execute(
        "INSERT INTO token_revocations (jti, revoked_at, expires_at) VALUES (?, ?, ?)",
        (claims.jti, claims.issued_at, claims.expires_at))
    reply = await gw.post("/janus", {"janus": "create", "transaction": "t", "token": token})
    assert reply["error"]["code"] == E.UNAUTHORIZED


async def test_metrics_show_the_collectors_work(gw) -> None:
    import gc

    gc.collect(1)
    text = await (await gw.client.get("/metrics")).text()
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line.startswith("webfon_gateway_gc_")}
    assert values["webfon_gateway_gc_collections_gen1_total"] >= 1
    assert values["webfon_gateway_gc_pause_max_ms_gen1"] > 0
    assert values["webfon_gateway_gc_pauses_over_20ms_total"] >= 0
