"""Fixtures for the SIP stack tests: endpoints on free loopback ports with tiny timers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from webfon.sip import SipEndpoint, Timers

FAST = Timers(t1=0.01, t2=0.04, t4=0.05)


@pytest.fixture
async def make_endpoint() -> AsyncIterator[Callable[..., object]]:
    """Factory: ``await make_endpoint(transports=("udp",), **kw)`` → started endpoint."""
    started: list[SipEndpoint] = []

    async def factory(**kwargs: object) -> SipEndpoint:
        kwargs.setdefault("timers", FAST)
        ep = SipEndpoint("127.0.0.1", 0, **kwargs)  # type: ignore[arg-type]
        await ep.start()
        started.append(ep)
        return ep

    yield factory
    for ep in started:
        await ep.close()
