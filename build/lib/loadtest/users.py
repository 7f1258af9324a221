"""Connected-users dimension for sizing: idle Janus sessions with a registered SIP handle each.

Each user is what a logged-in, idle web phone costs the gateway: its own WebSocket, a Janus
session kept alive, a handle attached to the SIP plugin and a real REGISTER (with a 200 OK from
a sipp registrar on loopback, ``tests/sipp/uas_register.xml``). Users are added in steps; after
each, the gateway's CPU (% of one core, keepalives and re-registrations included) and resident
memory are read over a window.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from loadtest import gateway_bench as gb
from loadtest.ramp import Progress

REGISTRAR_SCENARIO = gb.ROOT / "tests" / "sipp" / "uas_register.xml"


class IdleUser(gb.LoadCall):
    """A web phone that registers and then only keeps its session alive (no media).

    Reuses the bench caller's Janus signalling; no peer connection is made."""

    def __init__(self, index: int, ws_url: str, token: str | None, plugin: str,
                 http: aiohttp.ClientSession, registrar: str) -> None:
        # signalling state only: LoadCall.__init__ would build an RTCPeerConnection
        self.index = index
        self.ws_url = ws_url
        self.token = token
        self.plugin = plugin
        self.registrar = registrar
        self.shared_http = http
        self.http = None
        self.ws = None
        self.session_id = 0
        self.handle_id = 0
        self._pending = {}
        self._events = asyncio.Queue()
        self._reader = None
        self._tx = 0
        self._tasks = set()
        self._remote_set = asyncio.Event()

    async def start(self) -> None:
        self.ws = await self.shared_http.ws_connect(self.ws_url, protocols=("janus-protocol",),
                                                    max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        self.session_id = (await self._request({"janus": "create"}))["data"]["id"]
        self.handle_id = (await self._request({"janus": "attach",
                                               "plugin": self.plugin}))["data"]["id"]
        await self._message({"request": "register", "username": f"sip:u{self.index}@{gb.HOST}",
                             "secret": "sizing", "proxy": self.registrar})
        await self._event("registered")

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._request({"janus": "destroy"}), 5)
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()


class SippRegistrar:
    """sipp answering every REGISTER with 200 OK."""

    def __init__(self, workdir: Path, host: str = gb.HOST) -> None:
        self.workdir = workdir
        self.host = host
        self.port = gb.free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def uri(self) -> str:
        return f"sip:{self.host}:{self.port}"

    async def start(self) -> None:
        log = (self.workdir / "registrar.log").open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            "/usr/bin/sipp", "-sf", str(REGISTRAR_SCENARIO), "-i", self.host,
            "-p", str(self.port), "-nostdin", "-max_socket", "4096",
            stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL, cwd=str(self.workdir))
        await asyncio.sleep(0.5)
        if self.proc.returncode is not None:
            raise RuntimeError(f"sipp registrar exited: {self.proc.returncode}")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@dataclass
class UsersConfig:
    steps: Sequence[int] = (100, 250, 500, 1000)
    seconds: float = 10.0
    settle: float = 2.0
    budget_s: float = 300.0
    setup_parallel: int = 16
    keepalive_s: float = 25.0


@dataclass
class UsersResult:
    target: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = "completed"
    duration_s: float = 0.0


async def run_users_ramp(config: UsersConfig, progress: Progress = print) -> UsersResult:
    started = time.monotonic()
    result = UsersResult(target=gb.WebfonGateway.name)
    with tempfile.TemporaryDirectory(prefix="webfon-users-") as tmp:
        work = Path(tmp)
        server = gb.WebfonGateway(work)
        registrar = SippRegistrar(work)
        users: list[IdleUser] = []
        keeper: asyncio.Task[None] | None = None
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        try:
            await registrar.start()
            await server.start()
            assert server.proc is not None
            pid = server.proc.pid

            async def keepalives() -> None:
                while True:  # every user once per keepalive_s, spread over the period
                    for user in list(users):
                        with contextlib.suppress(Exception):
                            await user._request({"janus": "keepalive"})
                        await asyncio.sleep(config.keepalive_s / max(1, len(users)))
                    if not users:
                        await asyncio.sleep(1)

            keeper = asyncio.create_task(keepalives())
            rate = 0.02
            for target in [0, *sorted(set(config.steps))]:
                if target < len(users):
                    continue
                elapsed = time.monotonic() - started
                estimate = (target - len(users)) * rate + config.settle + config.seconds
                if elapsed + estimate > config.budget_s:
                    result.stopped = f"time budget: step {target} needs ~{estimate:.0f}s"
                    break
                new = [IdleUser(i, server.ws_url, server.token, server.plugin, http,
                                registrar.uri) for i in range(len(users), target)]
                sem = asyncio.Semaphore(config.setup_parallel)

                async def connect(user: IdleUser, sem: asyncio.Semaphore = sem) -> None:
                    async with sem:
                        await user.start()

                t_setup = time.monotonic()
                outcomes = await asyncio.gather(*(connect(u) for u in new),
                                                return_exceptions=True)
                if new:
                    rate = max(0.005, (time.monotonic() - t_setup) / len(new))
                failures = [o for o in outcomes if isinstance(o, BaseException)]
                users.extend(u for u, o in zip(new, outcomes, strict=True)
                             if not isinstance(o, BaseException))
                await asyncio.sleep(config.settle)
                c0, t0 = gb.proc_cpu_seconds(pid), time.perf_counter()
                await asyncio.sleep(config.seconds)
                c1, t1 = gb.proc_cpu_seconds(pid), time.perf_counter()
                step = {"target": server.name, "users_requested": target, "users": len(users),
                        "cpu_pct": round((c1 - c0) / (t1 - t0) * 100, 2),
                        "rss_mb": round(gb.proc_rss_mb(pid), 1),
                        "connect_ms_per_user": round(rate * 1000, 1),
                        "failures": len(failures),
                        "loadavg_1m": round(os.getloadavg()[0], 2)}
                if failures:
                    step["first_failure"] = repr(failures[0])[:300]
                result.steps.append(step)
                progress(f"[{time.monotonic() - started:6.0f}s] {server.name} {len(users):>5} "
                         f"users: cpu {step['cpu_pct']}% rss {step['rss_mb']} MB"
                         + (f" ({len(failures)} failed)" if failures else ""))
                if failures and len(failures) > max(1, len(new) // 10):
                    result.stopped = f"{len(failures)} of {len(new)} users failed to register"
                    break
        finally:
            if keeper is not None:
                keeper.cancel()
            await asyncio.gather(*(u.stop() for u in users), return_exceptions=True)
            await http.close()
            try:
                with contextlib.suppress(Exception):
                    await server.stop()
            finally:
                await registrar.stop()
    result.duration_s = round(time.monotonic() - started, 1)
    return result


if __name__ == "__main__":
    out = asyncio.run(run_users_ramp(UsersConfig(steps=(50, 200), seconds=3)))
    print(json.dumps(out.__dict__, indent=1))
