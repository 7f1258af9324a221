"""Path traversal through the web front: ``/janus/../metrics`` and its encoded forms must not
reach the gateway's own ``/metrics`` or ``/admin`` (or another service's API) — real gateway
and front processes, requests sent byte for byte."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import procs
from tests.support.net import free_port


@pytest.fixture
async def front(tmp_path: Path) -> AsyncIterator[int]:
    data = tmp_path / "data"
    gw_port, web_port = free_port("tcp"), free_port("tcp")
    gateway = await procs.start("gateway", "gateway", gw_port, procs.base_env(
        data, WEBFON_GATEWAY_MEDIA_WORKERS="0", WEBFON_GATEWAY_SIP_PORT=str(free_port())),
        tmp_path / "logs")
    try:
        web = await procs.start("web", "launcher.front", web_port, procs.base_env(
            data, WEBFON_WEB_GATEWAY_URL=gateway.url, WEBFON_WEB_SERCEN_URL=gateway.url,
            WEBFON_WEB_FONBO_URL=gateway.url), tmp_path / "logs")
        try:
            yield web_port
        finally:
            await procs.stop(web)
    finally:
        await procs.stop(gateway)


ATTACKS = ["/janus/../metrics", "/janus/%2e%2e/metrics", "/janus/%2E%2E/admin/sessions",
           "/janus/..%2fmetrics", "/janus/.%2e/metrics", "/janus//../metrics",
           "/janus/..\\metrics", "/janus/x/../../metrics?maxev=1", "/sercen/../janus/info",
           "/fonbo/%2e%2e/%2e%2e/metrics"]


async def test_dot_segments_never_leave_the_prefix(front: int) -> None:
    status, body = await procs.raw_get(front, "/janus/info")
    assert status == 200 and json.loads(body)["janus"] == "server_info"  # legit still works
    for target in ATTACKS:
        status, body = await procs.raw_get(front, target)
        assert b"webfon_gateway_" not in body, target
        assert status == 400, (target, status, body[:200])
        assert "not allowed" in json.loads(body)["error"]["message"]
