"""The PBX's source guard: messages beyond an address's rate are dropped, trusted networks and
trunks never; digest failures ban an address (fail2ban lines), trusted ones are never banned."""

from __future__ import annotations

import logging

import pytest

from pbx.guard import SourceGuard
from pbx.settings import PbxSettings
from tests.support.clock import ManualClock


def _guard(clock: ManualClock, **settings: object) -> SourceGuard:
    return SourceGuard(PbxSettings.load(environ={}, **settings), clock=clock)


def test_rate_per_source_address() -> None:
    clock = ManualClock()
    guard = _guard(clock, sip_source_rate=10, sip_source_burst=20)
    assert sum(guard.accept(("203.0.113.7", 5060)) for _ in range(100)) == 20
    assert guard.accept(("203.0.113.8", 5060))  # another address is not affected
    assert sum(guard.accept(("127.0.0.1", 5060)) for _ in range(100)) == 100  # trusted
    guard.exempt = frozenset({"198.51.100.1"})  # a trunk
    assert sum(guard.accept(("198.51.100.1", 5060)) for _ in range(100)) == 100
    clock.advance(1)
    assert sum(guard.accept(("203.0.113.7", 5061)) for _ in range(100)) == 10
    assert guard.dropped == 80 + 90
    assert _guard(clock, sip_source_rate=0).accept(("203.0.113.7", 5060))  # limit off


def test_digest_failures_ban_an_address(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    guard = _guard(clock, auth_max_failures=3, auth_ban_s=60)
    caplog.set_level(logging.INFO, logger="pbx.auth")
    for _ in range(3):
        assert guard.banned_for("203.0.113.7") == 0
        guard.auth_failed("203.0.113.7", 'x" ip=1.2.3.4', "wrong credentials")
    assert guard.banned_for("203.0.113.7") == 60
    for _ in range(10):
        guard.auth_failed("127.0.0.1", "2001", "wrong credentials")
    assert guard.banned_for("127.0.0.1") == 0
    clock.advance(60)
    assert guard.banned_for("203.0.113.7") == 0
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == ("pbx-auth-failure ip=203.0.113.7 user=x??ip?1.2.3.4 kind=digest "
                        "reason=wrong_credentials")
    assert "pbx-auth-ban kind=address subject=203.0.113.7 seconds=60" in lines
