"""Runs each scenario against Janus and our gateway at once and compares the transcripts.

A scenario is ``async def scenario(run: Run) -> None``: it opens sessions and handles with
``janus-client``, starts its SIP peers (sipp) and drives the call; it does not know which
server it talks to. ``await conform(scenario)`` runs it against both servers concurrently
(one shared Janus process and one shared gateway process for the whole suite), fails if the
scenario fails against either, and otherwise compares the two transcripts after taking the
deliberate differences out of ours.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conformance import differences
from tests.integration.conformance.runner import Run, Scenario
from tests.integration.conformance.servers import GatewayServer, JanusServer, Server
from tests.integration.conformance.transcript import Transcript, diff, normalize


@pytest.fixture(scope="session")
def conformance_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """One Janus and one gateway process for the whole suite."""
    if not JanusServer.available():
        pytest.fail("Janus 1.1.2 (Debian package janus) is needed: scripts/install-test-deps")
    base = tmp_path_factory.mktemp("conformance")
    servers: dict[str, Server] = {"janus": JanusServer(base / "janus"),
                                  "webfon": GatewayServer(base / "webfon")}
    try:
        for server in servers.values():
            server.start()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
async def conform(conformance_servers: dict[str, Server], tmp_path: Path
                  ) -> AsyncIterator[Callable[[Scenario], Awaitable[Transcript]]]:
    """``await conform(scenario)`` runs it against both servers, fails on any difference,
    and returns Janus's transcript (the same as ours but for the listed differences)."""

    async def run_both(scenario: Scenario) -> Transcript:
        runs = {name: Run(server, tmp_path / name) for name, server in
                conformance_servers.items()}

        async def execute(run: Run) -> BaseException | None:
            run.workdir.mkdir(parents=True, exist_ok=True)
            try:
                await asyncio.wait_for(scenario(run), 60)
                return None
            except (Exception, TimeoutError) as exc:
                return exc
            finally:
                await run.close()

        outcomes = await asyncio.gather(*(execute(r) for r in runs.values()))
        failures = dict(zip(runs, outcomes, strict=True))
        janus = differences.apply(normalize(runs["janus"].recorder, runs["janus"].names),
                                  ours=False)
        ours = differences.apply(normalize(runs["webfon"].recorder, runs["webfon"].names))
        _write(tmp_path / "janus.transcript", janus)
        _write(tmp_path / "webfon.transcript", ours)
        problems = []
        for name, exc in failures.items():
            if exc is not None:
                problems.append(f"scenario failed against {name}: {type(exc).__name__}: {exc}")
        delta = diff(janus, ours)
        if delta:
            problems.append("frames differ (- janus, + webfon):\n" + delta)
        if problems:
            logs = "\n".join(f"{n} log: {s.log_path}" for n, s in conformance_servers.items())
            raise AssertionError("\n\n".join([*problems, f"transcripts in {tmp_path}", logs]))
        return janus

    yield run_both


def _write(path: Path, transcript: Transcript) -> None:
    path.write_text("\n".join(transcript.lines()) + "\n")
