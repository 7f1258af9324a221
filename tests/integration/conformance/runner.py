"""One scenario run against one server: its recorder, janus-client sessions and handles, and its
SIP peers (sipp processes with the scenarios in ``sipp/``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from janus_client import JanusSession

from tests.integration.conformance.client import Recorder, SipLine, open_session
from tests.integration.conformance.servers import Server
from tests.support.net import HOST
from tests.support.sipp import Sipp, SippResult

SIPP_DIR = Path(__file__).resolve().parent / "sipp"
Scenario = Callable[["Run"], Awaitable[None]]


class Registrar:
    """A sipp registrar with digest auth; knows the Contact a client registered."""

    def __init__(self, sipp: Sipp, contact_file: Path, domain: str) -> None:
        self.sipp = sipp
        self.contact_file = contact_file
        self.domain = domain

    @property
    def uri(self) -> str:
        return f"sip:{self.sipp.sip_address}"

    async def contact(self, timeout: float = 10.0) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            with contextlib.suppress(OSError):
                text = self.contact_file.read_text().strip()
                if text:
                    return text
            await asyncio.sleep(0.05)
        raise AssertionError("nothing registered at the registrar")


class Run:
    """One scenario run against one server: its recorder, sessions, handles and SIP peers."""

    def __init__(self, server: Server, workdir: Path) -> None:
        self.server = server
        self.workdir = workdir
        self.recorder = Recorder()
        self.names: dict[int, str] = {}
        self.sessions: list[JanusSession] = []
        self.lines: list[SipLine] = []
        self.peers: list[Sipp] = []

    @property
    def target(self) -> str:
        return self.server.name

    async def session(self, conn: str = "alice") -> JanusSession:
        session = open_session(self.recorder, self.server.ws_url, conn)
        self.sessions.append(session)
        await session.create()
        return session

    async def line(self, session: JanusSession, label: str, tone_hz: float = 440.0
                   ) -> SipLine:
        line = SipLine(label, self.recorder, tone_hz)
        self.lines.append(line)
        await line.attach(session)
        return line

    def peer(self, name: str, scenario: str, remote: str | None = None,
             **kwargs: Any) -> Sipp:
        """A sipp peer running ``sipp/<scenario>.xml`` (not started yet)."""
        workdir = self.workdir / f"sipp-{name}"
        workdir.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("timeout", 30.0)
        sipp = Sipp(str(SIPP_DIR / f"{scenario}.xml"), remote, workdir=workdir, **kwargs)
        self.names[sipp.local_port] = name
        self.names[sipp.media_port] = f"{name}-media"
        self.peers.append(sipp)
        return sipp

    async def start_peer(self, name: str, scenario: str, remote: str | None = None,
                         **kwargs: Any) -> Sipp:
        sipp = self.peer(name, scenario, remote, **kwargs)
        await sipp.start()
        await asyncio.sleep(0.2)  # sipp binds its sockets after it starts
        return sipp

    async def registrar(self, user: str = "alice", password: str = "secret") -> Registrar:
        contact_file = self.workdir / f"contact-{len(self.peers)}.txt"
        sipp = await self.start_peer("registrar", "registrar", variables={
            "user": user, "password": password, "contact_file": str(contact_file)})
        return Registrar(sipp, contact_file, f"{HOST}:{sipp.local_port}")

    async def finished(self, sipp: Sipp, timeout: float = 20.0) -> SippResult:
        """Wait for a peer to finish its scenario; fails unless it succeeded."""
        result = await sipp.wait(timeout)
        assert result.ok and result.failed_calls == 0, (
            f"{self.target}: sipp {self.names.get(sipp.local_port)}: {result.describe()}")
        return result

    async def close(self) -> None:
        for line in self.lines:
            with contextlib.suppress(Exception):
                await line.close()
        for session in self.sessions:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.destroy(), 10)
        for sipp in self.peers:
            with contextlib.suppress(Exception):
                await sipp.stop()
