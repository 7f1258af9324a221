"""Fixtures for sercen flow tests: a real SMTP server (aiosmtpd) and a running sercen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.smtp import SMTP

from sercen.app import build_app
from sercen.settings import SercenSettings
from tests.integration.sercen.support import MailSink, Sercen, SmtpServer, StartSercen
from webfon.store import Store, open_store


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    sink = MailSink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, hostname="mail.test"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield SmtpServer(port, sink)
    server.close()
    await asyncio.wait_for(server.wait_closed(), 10)


@pytest.fixture
async def start_sercen(tmp_path: Path, smtp_server: SmtpServer
                       ) -> AsyncIterator[StartSercen]:
    """Factory: ``await start_sercen(store=..., config=path, **settings overrides)``."""
    started: list[tuple[TestClient, Store | None]] = []

    async def start(store: Store | None = None, config: Path | None = None,
                    **overrides: Any) -> Sercen:
        data_dir = tmp_path / "data"
        values: dict[str, Any] = {
            "data_dir": data_dir, "database_url": f"sqlite:///{tmp_path / 'webfon.db'}",
            "smtp_host": "127.0.0.1", "smtp_puerto": smtp_server.port,
            "smtp_from": "sercen@webfon.test", "response_delay": 0.0, "response_jitter": 0.0,
            "cleanup_interval": 0.0, "trusted_proxies": ["127.0.0.1/32"],
        }
        if config is None:
            values["trusted_networks"] = []
        values.update(overrides)
        settings = SercenSettings.load(config, environ={}, **values)
        own = None
        if store is None:
            store = own = await open_store(settings.effective_database_url)
        app = await build_app(settings, store)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        started.append((client, own))
        return Sercen(client, store, settings, smtp_server)

    yield start
    for client, own in reversed(started):
        await client.close()
        if own is not None:
            await own.close()
