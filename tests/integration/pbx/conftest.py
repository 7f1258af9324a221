"""Fixture ``pbx``: a running embedded PBX on loopback (see ``pbxrun``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.pbx.pbxrun import RunningPbx, start_pbx, stop_pbx


@pytest.fixture
async def pbx(tmp_path: Path) -> AsyncIterator[RunningPbx]:
    running = await start_pbx(tmp_path)
    try:
        yield running
    finally:
        await stop_pbx(running)
