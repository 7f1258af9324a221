"""Component processes for tests: ``python -m <module> --port N`` with a clean ``WEBFON_*``
environment, waited for on ``/healthz`` and stopped (terminate, then kill) afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Component:
    name: str
    port: int
    proc: asyncio.subprocess.Process
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBFON_")}
    env.update({"WEBFON_DATA_DIR": str(data_dir), "WEBFON_LOG_FORMAT": "logfmt",
                "WEBFON_LOG_LEVEL": "info"})
    env.update(extra)
    return env


async def start(name: str, module: str, port: int, env: dict[str, str], logs: Path,
                timeout: float = 30.0, ssl_context: Any = None) -> Component:
    """Start ``python -m module --port port``; wait for ``/healthz`` (over TLS when
    ``ssl_context`` is given)."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("ab") as fh:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, "--port", str(port), cwd=ROOT, env=env,
            stdout=fh, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    comp = Component(name, port, proc, log, env)
    deadline = asyncio.get_running_loop().time() + timeout
    scheme = "https" if ssl_context is not None else "http"
    connector = aiohttp.TCPConnector(ssl=ssl_context) if ssl_context is not None else None
    async with aiohttp.ClientSession(connector=connector) as http:
        while True:
            if proc.returncode is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{comp.tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with http.get(f"{scheme}://127.0.0.1:{port}/healthz",
                                    timeout=aiohttp.ClientTimeout(total=1)) as r:
                    if r.status == 200:
                        return comp
            if asyncio.get_running_loop().time() > deadline:
                await stop(comp)
                raise RuntimeError(f"{name} not healthy in {timeout} s:\n{comp.tail()}")
            await asyncio.sleep(0.1)


async def stop(*components: Component) -> None:
    for comp in components:
        if comp.proc.returncode is None:
            comp.proc.terminate()
    for comp in components:
        try:
            await asyncio.wait_for(comp.proc.wait(), 8)
        except TimeoutError:
            comp.proc.kill()
            await comp.proc.wait()


async def raw_get(port: int, target: str, host: str = "127.0.0.1") -> tuple[int, bytes]:
    """Send ``GET <target>`` byte for byte (HTTP clients normalise dot segments away)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     "Connection: close\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body
