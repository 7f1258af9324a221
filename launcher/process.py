"""What the supervisor runs: one :class:`ProcessSpec` per process, and how it knows one is up.

A spec names the process (``pbx``, ``gateway-5``, ``nginx``), its command and extra
environment, the start stage (stage 0 first; stopped in the reverse order, so gateways stop
before the PBX and release their web phones through it), how to check it answers, and how to
stop it cleanly.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
from dataclasses import dataclass, field

import aiohttp


@dataclass(frozen=True)
class Health:
    """``http``/``https``: GET answers 200; ``tcp``: the port accepts a connection."""

    kind: str
    host: str
    port: int
    path: str = "/healthz"

    @property
    def url(self) -> str:
        if self.kind == "tcp":
            return f"tcp://{self.host}:{self.port}"
        return f"{self.kind}://{self.host}:{self.port}{self.path}"

    async def check(self, session: aiohttp.ClientSession | None = None) -> bool:
        if self.kind == "tcp":
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), 1.5)
            except (OSError, TimeoutError):
                return False
            writer.close()
            return True
        own = session is None
        session = session or aiohttp.ClientSession()
        try:
            # the stack's own (possibly self-signed) certificate: reachability, not identity
            ctx: ssl.SSLContext | bool = False if self.kind == "https" else True
            async with session.get(self.url, ssl=ctx,
                                   timeout=aiohttp.ClientTimeout(total=1.5)) as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False
        finally:
            if own:
                await session.close()


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: tuple[str, ...]
    stage: int
    description: str
    health: Health
    port: int
    url: str = ""  # shown to the user when everything is up
    env: dict[str, str] = field(default_factory=dict)
    stop_signal: int = signal.SIGINT
    stop_grace_s: float = 15.0
    # a stopped process is started again (crash); False for one-shot helpers
    restart: bool = True
