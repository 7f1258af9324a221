"""The RTP timeout of SIP calls: which timeout the SDP directions call for, when the watchdog
fires, how its timer runs, and the settings that set it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.plugins.sip.rtp_watchdog import (
    Expired,
    RtpTimeouts,
    RtpTimer,
    RtpWatchdog,
    WatchMode,
    watch_mode,
)
from gateway.settings import GatewaySettings
from webfon.config import ConfigError

A, H, IDLE = WatchMode.ACTIVE, WatchMode.HOLD, WatchMode.IDLE


@pytest.mark.parametrize(("local", "remote", "mode"), [
    ("sendrecv", "sendrecv", A),
    ("sendrecv", "sendonly", H),   # the remote holds us, music on hold
    ("recvonly", "sendonly", H),   # we asked to only receive
    ("sendrecv", "recvonly", IDLE),  # the remote says it does not send
    ("sendrecv", "inactive", IDLE),
    ("sendonly", "recvonly", IDLE),  # we hold the remote: nothing is expected
    ("sendonly", "sendrecv", IDLE),
    ("inactive", "inactive", IDLE),
])
def test_the_sdp_directions_choose_the_timeout(local: str, remote: str,
                                               mode: WatchMode) -> None:
    assert watch_mode(local, remote) is mode


def test_silence_for_the_timeout_fires_and_packets_keep_the_call() -> None:
    dog = RtpWatchdog(RtpTimeouts(active=10, hold=0), now=0)
    assert dog.check(0, 0, A) is None          # first look: the count starts
    assert dog.check(5, 250, A) is None        # packets arrive
    assert dog.check(14.9, 250, A) is None     # 9.9 s silent
    expired = dog.check(15, 250, A)
    assert expired == Expired(A, 10, 10, 250)


def test_a_peer_that_never_sends_times_out_from_the_start() -> None:
    dog = RtpWatchdog(RtpTimeouts(active=3), now=0)
    assert dog.check(0, 0, A) is None
    assert dog.check(2.5, 0, A) is None
    assert dog.check(3.0, 0, A) is not None


def test_hold_uses_the_hold_timeout_and_a_mode_change_starts_again() -> None:
    dog = RtpWatchdog(RtpTimeouts(active=2, hold=6), now=0)
    dog.check(0, 100, A)
    assert dog.check(1.5, 100, A) is None
    assert dog.check(1.9, 100, H) is None      # put on hold: counted from here
    assert dog.check(5, 100, H) is None        # past the active timeout, not the hold one
    assert dog.check(7.9, 100, H) == Expired(H, 6.0, 6, 100)
    dog = RtpWatchdog(RtpTimeouts(active=2, hold=6), now=0)
    dog.check(0, 100, H)
    assert dog.check(5, 100, H) is None
    assert dog.check(5.5, 100, A) is None      # resumed: the whole active timeout again
    assert dog.check(7.4, 100, A) is None
    assert dog.check(7.5, 100, A) is not None


def test_zero_turns_a_case_off_and_idle_never_fires() -> None:
    dog = RtpWatchdog(RtpTimeouts(active=2, hold=0), now=0)
    dog.check(0, 7, H)
    assert dog.check(3600, 7, H) is None
    dog = RtpWatchdog(RtpTimeouts(active=2, hold=5), now=0)
    dog.check(0, 7, IDLE)
    assert dog.check(3600, 7, IDLE) is None
    assert not RtpTimeouts(0, 0).enabled and RtpTimeouts(0, 300).enabled


def test_the_look_interval_follows_the_shortest_timeout() -> None:
    assert RtpTimeouts(60, 0).interval == 5.0
    assert RtpTimeouts(60, 8).interval == 2.0
    assert RtpTimeouts(1, 0).interval == 0.5
    assert RtpTimeouts(0, 300).interval == 5.0


class FakeLoop:
    """A clock advanced by hand, with the timers it runs."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, Callable[[], Any], Handle]] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Handle:
        handle = Handle()
        self.timers.append((self.now + delay, callback, handle))
        return handle

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = sorted((t for t in self.timers if t[0] <= end and not t[2].cancelled),
                         key=lambda t: t[0])
            if not due:
                break
            when, callback, _ = due[0]
            self.timers.remove(due[0])
            self.now = when
            callback()
        self.now = end

    @property
    def pending(self) -> int:
        return sum(1 for t in self.timers if not t[2].cancelled)


class Handle:
    cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def test_the_timer_looks_every_interval_and_fires_once() -> None:
    loop = FakeLoop()
    seen: dict[str, Any] = {"packets": 0, "mode": A, "established": False}
    looks: list[float] = []
    fired: list[Expired] = []

    def probe() -> tuple[int, WatchMode] | None:
        looks.append(loop.now)
        return (seen["packets"], seen["mode"]) if seen["established"] else None

    timer = RtpTimer(RtpTimeouts(active=4), probe, fired.append, loop=loop)
    assert timer.running and looks == [0.0]
    loop.advance(10)                           # not established yet: nothing expected
    assert not fired and looks[1] == 1.0       # a look each second (4 s / 4)
    seen["established"] = True
    for _ in range(10):                        # 50 packets a second
        seen["packets"] += 50
        loop.advance(1)
    assert not fired
    loop.advance(3.5)
    assert not fired
    loop.advance(1)                            # silent since 20 s, 24 s now
    assert [(e.mode, e.timeout_s, e.packets) for e in fired] == [(A, 4, 500)]
    assert not timer.running and loop.pending == 0
    loop.advance(60)
    assert len(fired) == 1


def test_a_stopped_or_disabled_timer_does_not_look() -> None:
    loop = FakeLoop()
    looks: list[float] = []

    def probe() -> tuple[int, WatchMode]:
        looks.append(loop.now)
        return 0, A

    timer = RtpTimer(RtpTimeouts(active=2), probe, lambda e: None, loop=loop)
    timer.stop()
    loop.advance(60)
    assert looks == [0.0] and not timer.running
    off = RtpTimer(RtpTimeouts(0, 0), probe, lambda e: None, loop=loop)
    loop.advance(60)
    assert not off.running and looks == [0.0]


def test_settings_from_the_jcfg_and_the_environment(tmp_path: Path) -> None:
    default = GatewaySettings.load(None, environ={})
    assert (default.sip_rtp_timeout, default.sip_rtp_hold_timeout) == (60, 0)
    path = tmp_path / "vivait.plugin.webfon.jcfg"
    path.write_text("sip: {\n  sip_rtp_timeout = 30\n  sip_rtp_hold_timeout = 600\n}\n")
    s = GatewaySettings.load(path, environ={"WEBFON_GATEWAY_SIP_RTP_TIMEOUT": "20"})
    assert s.rtp_timeouts() == RtpTimeouts(20.0, 600.0)
    with pytest.raises(ConfigError, match="sip_rtp_hold_timeout"):
        GatewaySettings.load(None, environ={}, sip_rtp_hold_timeout=-1)
