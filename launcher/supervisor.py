"""``webfon up``: run the stack's processes, in stages, as supervised children.

Stages start in order, each once the one before answers its health checks (MariaDB and Redis
when the command runs them, then sercen and the PBX, then FONBO and the gateway nodes, then the
web front or nginx); a hook may run between stages (the store is migrated once MariaDB is up).
A process that dies is started again after ``restart_delay`` (doubling while it keeps dying
young). Stopping goes the other way, stage by stage, each process with its own clean-stop
signal and grace time: nginx first, then the gateways (which release their web phones through
the PBX, still running), and the PBX and the databases last. A process that outlives its
grace time is killed, and that is logged.

Every line a child writes goes to ``<data_dir>/log/<name>.log`` (rotated past
``log_max_bytes``, :mod:`launcher.logfile`) and to the console (:mod:`launcher.console`). The
state (pids, ports, restarts) is in ``<data_dir>/run/up.json`` for ``webfon status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from launcher.console import Console
from launcher.logfile import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES, RotatingLog
from launcher.process import ProcessSpec
from webfon.bus import BusHub

log = logging.getLogger("launcher.supervisor")

MAX_BACKOFF_S = 15.0
HEALTH_WAIT_S = 30.0

Hook = Callable[[], Awaitable[None]]


@dataclass
class Child:
    spec: ProcessSpec
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    last_exit: int | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    reader: asyncio.Task[None] | None = field(default=None, repr=False)


def local_channels(data_dir: Path, names: set[str], env: dict[str, str]) -> dict[str, str]:
    """Settings that keep the node's own service calls on Unix sockets (mode 0600 under
    ``<data_dir>/run``): the front reaches sercen there, so sercen believes the client address
    the front passes on only from it (no TCP peer is a trusted proxy by default), and the
    gateway and FONBO reach the PBX control API there (the control key never crosses TCP). Codes of
    the second factor go to ``<data_dir>/outbox`` when sercen.conf names no mail server.
    Values already in the environment win."""
    run = data_dir / "run"
    wanted: dict[str, str] = {}
    if {"web", "sercen"} <= names:
        wanted["WEBFON_SERCEN_UNIX_SOCKET"] = str(run / "sercen.sock")
        wanted["WEBFON_WEB_SERCEN_URL"] = f"unix:{run / 'sercen.sock'}"
    if {"gateway", "pbx"} <= names:
        wanted["WEBFON_PBX_UNIX_SOCKET"] = str(run / "pbx.sock")
        wanted["WEBFON_GATEWAY_PBX_CONTROL_URL"] = f"unix:{run / 'pbx.sock'}"
    if {"fonbo", "pbx"} <= names:
        wanted["WEBFON_PBX_UNIX_SOCKET"] = str(run / "pbx.sock")
        wanted["WEBFON_FONBO_PBX_CONTROL_URL"] = f"unix:{run / 'pbx.sock'}"
    if "sercen" in names:
        wanted["WEBFON_SERCEN_MAIL_OUTBOX"] = str(outbox_path(data_dir))
    return {k: v for k, v in wanted.items() if k not in env}


def outbox_path(data_dir: Path) -> Path:
    return data_dir / "outbox"


def state_path(data_dir: Path) -> Path:
    return data_dir / "run" / "up.json"


def log_path(data_dir: Path, name: str) -> Path:
    return data_dir / "log" / f"{name}.log"


class Supervisor:
    def __init__(self, specs: list[ProcessSpec], data_dir: Path,
                 env: dict[str, str] | None = None, *, console: Console | None = None,
                 restart_delay: float = 1.0, hooks: dict[int, Hook] | None = None,
                 extra_state: dict[str, Any] | None = None,
                 log_max_bytes: int = DEFAULT_MAX_BYTES,
                 log_backups: int = DEFAULT_BACKUPS) -> None:
        self.data_dir = data_dir.resolve()
        self.children = [Child(s) for s in specs]
        self.env = dict(os.environ if env is None else env)
        self.console = console or Console()
        self.restart_delay = restart_delay
        self.log_max_bytes = log_max_bytes
        self.log_backups = log_backups
        self.hooks = hooks or {}
        self.extra_state = extra_state or {}
        self.hub: BusHub | None = None
        self._stopping = asyncio.Event()
        self.unhealthy: list[str] = []

    @property
    def stages(self) -> list[int]:
        return sorted({c.spec.stage for c in self.children})

    async def start(self, stop: asyncio.Event | None = None) -> bool:
        """Start stage by stage; False when a stage did not answer in time (the others are
        started anyway, so the user sees what works) or a hook failed (then nothing more)."""
        if not self.env.get("WEBFON_BUS_URL"):
            self.hub = BusHub()
            hub_port = await self.hub.start("127.0.0.1", 0)
            self.env["WEBFON_BUS_URL"] = f"tcp://127.0.0.1:{hub_port}"
        self.env["WEBFON_DATA_DIR"] = str(self.data_dir)
        # gateway-5 is a gateway: the node's own service calls go over Unix sockets
        names = {c.spec.name.split("-")[0] for c in self.children}
        self.env.update(local_channels(self.data_dir, names, self.env))
        (self.data_dir / "log").mkdir(parents=True, exist_ok=True)
        ok = True
        for stage in self.stages:
            if stop is not None and stop.is_set():
                return False
            group = [c for c in self.children if c.spec.stage == stage]
            for child in group:
                child.task = asyncio.create_task(self._keep_running(child))
            self._write_state()
            ok &= await self._wait_healthy(group, stop)
            hook = self.hooks.get(stage)
            if hook is not None:
                await hook()  # errors go to the caller, which stops what was started
        return ok

    async def _wait_healthy(self, group: list[Child], stop: asyncio.Event | None) -> bool:
        deadline = time.monotonic() + HEALTH_WAIT_S
        pending = {c.spec.name: c for c in group}
        async with aiohttp.ClientSession() as session:
            while pending and time.monotonic() < deadline and \
                    not (stop is not None and stop.is_set()):
                for name, child in list(pending.items()):
                    if await child.spec.health.check(session):
                        log.info("ready", extra={"child": name, "url": child.spec.health.url})
                        del pending[name]
                if pending:
                    await asyncio.sleep(0.2)
        if pending:
            self.unhealthy.extend(pending)
            log.error("not answering", extra={"children": sorted(pending),
                                              "waited_s": HEALTH_WAIT_S})
        return not pending

    def _env_for(self, spec: ProcessSpec) -> dict[str, str]:
        return {**self.env, **spec.env}

    async def _spawn(self, child: Child) -> None:
        spec = child.spec
        child.proc = await asyncio.create_subprocess_exec(
            *spec.argv, env=self._env_for(spec), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)
        child.started_at = time.time()
        child.reader = asyncio.create_task(self._read(child, child.proc))
        log.info("started", extra={"child": spec.name, "pid": child.proc.pid,
                                   "port": spec.port})
        self._write_state()

    async def _read(self, child: Child, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        out = RotatingLog(log_path(self.data_dir, child.spec.name),
                          max_bytes=self.log_max_bytes, backups=self.log_backups)
        try:
            while True:
                try:
                    line = await proc.stdout.readline()
                except (ValueError, asyncio.LimitOverrunError):  # a line over 64 KiB
                    line = b"(line too long, cut)\n"
                    with contextlib.suppress(Exception):
                        await proc.stdout.read(1 << 20)
                if not line:
                    return
                text = line.decode("utf-8", "replace")
                out.write(text if text.endswith("\n") else text + "\n")
                self.console.line(child.spec.name, text)
        finally:
            out.close()

    async def _keep_running(self, child: Child) -> None:
        backoff = self.restart_delay
        while not self._stopping.is_set():
            await self._spawn(child)
            assert child.proc is not None
            code = await child.proc.wait()
            if child.reader is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await child.reader
            child.last_exit = code
            if self._stopping.is_set() or not child.spec.restart:
                break
            ran_for = time.time() - child.started_at
            backoff = self.restart_delay if ran_for > 30 else min(
                backoff * 2 if child.restarts else backoff,
                max(MAX_BACKOFF_S, self.restart_delay))
            child.restarts += 1
            log.error("exited; restarting", extra={"child": child.spec.name, "exit_code": code,
                                                   "ran_s": round(ran_for, 1),
                                                   "restart_in_s": backoff})
            self._write_state()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)

    async def stop(self) -> None:
        """Stop stage by stage, last stage first; returns once every child is gone."""
        self._stopping.set()
        for stage in reversed(self.stages):
            group = [c for c in self.children if c.spec.stage == stage and c.proc is not None]
            for child in group:
                assert child.proc is not None
                if child.proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        child.proc.send_signal(child.spec.stop_signal)
            await asyncio.gather(*(self._wait_stopped(c) for c in group))
        for child in self.children:
            if child.task is not None:
                child.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await child.task
            if child.reader is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await child.reader
        if self.hub is not None:
            await self.hub.close()
        state_path(self.data_dir).unlink(missing_ok=True)
        log.info("all stopped")

    async def _wait_stopped(self, child: Child) -> None:
        assert child.proc is not None
        started = time.monotonic()
        try:
            await asyncio.wait_for(child.proc.wait(), child.spec.stop_grace_s)
        except TimeoutError:
            log.warning("did not stop in time; killing",
                        extra={"child": child.spec.name, "grace_s": child.spec.stop_grace_s})
            with contextlib.suppress(ProcessLookupError):
                child.proc.kill()
            await child.proc.wait()
            return
        log.info("stopped", extra={"child": child.spec.name, "exit_code": child.proc.returncode,
                                   "took_s": round(time.monotonic() - started, 2)})

    def _write_state(self) -> None:
        path = state_path(self.data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "pid": os.getpid(),
            "bus_url": self.env.get("WEBFON_BUS_URL"),
            **self.extra_state,
            "components": {
                c.spec.name: {
                    "pid": c.proc.pid if c.proc else None,
                    "port": c.spec.port,
                    "health_url": c.spec.health.url,
                    "health": dataclasses.asdict(c.spec.health),
                    "description": c.spec.description,
                    "stage": c.spec.stage,
                    "restarts": c.restarts,
                    "started_at": c.started_at,
                    "last_exit": c.last_exit,
                }
                for c in self.children
            },
        }
        tmp = path.with_suffix(".tmp")
        # it may name the database URL with its password: readable by its owner only
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(state, indent=2))
        tmp.replace(path)
