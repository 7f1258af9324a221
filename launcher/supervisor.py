"""``webfon up``: run every available component as a supervised child process.

The supervisor prepares what the children share (data directory, signing keys, control key,
migrated store, the local event-bus hub), starts each component, restarts one that dies (with
back-off, logging its exit code) and stops them all cleanly on Ctrl-C / SIGTERM. Its state
(pids, ports, restarts) is written to ``<data_dir>/run/up.json`` for ``webfon status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from launcher.components import Component
from webfon.bus import BusHub

log = logging.getLogger("launcher.supervisor")

STOP_GRACE_S = 6.0
MAX_BACKOFF_S = 15.0


@dataclass
class Child:
    component: Component
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    last_exit: int | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


def local_channels(data_dir: Path, names: set[str], env: dict[str, str]) -> dict[str, str]:
    """Settings that keep the node's own service calls on Unix sockets (mode 0600 under
    ``<data_dir>/run``): the front reaches sercen there, so sercen believes the client address
    the front passes on only from it (no TCP peer is a trusted proxy by default), and the
    gateway reaches the PBX control API there (the control key never crosses TCP). Codes of
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
    if "sercen" in names:
        wanted["WEBFON_SERCEN_MAIL_OUTBOX"] = str(outbox_path(data_dir))
    return {k: v for k, v in wanted.items() if k not in env}


def outbox_path(data_dir: Path) -> Path:
    return data_dir / "outbox"


def state_path(data_dir: Path) -> Path:
    return data_dir / "run" / "up.json"


class Supervisor:
    def __init__(self, components: list[Component], data_dir: Path,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.children = [Child(c) for c in components]
        self.env = dict(os.environ if env is None else env)
        self.hub = BusHub()
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        hub_port = await self.hub.start("127.0.0.1", 0)
        self.env.setdefault("WEBFON_BUS_URL", f"tcp://127.0.0.1:{hub_port}")
        self.env["WEBFON_DATA_DIR"] = str(self.data_dir)
        for child in self.children:
            self.env.setdefault(f"WEBFON_{child.component.name.upper()}_URL",
                                f"http://127.0.0.1:{child.component.port}")
        self.env.update(local_channels(self.data_dir, {c.component.name for c in self.children},
                                       self.env))
        for child in self.children:
            child.task = asyncio.create_task(self._keep_running(child))
        self._write_state()

    async def _spawn(self, child: Child) -> None:
        child.proc = await asyncio.create_subprocess_exec(
            *child.component.command(), env=self.env, stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True)
        child.started_at = time.time()
        log.info("component started", extra={"child": child.component.name,
                                             "pid": child.proc.pid,
                                             "port": child.component.port})
        self._write_state()

    async def _keep_running(self, child: Child) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            await self._spawn(child)
            assert child.proc is not None
            code = await child.proc.wait()
            child.last_exit = code
            if self._stopping.is_set():
                break
            ran_for = time.time() - child.started_at
            backoff = 1.0 if ran_for > 30 else min(backoff * 2, MAX_BACKOFF_S)
            child.restarts += 1
            log.error("component exited; restarting",
                      extra={"child": child.component.name, "exit_code": code,
                             "ran_s": round(ran_for, 1), "restart_in_s": backoff})
            self._write_state()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)

    async def stop(self) -> None:
        self._stopping.set()
        for child in self.children:
            if child.proc is not None and child.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in self.children:
            if child.proc is None:
                continue
            try:
                await asyncio.wait_for(child.proc.wait(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                log.warning("component did not stop; killing",
                            extra={"child": child.component.name})
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()
                await child.proc.wait()
        for child in self.children:
            if child.task is not None:
                child.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await child.task
        await self.hub.close()
        state_path(self.data_dir).unlink(missing_ok=True)
        log.info("all components stopped")

    def _write_state(self) -> None:
        path = state_path(self.data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "pid": os.getpid(),
            "bus_url": self.env.get("WEBFON_BUS_URL"),
            "components": {
                c.component.name: {
                    "pid": c.proc.pid if c.proc else None,
                    "port": c.component.port,
                    "health_url": c.component.health_url,
                    "restarts": c.restarts,
                    "started_at": c.started_at,
                    "last_exit": c.last_exit,
                }
                for c in self.children
            },
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(path)
