"""Webphone login with a webfon token: PBX control API + REGISTER, released on every exit."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from janus_client import JanusSession

from tests.support.net import wait_until
from webfon.control_key import check_bearer, control_key_path, ensure_control_key


class FakePbxControl:
    """The PBX control API contract, recording what the gateway asked."""

    def __init__(self, key: str, registrar: str, lines: int = 1) -> None:
        self.key = key
        self.registrar = registrar
        self.lines = lines
        self.calls: list[tuple[str, dict[str, Any]]] = []
        # as the PBX keeps them: a login opens (or renews) the user's session, a logout ends it
        self.sessions: set[int] = set()
        self.logout_delay = 0.0  # a PBX slow to answer logouts
        self.logouts_under_way = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        if not check_bearer(request.headers.get("Authorization"), self.key):
            return web.json_response({"error": {"status": 401, "message": "no"}}, status=401)
        body = await request.json()
        kind = request.path.rsplit("/", 1)[-1]
        self.calls.append((kind, body))
        if kind == "login":
            if body["user_id"] == 4040:
                return web.json_response({"error": {"status": 409,
                                                    "message": "no free extension"}},
                                         status=409)
            self.sessions.add(body["user_id"])
            return web.json_response({"extension": "7003", "sip_username": "7003",
                                      "sip_password": "webpw", "domain": "webfon",
                                      "registrar": f"sip:{self.registrar}",
                                      "lines": self.lines, "mode": "exclusivo"})
        if kind == "release-node":
            return web.json_response({"released": 0})
        if kind == "logout":
            self.logouts_under_way += 1
            try:
                await asyncio.sleep(self.logout_delay)
                self.sessions.discard(body["user_id"])
            finally:
                self.logouts_under_way -= 1
        return web.json_response({})

    async def start(self) -> FakePbxControl:
        app = web.Application()
        app.router.add_post("/control/webphone/{what}", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    def kinds(self) -> list[str]:
        return [k for k, _ in self.calls]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def setup(tmp_path, gateway_factory, registrar_factory, **overrides):
    registrar = await registrar_factory("127.0.0.1", {"7003": "webpw"})
    key = ensure_control_key(tmp_path / "pbx")
    pbx = await FakePbxControl(key, registrar.address).start()
    gw = await gateway_factory(pbx_control_url=pbx.url, local_nodo_id=4,
                               pbx_control_key=str(control_key_path(tmp_path / "pbx")),
                               **overrides)
    return registrar, pbx, gw


async def test_webphone_login_registers_and_logout_releases(tmp_path, gateway_factory,
                                                            registrar_factory,
                                                            sip_clients) -> None:
    registrar, pbx, gw = await setup(tmp_path, gateway_factory, registrar_factory)
    try:
        await wait_until(lambda: "release-node" in pbx.kinds())
        assert pbx.calls[0] == ("release-node", {"node_id": 4})
        client = await sip_clients(gw=gw, token=gw.token(sub=1003))
        await client.request({"request": "register", "type": "webfon"})
        await client.wait_event("registering")
        registered, _ = await client.wait_event("registered")
        result = registered["result"]
        assert result["extension"] == "7003" and result["lines"] == 1
        assert result["mode"] == "exclusivo"
        assert result["username"] == "7003" and result["identity"] == "sip:7003@webfon"
        assert ("login", {"user_id": 1003, "node_id": 4}) in pbx.calls
        assert "7003" in registrar.bindings
        await client.request({"request": "unregister"})
        await client.wait_event("unregistered")
        assert registrar.unregisters == 1
        # the logout names the node: a phone that moved to another node is not released
        assert ("logout", {"user_id": 1003, "node_id": 4}) in pbx.calls
    finally:
        await pbx.stop()


async def test_a_logout_on_its_way_does_not_end_the_next_login(tmp_path, gateway_factory,
                                                                registrar_factory,
                                                                sip_clients) -> None:
    """A page logs out and the same user signs in again at once (a reload, the next sign-in):
    the first page's logout, still on its way to the PBX, must not end the web phone the new
    login has just been given (it would believe itself registered and never ring)."""
    registrar, pbx, gw = await setup(tmp_path, gateway_factory, registrar_factory)
    try:
        pbx.logout_delay = 1.0
        first = await sip_clients(gw=gw, token=gw.token(sub=1003))
        await first.request({"request": "register", "type": "webfon"})
        await first.wait_event("registered")
        await first.request({"request": "unregister"})
        await wait_until(lambda: pbx.logouts_under_way == 1)
        second = await sip_clients(gw=gw, token=gw.token(sub=1003))
        await second.request({"request": "register", "type": "webfon"})
        await second.wait_event("registered", timeout=10)
        await wait_until(lambda: pbx.logouts_under_way == 0)
        assert [k for k, _ in pbx.calls if k != "release-node"] == ["login", "logout", "login"]
        # the new login reached the PBX after the logout was done: its session stands
        assert pbx.sessions == {1003}
        assert "7003" in registrar.bindings
    finally:
        await pbx.stop()


async def test_session_timeout_logs_the_webphone_out(tmp_path, gateway_factory,
                                                     registrar_factory) -> None:
    registrar, pbx, gw = await setup(tmp_path, gateway_factory, registrar_factory,
                                     session_timeout=2)
    session = JanusSession(base_url=gw.ws_url, token=gw.token(sub=1003))
    try:
        client = await _client(session)
        await client.request({"request": "register", "type": "webfon"})
        await client.wait_event("registered")
        # no keepalives: the session times out and the extension is released
        await wait_until(lambda: ("logout", {"user_id": 1003, "node_id": 4}) in pbx.calls,
                         timeout=15)
        assert registrar.unregisters == 1
        assert "7003" not in registrar.bindings
    finally:
        await pbx.stop()
        await session.transport.disconnect()


async def _client(session: JanusSession) -> Any:
    import importlib

    conftest = importlib.import_module("tests.integration.gateway.conftest")
    client = conftest.SipClient()
    await client.attach(session)
    return client


async def test_login_refusals(tmp_path, gateway_factory, registrar_factory,
                              sip_clients) -> None:
    _, pbx, gw = await setup(tmp_path, gateway_factory, registrar_factory,
                             max_digi_llam_sal=4)
    try:
        busy = await sip_clients(gw=gw, token=gw.token(sub=4040))
        await busy.request({"request": "register", "type": "webfon"})
        failed, _ = await busy.wait_event("registration_failed")
        assert failed["result"]["code"] == 409
        guest = await sip_clients(gw=gw, token=gw.token(sub=1001, roles=("user",)))
        await guest.request({"request": "register", "type": "guest",
                             "username": "sip:g@127.0.0.1"})
        error = await guest.wait_error()
        assert error["error_code"] == 403
        user = await sip_clients(gw=gw, token=gw.token(sub=1003))
        await user.request({"request": "register", "type": "webfon"})
        await user.wait_event("registered")
        offer = await user.make_offer()
        await user.request({"request": "call", "uri": "sip:123456789@127.0.0.1"}, offer)
        error = await user.wait_error()
        assert error["error_code"] == 444
        assert "longer than 4" in error["error"]
        await user.request({"request": "dance"})
        assert (await user.wait_error())["error_code"] == 442
        await user.request({"request": "call"})
        assert (await user.wait_error())["error_code"] == 443
    finally:
        await pbx.stop()
