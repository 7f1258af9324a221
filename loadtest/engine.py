"""The load generator of one worker process: WebRTC callers and idle web phones on one asyncio
event loop, and the counters of a measurement window.

The engine paces every caller's packets (one every 20 ms, the callers spread over the period in
:data:`PACING_SLOTS` groups as unsynchronised browsers would be) and keeps every Janus session
alive (callers every 20 s, idle phones spread over ``keepalive_s``). Between
:meth:`Engine.open_window` and :meth:`Engine.close_window` it counts what was sent and echoed,
the round trips (a :class:`~loadtest.histogram.Histogram`), the bytes on each leg and its own
CPU time; :meth:`close_window` returns them as a plain dict that the controller merges across
workers (:func:`loadtest.figures.merge_windows`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from loadtest.caller import Caller, CallTarget, Window
from loadtest.servers import proc_cpu_seconds, proc_rss_mb
from loadtest.webphone import Webphone

PACING_SLOTS = 10
CALL_KEEPALIVE_S = 20.0
ECHO_TAIL_S = 0.5  # echoes of the window's last packets still count


@dataclass(frozen=True)
class PhoneTarget:
    url: str
    token: str | None
    plugin: str
    registrar: str  # SIP URI of the registrar (the proxy the gateway registers at)
    domain: str
    register_ttl: int
    keepalive_s: float = 25.0


class Engine:
    def __init__(self, index_base: int = 0) -> None:
        self.index_base = index_base
        self.next_index = 0
        self.http: aiohttp.ClientSession | None = None
        self.call_target: CallTarget | None = None
        self.phone_target: PhoneTarget | None = None
        self.callers: list[Caller] = []
        self.phones: list[Webphone] = []
        self.new_setups: list[float] = []
        self.setup_failures = 0
        self.phone_failures = 0
        self.first_failure = ""
        self.keepalive_failures = 0
        self.window: Window | None = None
        self._cpu0 = 0.0
        self._t0 = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Future[Any]] = set()

    async def start(self) -> None:
        # no cookies: every caller stands for a browser of its own (nginx would pin callers
        # sharing its node cookie to one gateway node)
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                          cookie_jar=aiohttp.DummyCookieJar())
        self._tasks = [asyncio.create_task(self._pace()),
                       asyncio.create_task(self._keep_phones())]

    def configure(self, call: CallTarget | None, phone: PhoneTarget | None) -> None:
        self.call_target = call
        self.phone_target = phone

    def _index(self) -> int:
        self.next_index += 1
        return self.index_base + self.next_index

    # --- callers and phones -----------------------------------------------------------------

    async def add_caller(self) -> Caller:
        if self.call_target is None or self.http is None:
            raise RuntimeError("engine not configured for calls")
        caller = Caller(self._index(), self.call_target, self.http)
        try:
            await caller.start()
        except BaseException as exc:
            self.setup_failures += 1
            self.first_failure = self.first_failure or repr(exc)[:300]
            await caller.stop()
            raise
        if caller.setup_s is not None:
            self.new_setups.append(caller.setup_s)
        caller.window = self.window
        caller.rx_window = self.window
        self.callers.append(caller)
        return caller

    async def remove_caller(self, caller: Caller) -> None:
        with contextlib.suppress(ValueError):
            self.callers.remove(caller)
        await caller.stop()

    async def add_phone(self) -> Webphone:
        t = self.phone_target
        if t is None or self.http is None:
            raise RuntimeError("engine not configured for idle users")
        phone = Webphone(self._index(), t.url, t.token, t.plugin, self.http, t.registrar,
                         t.domain, t.register_ttl)
        started = time.perf_counter()
        try:
            await phone.start()
        except BaseException as exc:
            self.phone_failures += 1
            self.first_failure = self.first_failure or repr(exc)[:300]
            await phone.stop()
            raise
        phone.setup_s = time.perf_counter() - started
        self.new_setups.append(phone.setup_s)
        self.phones.append(phone)
        return phone

    async def remove_phone(self, phone: Webphone) -> None:
        with contextlib.suppress(ValueError):
            self.phones.remove(phone)
        await phone.stop()

    # --- timers -----------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _keepalive(self, janus: Any) -> None:
        try:
            await janus.keepalive()
        except Exception:
            self.keepalive_failures += 1

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        tick = loop.time()
        last_keepalive = tick
        slot = 0
        while True:
            tick += 0.02 / PACING_SLOTS
            now = time.perf_counter()
            for caller in self.callers[slot::PACING_SLOTS]:
                caller.send(now)
            slot = (slot + 1) % PACING_SLOTS
            if loop.time() - last_keepalive > CALL_KEEPALIVE_S:
                last_keepalive = loop.time()
                for caller in list(self.callers):
                    self._spawn(self._keepalive(caller.janus))
            delay = tick - loop.time()
            if delay < -1.0:  # fell far behind (a stall): do not burst to catch up
                tick = loop.time()
            await asyncio.sleep(max(0.0, delay))

    async def _keep_phones(self) -> None:
        """Each phone once per keepalive period, spread evenly over it."""
        while True:
            phones = list(self.phones)
            if not phones or self.phone_target is None:
                await asyncio.sleep(1.0)
                continue
            pause = self.phone_target.keepalive_s / len(phones)
            for phone in phones:
                if phone.alive:
                    self._spawn(self._keepalive(phone.janus))
                await asyncio.sleep(pause)

    # --- measurement ------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {"calls": len(self.callers),
                "connected": sum(1 for c in self.callers if c.connected),
                "setup_failures": self.setup_failures, "phones": len(self.phones),
                "phones_alive": sum(1 for p in self.phones if p.alive),
                "phone_failures": self.phone_failures, "first_failure": self.first_failure}

    def open_window(self, number: int) -> None:
        window = Window(number)
        for caller in self.callers:
            caller.reset_counters()
            caller.window = caller.rx_window = window
        self.window = window
        self._cpu0 = proc_cpu_seconds(os.getpid(), children=False)
        self._t0 = time.perf_counter()

    async def close_window(self) -> dict[str, Any]:
        window = self.window
        if window is None:
            raise RuntimeError("no window open")
        cpu1 = proc_cpu_seconds(os.getpid(), children=False)
        elapsed = time.perf_counter() - self._t0
        self.window = None
        callers = list(self.callers)
        for caller in callers:
            caller.window = None
        counters = {name: sum(getattr(c, name) for c in callers)
                    for name in ("tx_bytes", "tx_packets", "rx_bytes", "rx_packets",
                                 "rtp_bytes", "rtp_packets")}
        await asyncio.sleep(ECHO_TAIL_S)
        for caller in callers:
            caller.rx_window = None
        setups, self.new_setups = self.new_setups, []
        return {
            "window_s": elapsed, "calls": len(callers),
            "connected": sum(1 for c in callers if c.connected),
            "sent": window.sent, "received": window.received, "rtt": window.rtt.to_dict(),
            "jitter_sum": sum(c.jitter for c in callers), **counters,
            "setups": setups, "setup_failures": self.setup_failures,
            "phones": len(self.phones), "phones_alive": sum(1 for p in self.phones if p.alive),
            "phone_failures": self.phone_failures, "keepalive_failures": self.keepalive_failures,
            "first_failure": self.first_failure,
            "generator_cpu_pct": (cpu1 - self._cpu0) / elapsed * 100 if elapsed > 0 else 0.0,
            "generator_rss_mb": proc_rss_mb(os.getpid(), children=False),
            "generator_open_files": len(os.listdir("/proc/self/fd")),
        }

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*(c.stop() for c in self.callers),
                             *(p.stop() for p in self.phones), return_exceptions=True)
        self.callers.clear()
        self.phones.clear()
        if self.http is not None:
            await self.http.close()
