"""ICE through a real TURN server (coturn on loopback): the gateway only offers relayed
candidates and the echo test still carries audio."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from janus_client import JanusSession

from tests.integration.gateway.conftest import SipClient
from tests.support.coturn import running_coturn


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[int]:
    """coturn on 127.0.0.1 (user webfon/turnpw); stopped after the gateway that uses it."""
    with running_coturn(tmp_path, ["--lt-cred-mech", "--user=webfon:turnpw"],
                        (49000, 49500)) as port:
        yield port


async def test_echotest_through_coturn(coturn: int, gateway_factory) -> None:
    gw = await gateway_factory(turn_server=f"127.0.0.1:{coturn}", turn_username="webfon",
                               turn_password="turnpw", ice_transport_policy="relay")
    session = JanusSession(base_url=gw.ws_url, token=gw.token())
    echo = SipClient(900.0, plugin_name="janus.plugin.echotest")
    await echo.attach(session)
    try:
        await echo.request({"audio": True}, await echo.make_offer())
        for _ in range(150):
            if any(jsep for _, jsep in echo.backlog):
                break
            await asyncio.sleep(0.1)
        data, jsep = next((d, j) for d, j in echo.backlog if j)
        assert data == {"echotest": "event", "result": "ok"}
        assert "typ relay" in jsep["sdp"] and "typ host" not in jsep["sdp"]
        await echo.take_answer(jsep)
        recorder = await echo.wait_recorder()
        heard = await recorder.wait_tone(900.0, timeout=15)
        assert abs(heard - 900.0) < 15
    finally:
        await echo.close()
        await echo.destroy()
        await session.destroy()
