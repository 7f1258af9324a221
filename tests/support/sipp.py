"""Run sipp (Debian ``sip-tester``) from tests, bounded in time, with its traces collected.

``Sipp(...)`` builds the command line; ``await sipp.start()`` / ``await sipp.wait()`` (or
``await sipp.run()``) runs it as an asyncio subprocess in its own working directory, which holds
the stats CSV, error log, message trace and, when ``tone_hz`` is given, the tone file
``tone.raw`` (headerless G.711 in the law of ``payload_type``) that the scenarios in
``tests/sipp/`` stream with ``rtp_stream``. Scenario names: a sipp built-in (``uac``, ``uas``…)
or a file in ``tests/sipp/`` (with or without ``.xml``) or any path.

Every instance gets its own SIP port and media port block (``-mp``, plus +2 which sipp also
binds for echo), so several sipps and tests can run at once. With ``netns`` sipp runs in that
network namespace (``ip netns exec``), at ``local_ip`` there (an address of the namespace, see
:class:`~tests.support.baresip.PhoneNetwork`); its ports default to 5060 and 16000 then.
Scenario variables are passed with ``-set``; ``pt``/``codec`` default to PCMU (0).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.net import HOST, free_port, free_port_block
from webfon.rtp.tones import sine
from webfon.rtp.wav import write_raw_g711

SIPP = os.environ.get("WEBFON_TEST_SIPP", "/usr/bin/sipp")
SCENARIO_DIR = Path(__file__).resolve().parent.parent / "sipp"
BUILTIN = {"uac", "uas", "regexp", "3pcc-C-A", "3pcc-C-B", "3pcc-A", "3pcc-B", "branchc",
           "branchs", "uac_pcap", "ooc_default"}
CODECS = {0: "PCMU", 8: "PCMA"}


@dataclass
class SippResult:
    """Outcome of a sipp run."""

    returncode: int | None
    timed_out: bool
    workdir: Path
    command: list[str]
    stats: dict[str, str] = field(default_factory=dict)

    @property
    def successful_calls(self) -> int:
        return int(self.stats.get("SuccessfulCall(C)", "0") or 0)

    @property
    def failed_calls(self) -> int:
        return int(self.stats.get("FailedCall(C)", "0") or 0)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def text(self, name: str) -> str:
        """Contents of a file sipp wrote in its work dir (e.g. "errors.log", "messages.log")."""
        p = self.workdir / name
        return p.read_text(errors="replace") if p.exists() else ""

    def describe(self) -> str:
        """Exit status, counters and the tail of sipp's logs, for assertion messages."""
        parts = [f"sipp exit {self.returncode}{' (timed out)' if self.timed_out else ''}, "
                 f"successful {self.successful_calls}, failed {self.failed_calls}",
                 "command: " + " ".join(self.command)]
        for name in ("errors.log", "stderr.log", "stdout.log"):
            tail = self.text(name)[-2000:].strip()
            if tail:
                parts.append(f"--- {name} ---\n{tail}")
        return "\n".join(parts)


class Sipp:
    """One sipp process (see the module docstring)."""

    def __init__(
        self,
        scenario: str,
        remote: str | None = None,
        *,
        local_ip: str = HOST,
        local_port: int = 0,
        media_ip: str | None = None,
        media_port: int = 0,
        transport: str = "u1",
        calls: int = 1,
        rate: float | None = None,
        rate_period_ms: int | None = None,
        limit: int | None = None,
        duration_ms: int | None = None,
        service: str | None = None,
        variables: dict[str, str | int] | None = None,
        payload_type: int = 0,
        tone_hz: float | None = None,
        tone_seconds: float = 30.0,
        rtp_echo: bool = False,
        auth_user: str | None = None,
        auth_password: str | None = None,
        timeout: float = 30.0,
        trace_messages: bool = True,
        trace_errors: bool = True,
        extra_args: list[str] | None = None,
        workdir: Path | None = None,
        netns: str | None = None,
    ) -> None:
        self.scenario = scenario
        self.remote = remote
        self.local_ip = local_ip
        self.netns = netns
        self.media_ip = media_ip or local_ip
        if netns is not None:  # a namespace of its own: its ports cannot be probed from here
            self.local_port = local_port or 5060
            self.media_port = media_port or 16000
        else:
            self.local_port = local_port or free_port(
                "both" if transport.startswith("t") else "udp", local_ip)
            self.media_port = media_port or free_port_block(4, "udp", self.media_ip)
        self.transport = transport
        self.calls = calls
        self.rate = rate
        self.rate_period_ms = rate_period_ms
        self.limit = limit
        self.duration_ms = duration_ms
        self.service = service
        self.payload_type = payload_type
        self.variables: dict[str, str | int] = dict(variables or {})
        self.tone_hz = tone_hz
        self.tone_seconds = tone_seconds
        self.rtp_echo = rtp_echo
        self.auth_user = auth_user
        self.auth_password = auth_password
        self.timeout = timeout
        self.trace_messages = trace_messages
        self.trace_errors = trace_errors
        self.extra_args = list(extra_args or [])
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="webfon-sipp-"))
        self.proc: asyncio.subprocess.Process | None = None
        self.result: SippResult | None = None

    @property
    def sip_address(self) -> str:
        return f"{self.local_ip}:{self.local_port}"

    def _scenario_args(self) -> list[str]:
        if self.scenario in BUILTIN:
            return ["-sn", self.scenario]
        path = Path(self.scenario)
        candidates = [path, SCENARIO_DIR / self.scenario, SCENARIO_DIR / f"{self.scenario}.xml"]
        for c in candidates:
            if c.is_file():
                return ["-sf", str(c.resolve())]
        raise FileNotFoundError(f"sipp scenario {self.scenario!r} not found (looked in "
                                f"{SCENARIO_DIR})")

    def _all_variables(self) -> dict[str, str | int]:
        """Explicit variables plus ``pt``/``codec`` defaults when the scenario file uses them
        (sipp refuses ``-set`` for variables a scenario does not declare)."""
        out: dict[str, str | int] = {}
        args = self._scenario_args()
        if args[0] == "-sf":
            text = Path(args[1]).read_text(errors="replace")
            defaults: dict[str, str | int] = {
                "pt": self.payload_type, "codec": CODECS.get(self.payload_type, "PCMU"),
                "caller": self.auth_user or "sipp"}
            out.update({k: v for k, v in defaults.items() if f"[${k}]" in text})
        out.update(self.variables)
        return out

    def command(self) -> list[str]:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        cmd = [*prefix, SIPP, *self._scenario_args(), "-i", self.local_ip,
               "-p", str(self.local_port),
               "-mi", self.media_ip, "-mp", str(self.media_port), "-t", self.transport,
               "-m", str(self.calls), "-nostdin", "-rtp_payload", str(self.payload_type),
               "-trace_stat", "-stf", str(self.workdir / "stats.csv"), "-fd", "1",
               "-timeout", f"{max(1, int(self.timeout))}s", "-timeout_error"]
        if self.trace_errors:
            cmd += ["-trace_err", "-error_file", str(self.workdir / "errors.log")]
        if self.trace_messages:
            cmd += ["-trace_msg", "-message_file", str(self.workdir / "messages.log")]
        if self.rate is not None:
            cmd += ["-r", str(self.rate)]
        if self.rate_period_ms is not None:
            cmd += ["-rp", str(self.rate_period_ms)]
        if self.limit is not None:
            cmd += ["-l", str(self.limit)]
        if self.duration_ms is not None:
            cmd += ["-d", str(self.duration_ms)]
        if self.service is not None:
            cmd += ["-s", self.service]
        if self.rtp_echo:
            cmd.append("-rtp_echo")
        if self.auth_user is not None:
            cmd += ["-au", self.auth_user]
        if self.auth_password is not None:
            cmd += ["-ap", self.auth_password]
        for key, value in self._all_variables().items():
            cmd += ["-set", key, str(value)]
        cmd += self.extra_args
        if self.remote:
            cmd.append(self.remote)
        return cmd

    def write_tone(self) -> Path | None:
        """Write ``tone.raw`` for ``rtp_stream`` (G.711 in the law of ``payload_type``)."""
        if self.tone_hz is None:
            return None
        return write_raw_g711(self.workdir / "tone.raw",
                              sine(self.tone_hz, self.tone_seconds, 8000, 0.5),
                              self.payload_type)

    async def start(self) -> None:
        self.write_tone()
        cmd = self.command()
        self._cmd = cmd
        with open(self.workdir / "stdout.log", "wb") as out, \
                open(self.workdir / "stderr.log", "wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, cwd=self.workdir, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True)
        self._started = asyncio.get_running_loop().time()

    async def wait(self, timeout: float | None = None) -> SippResult:
        """Wait for exit (at most ``timeout``, default the instance's ``timeout`` + 10 s)."""
        assert self.proc is not None, "sipp not started"
        limit = (self.timeout + 10.0) if timeout is None else timeout
        timed_out = False
        try:
            await asyncio.wait_for(self.proc.wait(), limit)
        except TimeoutError:
            timed_out = True
            await self._kill()
        self.result = SippResult(self.proc.returncode, timed_out, self.workdir, self._cmd,
                                 self._read_stats())
        return self.result

    async def run(self, timeout: float | None = None) -> SippResult:
        await self.start()
        return await self.wait(timeout)

    async def stop(self, grace: float = 3.0) -> SippResult | None:
        """Ask sipp to finish (SIGUSR1: stop placing calls and exit), kill after ``grace``."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGUSR1)
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except TimeoutError:
                await self._kill()
        if self.result is None:
            self.result = SippResult(self.proc.returncode, False, self.workdir, self._cmd,
                                     self._read_stats())
        return self.result

    async def _kill(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 5.0)

    def _read_stats(self) -> dict[str, str]:
        path = self.workdir / "stats.csv"
        if not path.exists():
            return {}
        rows = list(csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"))
        if len(rows) < 2:
            return {}
        return dict(zip(rows[0], rows[-1], strict=False))

    async def __aenter__(self) -> Sipp:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
