"""ICE through a real TURN server (coturn on loopback): the gateway only offers relayed
candidates and the echo test still carries audio."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from janus_client import JanusSession

from tests.integration.gateway.conftest import SipClient
from tests.support.net import free_port


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[int]:
    """coturn on 127.0.0.1 (user webfon/turnpw); stopped after the gateway that uses it."""
    port = free_port("udp")
    turn = subprocess.Popen(
        ["turnserver", "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
         f"--listening-port={port}", "--lt-cred-mech", "--user=webfon:turnpw",
         "--realm=webfon", "--no-tls", "--no-dtls", "--allow-loopback-peers", "--no-cli",
         "--min-port=49000", "--max-port=49500", f"--log-file={tmp_path / 'turn.log'}",
         "--simple-log"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield port
    finally:
        turn.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            turn.wait(5)


async def test_echotest_through_coturn(coturn: int, gateway_factory) -> None:
    await asyncio.sleep(0.5)
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
