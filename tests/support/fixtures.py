"""Pytest fixtures for real-peer tests; ``tests/conftest.py`` imports them.

- ``phone_network``: a :class:`~tests.support.baresip.PhoneNetwork` (bridge + namespaces),
  removed after the test. Servers under test listen on ``phone_network.host_ip``.
- ``baresip_factory``: ``await baresip_factory("alice", tone_hz=440, registrar=...)`` starts a
  phone on ``phone_network``; all are stopped after the test.
- ``sipp_factory``: ``sipp_factory("uac_tone", remote, ...)`` makes a
  :class:`~tests.support.sipp.Sipp` working in the test's tmp dir; all are stopped after the
  test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.support.baresip import BaresipPhone, PhoneNetwork
from tests.support.sipp import Sipp


@pytest.fixture
def phone_network(tmp_path: Path) -> Iterator[PhoneNetwork]:
    net = PhoneNetwork(tmp_path / "phones")
    net.workdir.mkdir(parents=True, exist_ok=True)
    net.create()
    try:
        yield net
    finally:
        net.close()


@pytest_asyncio.fixture
async def baresip_factory(phone_network: PhoneNetwork,
                          ) -> AsyncIterator[Callable[..., Awaitable[BaresipPhone]]]:
    phones: list[BaresipPhone] = []

    async def make(user: str, *, start: bool = True, wait_registered: bool = True,
                   **kwargs: Any) -> BaresipPhone:
        phone = BaresipPhone(phone_network, user, **kwargs)
        phones.append(phone)
        if start:
            await phone.start(wait_registered=wait_registered)
        return phone

    try:
        yield make
    finally:
        for phone in phones:
            await phone.stop()


@pytest_asyncio.fixture
async def sipp_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Sipp]]:
    instances: list[Sipp] = []

    def make(scenario: str, remote: str | None = None, **kwargs: Any) -> Sipp:
        if "workdir" not in kwargs:
            kwargs["workdir"] = tmp_path / f"sipp-{len(instances)}-{Path(scenario).stem}"
            kwargs["workdir"].mkdir(parents=True)
        sipp = Sipp(scenario, remote, **kwargs)
        instances.append(sipp)
        return sipp

    try:
        yield make
    finally:
        for sipp in instances:
            await sipp.stop()
