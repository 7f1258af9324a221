"""Random requests never crash the core nor reach its internal-error path (490)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import RTCConfiguration
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core import Gateway
from gateway.plugins.base import PluginRegistry
from gateway.plugins.echotest import EchoTestPlugin
from gateway.plugins.sip.plugin import SipPlugin
from gateway.settings import GatewaySettings

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(),
                    st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)
verbs = st.sampled_from(["create", "attach", "message", "trickle", "keepalive", "detach",
                         "hangup", "destroy", "claim", "info", "ping", "bogus"])
requests = st.fixed_dictionaries(
    {"janus": st.one_of(verbs, values)},
    optional={"transaction": st.one_of(st.text(max_size=5), values),
              "session_id": st.one_of(st.just("S"), values),
              "handle_id": st.one_of(st.just("H"), values),
              "plugin": st.one_of(st.sampled_from(["janus.plugin.echotest",
                                                   "janus.plugin.sip"]), values),
              "body": st.one_of(st.fixed_dictionaries(
                  {"request": st.sampled_from(["register", "call", "accept", "hangup",
                                               "hold", "transfer", "dtmf_info", "decline",
                                               "unregister", "update", "x"])},
                  optional={"username": values, "uri": values, "type": values,
                            "digit": values, "code": values, "master_id": values,
                            "direction": values, "headers": values}), values),
              "jsep": st.one_of(st.fixed_dictionaries({"type": st.sampled_from(
                  ["offer", "answer", "x"]), "sdp": st.one_of(st.text(max_size=40), values)}),
                  values),
              "candidate": values, "token": values})


class Sink:
    kind = "test"

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def deliver(self, message: dict[str, Any]) -> bool:
        self.events.append(message)
        return True


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(requests, min_size=1, max_size=6))
def test_random_requests_get_janus_replies(batch: list[dict[str, Any]]) -> None:
    async def run() -> None:
        gs = GatewaySettings.load(None, environ={}, require_token=False)
        registry = PluginRegistry()
        registry.add(EchoTestPlugin())
        sip = SipPlugin(gs)
        registry.add(sip)
        gw = Gateway(registry, None, RTCConfiguration(iceServers=[]), require_token=False)
        await sip.endpoint.start()
        sink = Sink()
        try:
            session = (await gw.process({"janus": "create", "transaction": "c"}, sink))
            sid = session["data"]["id"]
            attached = await gw.process({"janus": "attach", "transaction": "a",
                                         "session_id": sid, "plugin": "janus.plugin.sip"},
                                        sink)
            hid = attached["data"]["id"]
            for msg in batch:
                msg = dict(msg)
                if msg.get("session_id") == "S":
                    msg["session_id"] = sid
                if msg.get("handle_id") == "H":
                    msg["handle_id"] = hid
                reply = await gw.process(msg, sink)
                assert reply["janus"] in ("error", "success", "ack", "server_info", "pong")
                if reply["janus"] == "error":
                    assert reply["error"]["code"] != 490, reply
            await asyncio.sleep(0.05)  # let plugin jobs run
            for event in sink.events:
                data = event.get("plugindata", {}).get("data", {})
                assert data.get("error_code") != 499, event
        finally:
            for s in list(gw.sessions.values()):
                await s.destroy("test")
            await sip.endpoint.close()

    asyncio.run(run())
