"""Benchmark of the embedded PBX driven by sipp: registrations/s, call setups/s, relayed calls.

Runs ``python -m pbx`` as its own process on loopback (SQLite store in a temporary directory,
logging at warning level) and measures, with the CPU time and memory of that process:

1. **registrations/s** — sipp sends REGISTERs with digest auth (401 challenge + answer) at a
   fixed rate; the figure is completed registrations per wall-clock second;
2. **call setups/s (CPS)** — sipp places authenticated calls (407 challenge, INVITE, 200,
   ACK, BYE) to a registered sipp UAS at a fixed rate, without media; failed calls must stay
   below 1 %;
3. **concurrent relayed G.711 calls** — sipp callers stream a PCMA tone to a sipp UAS that
   streams one back, through the PBX's RTP relay; loss is what the PBX saw missing on arrival
   (RTP sequence gaps, both directions) and the relay ratio is packets sent / received.

Usage::

    .venv/bin/python loadtest/pbx_bench.py [--reg-rate 400] [--reg-count 4000]
        [--cps 100,200,300] [--cps-seconds 20] [--concurrent 200] [--call-seconds 30]

Needs ``sipp`` (Debian ``sip-tester``). Prints a table and a JSON line with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtest.machine import cpu_times, reference_ms_on, usage  # noqa: E402

SCENARIOS = ROOT / "tests" / "sipp"
PBX_CPUS: set[int] | None = None
"""CPUs the PBX may run on (``--pin``); None: any."""
LOADGEN_CPUS: set[int] | None = None
"""CPUs sipp may run on (``--pin``); None: any."""
SIPP = os.environ.get("WEBFON_SIPP", shutil.which("sipp") or "/usr/bin/sipp")
HOST = "127.0.0.1"
TICK = os.sysconf("SC_CLK_TCK")
RUNNING: list[Sipp] = []
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class ProcSample:
    cpu_s: float
    rss_mb: float
    at: float


def sample(pid: int) -> ProcSample:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    return ProcSample(cpu, rss, time.monotonic())


def cpu_percent(a: ProcSample, b: ProcSample) -> float:
    return 100.0 * (b.cpu_s - a.cpu_s) / max(1e-9, b.at - a.at)


async def make_store(url: str) -> None:
    sys.path.insert(0, str(ROOT))
    from webfon.directory import add_phone, create_extension, create_user
    from webfon.store import open_store

    store = await open_store(url)
    async with store.transaction() as tx:
        for login, ext in (("1001", "2001"), ("1002", "2002")):
            uid = await create_user(tx, display_name=f"Bench {login}", login_number=login,
                                    password="bench")
            eid = await create_extension(tx, number=ext, kind="hard", owner_user_id=uid,
                                         line_count=100000)
            await add_phone(tx, extension_id=eid, position=0, sip_username=ext,
                            sip_password=f"sip-{ext}")
    await store.close()


class Sipp:
    def __init__(self, workdir: Path, name: str, scenario: str, remote: str | None,
                 *args: str) -> None:
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.cmd = [SIPP, *(["-sn", scenario] if "/" not in scenario and not
                            scenario.endswith(".xml") else ["-sf", scenario]),
                    "-i", HOST, "-p", str(self.port), "-nostdin", "-trace_stat",
                    "-stf", str(self.dir / "stats.csv"), "-fd", "1", "-trace_err",
                    "-error_file", str(self.dir / "errors.log"), *args]
        if remote:
            self.cmd.append(remote)
        self.proc: subprocess.Popen[bytes] | None = None
        RUNNING.append(self)

    def start(self) -> Sipp:
        with open(self.dir / "out.log", "wb") as out:
            self.proc = subprocess.Popen(self.cmd, cwd=self.dir, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_on_cpus(LOADGEN_CPUS))
        return self

    async def wait(self, timeout: float) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.stop()
                break
            await asyncio.sleep(0.1)
        return self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGUSR1)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def stats(self) -> dict[str, str]:
        path = self.dir / "stats.csv"
        if not path.exists():
            return {}
        rows = [r.split(";") for r in path.read_text(errors="replace").splitlines() if r]
        return dict(zip(rows[0], rows[-1], strict=False)) if len(rows) > 1 else {}

    def count(self, key: str) -> int:
        return int(self.stats().get(key, "0") or 0)


def tone(workdir: Path, hz: float, pt: int = 8) -> None:
    from webfon.rtp.tones import sine
    from webfon.rtp.wav import write_raw_g711

    write_raw_g711(workdir / "tone.raw", sine(hz, 60.0, 8000, 0.5), pt)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="webfon-pbx-bench-"))
        self.sip_port = free_port()
        self.http_port = free_port(socket.SOCK_STREAM)
        self.pbx: subprocess.Popen[bytes] | None = None
        self.results: dict[str, Any] = {}
        self.key = ""
        self.wrapper: list[str] = []
        """Command words put before the PBX's own (e.g. valgrind and its options)."""
        self.python_args: list[str] = []
        """Interpreter options before ``-m pbx`` (e.g. ``-m cProfile -o FILE``)."""
        self.start_timeout = 10.0
        self.env: dict[str, str] = {}
        """Extra environment for the PBX (its settings, ``WEBFON_PBX_…``)."""

    @property
    def remote(self) -> str:
        return f"{HOST}:{self.sip_port}"

    async def start_pbx(self) -> None:
        db = f"sqlite:///{self.tmp / 'bench.db'}"
        await make_store(db)
        env = dict(os.environ, WEBFON_PBX_DATA_DIR=str(self.tmp / "data"),
                   WEBFON_PBX_DATABASE_URL=db, WEBFON_PBX_SIP_PORT=str(self.sip_port),
                   WEBFON_PBX_SIP_TRANSPORTS="udp", WEBFON_PBX_LOG_LEVEL="warning",
                   WEBFON_PBX_QUALIFY_INTERVAL_S="0",
                   WEBFON_PBX_RTP_PORT_MIN=str(self.args.rtp_ports[0]),
                   WEBFON_PBX_RTP_PORT_MAX=str(self.args.rtp_ports[1]),
                   WEBFON_PBX_NO_ANSWER_TIMEOUT_S="30",
                   WEBFON_PBX_REGISTER_MAX_EXPIRES="3600", WEBFON_PBX_BUS_URL="",
                   # every call is 2001's: the per-extension limit would cap the benchmark
                   WEBFON_PBX_MAX_CALLS_PER_EXTENSION="0")
        env.pop("WEBFON_CONFIG_DIR", None)
        env.update(self.env)
        self.pbx = _spawn([*self.wrapper, sys.executable, *self.python_args, "-m", "pbx", "--port",
                           str(self.http_port)], env, self.tmp / "pbx.log",
                          cwd=self.args.pbx_tree, cpus=PBX_CPUS)
        from webfon.control_key import ensure_control_key

        async with aiohttp.ClientSession() as session:
            for _ in range(int(self.start_timeout * 10)):
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"http://{HOST}:{self.http_port}/healthz") as r:
                        if r.status == 200:
                            break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("PBX did not start: " + (self.tmp / "pbx.log").read_text())
        self.key = ensure_control_key(self.tmp / "data")

    async def control(self, path: str) -> Any:
        async with aiohttp.ClientSession() as session, session.get(
                f"http://{HOST}:{self.http_port}{path}",
                headers={"Authorization": f"Bearer {self.key}"}) as r:
            body = await r.json()
            if r.status != 200:
                raise RuntimeError(f"control API {path}: {r.status} {body}")
            return body

    def stop_pbx(self) -> None:
        if self.pbx is not None and self.pbx.poll() is None:
            self.pbx.send_signal(signal.SIGTERM)
            try:
                self.pbx.wait(10)
            except subprocess.TimeoutExpired:
                self.pbx.kill()

    @property
    def pid(self) -> int:
        assert self.pbx is not None
        return self.pbx.pid

    async def register_contact(self, ext: str, port: int) -> None:
        reg = Sipp(self.tmp, f"reg-{ext}-{port}", str(SCENARIOS / "pbx" / "register_auth.xml"),
                   self.remote, "-s", ext, "-au", ext, "-ap", f"sip-{ext}", "-m", "1",
                   "-set", "contact_port", str(port), "-set", "expires", "3600").start()
        if await reg.wait(15) != 0:
            raise RuntimeError(f"registration of {ext} failed: "
                               + (reg.dir / "errors.log").read_text(errors="replace")[-2000:])

    async def bench_registrations(self) -> None:
        a = self.args
        before = sample(self.pid)
        reg = Sipp(self.tmp, "registrations", str(SCENARIOS / "pbx" / "register_auth.xml"),
                   self.remote, "-s", "2001", "-au", "2001", "-ap", "sip-2001",
                   "-m", str(a.reg_count), "-r", str(a.reg_rate), "-l", "1000",
                   "-set", "contact_port", "5999", "-set", "expires", "3600").start()
        started = time.monotonic()
        await reg.wait(a.reg_count / a.reg_rate * 3 + 30)
        elapsed = time.monotonic() - started
        after = sample(self.pid)
        ok, failed = reg.count("SuccessfulCall(C)"), reg.count("FailedCall(C)")
        self.results["registrations"] = {
            "offered_rate": a.reg_rate, "completed": ok, "failed": failed,
            "per_second": round(ok / elapsed, 1), "cpu_percent": round(cpu_percent(before,
                                                                                   after), 1),
            "rss_mb": round(after.rss_mb, 1)}

    async def drain(self, timeout: float = 60.0) -> int:
        """Wait until the PBX has no call left (so phases do not overlap)."""
        deadline = time.monotonic() + timeout
        active = -1
        while time.monotonic() < deadline:
            if self.pbx is not None and self.pbx.poll() is not None:
                raise RuntimeError(f"the PBX exited ({self.pbx.returncode}); its log: "
                                   f"{self.tmp / 'pbx.log'}")
            try:
                active = (await self.control("/control/stats"))["calls_active"]
            except (TimeoutError, aiohttp.ClientError):
                active = -1  # too busy to answer its control API yet: ask again
            if active == 0:
                break
            await asyncio.sleep(0.5)
        return active

    async def bench_cps(self) -> None:
        a = self.args
        uas = Sipp(self.tmp, "cps-uas", "uas", None, "-mp", str(free_port())).start()
        await asyncio.sleep(0.5)
        await self.register_contact("2002", uas.port)
        self.results["cps"] = []
        for rate in a.cps:
            await self.drain()
            total = int(rate * a.cps_seconds)
            # the PBX CPU's speed, measured while nothing runs
            ref = reference_ms_on(PBX_CPUS)
            before = sample(self.pid)
            uac = Sipp(self.tmp, f"cps-uac-{rate:g}", str(SCENARIOS / "pbx" / "uac_bench.xml"),
                       self.remote, "-s", "2002", "-au", "2001", "-ap", "sip-2001",
                       "-auth_uri", f"2002@{self.remote}", "-set", "caller", "2001",
                       "-m", str(total), "-r", f"{rate:g}", "-d", "0",
                       "-l", str(int(max(100, rate * 4))), "-mp", str(free_port()),
                       "-timeout", f"{int(a.cps_seconds * 3 + 30)}s",
                       "-recv_timeout", "10000").start()
            started = time.monotonic()
            machine = cpu_times()
            await uac.wait(a.cps_seconds * 3 + 40)
            elapsed = time.monotonic() - started
            after = sample(self.pid)
            busy = {**usage(machine, cpu_times()), "cpu_ref_ms": [ref, reference_ms_on(PBX_CPUS)]}
            ok, failed = uac.count("SuccessfulCall(C)"), uac.count("FailedCall(C)")
            media = (await self.control("/control/stats"))["media"]
            self.results["cps"].append({
                "offered_cps": rate, "calls": total, "successful": ok, "failed": failed,
                "failed_percent": round(100.0 * failed / max(1, ok + failed), 3),
                "achieved_cps": round(ok / elapsed, 1),
                "cpu_percent": round(cpu_percent(before, after), 1),
                "cpu_ms_per_call": round(1000.0 * (after.cpu_s - before.cpu_s) / max(1, ok), 2),
                "rss_mb": round(after.rss_mb, 1),
                "rtp_pairs_reused": media.get("reused_pairs", 0), **busy})
        uas.stop()
        await self.drain()

    async def bench_media(self) -> None:
        a = self.args
        uas = Sipp(self.tmp, "media-uas", str(SCENARIOS / "uas_tone.xml"), None,
                   "-mp", str(free_port()), "-rtp_payload", "8", "-set", "pt", "8",
                   "-set", "codec", "PCMA")
        tone(uas.dir, 1000.0)
        uas.start()
        await asyncio.sleep(0.5)
        await self.register_contact("2002", uas.port)
        uac = Sipp(self.tmp, "media-uac", str(SCENARIOS / "uac_tone.xml"), self.remote,
                   "-s", "2002", "-au", "2001", "-ap", "sip-2001", "-auth_uri",
                   f"2002@{self.remote}", "-set", "caller", "2001", "-set", "pt", "8",
                   "-set", "codec", "PCMA", "-rtp_payload", "8", "-m", str(a.concurrent),
                   "-l", str(a.concurrent), "-r", str(a.ramp_cps),
                   "-d", str(int(a.call_seconds * 1000)), "-mp", str(free_port()),
                   "-timeout", f"{int(a.call_seconds * 3 + 60)}s")
        tone(uac.dir, 440.0)
        await self.drain()
        media_before = (await self.control("/control/stats"))["media"]
        uac.start()
        ramp = a.concurrent / a.ramp_cps
        await asyncio.sleep(ramp + 2)
        active = (await self.control("/control/stats"))["calls_active"]
        steady_a = sample(self.pid)
        machine = cpu_times()
        window = max(5.0, a.call_seconds - ramp - 6)
        await asyncio.sleep(window)
        steady_b = sample(self.pid)
        busy = usage(machine, cpu_times())
        snapshot = await self.control("/control/stats")
        await uac.wait(a.call_seconds * 3 + 60)
        uas.stop()
        await asyncio.sleep(1.0)
        media = (await self.control("/control/stats"))["media"]
        received = media["received"] - media_before["received"]
        sent = media["sent"] - media_before["sent"]
        lost = media["lost"] - media_before["lost"]
        expected = media["expected"] - media_before["expected"]
        ok, failed = uac.count("SuccessfulCall(C)"), uac.count("FailedCall(C)")
        self.results["media"] = {
            "calls": a.concurrent, "concurrent_seen": active,
            "steady_calls": snapshot["calls_active"], "successful": ok, "failed": failed,
            "packets_received": received, "packets_relayed": sent,
            "relay_ratio": round(sent / received, 4) if received else 0.0,
            "loss_percent": round(100.0 * lost / expected, 3) if expected else 0.0,
            "packets_per_s": round(received / max(1.0, a.call_seconds), 0),
            "cpu_percent_steady": round(cpu_percent(steady_a, steady_b), 1),
            "rss_mb": round(steady_b.rss_mb, 1), **busy}

    async def run(self) -> dict[str, Any]:
        await self.start_pbx()
        try:
            self.results["machine"] = {"cpu": _cpu_model(), "cores": os.cpu_count(),
                                       "pbx_cpus": sorted(PBX_CPUS) if PBX_CPUS else "any",
                                       "python": platform.python_version()}
            self.results["idle_rss_mb"] = round(sample(self.pid).rss_mb, 1)
            if self.args.reg_count:
                await self.bench_registrations()
            if self.args.cps:
                await self.bench_cps()
            if self.args.concurrent:
                await self.bench_media()
        finally:
            for sipp in RUNNING:
                sipp.stop()
            self.stop_pbx()
        return self.results


def _spawn(cmd: list[str], env: dict[str, str], log_path: Path,
           cwd: Path = ROOT, cpus: set[int] | None = None) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_on_cpus(cpus))


def _on_cpus(cpus: set[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` confining the child to ``cpus`` (None: no confinement)."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def print_report(r: dict[str, Any]) -> None:
    print(f"machine: {r['machine']['cpu']}, {r['machine']['cores']} cores, "
          f"Python {r['machine']['python']}; PBX on CPUs {r['machine']['pbx_cpus']}; "
          f"PBX idle RSS {r['idle_rss_mb']} MB")
    if "registrations" in r:
        g = r["registrations"]
        print(f"registrations: {g['per_second']}/s completed at {g['offered_rate']}/s offered "
              f"({g['completed']} ok, {g['failed']} failed), PBX CPU {g['cpu_percent']} %, "
              f"RSS {g['rss_mb']} MB")
    for c in r.get("cps", []):
        print(f"call setups: {c['achieved_cps']} CPS achieved at {c['offered_cps']} offered, "
              f"{c['successful']} ok / {c['failed']} failed ({c['failed_percent']} %), "
              f"PBX CPU {c['cpu_percent']} % ({c['cpu_ms_per_call']} ms per call), "
              f"RSS {c['rss_mb']} MB; machine steal "
              f"{c['machine_steal_pct']} %, busy {c['machine_busy_pct']} %, "
              f"reference before/after {c.get('cpu_ref_ms')} ms")
    if "media" in r:
        m = r["media"]
        print(f"relayed G.711 calls: {m['steady_calls']} concurrent ({m['successful']} ok, "
              f"{m['failed']} failed), {m['packets_received']} RTP packets in, "
              f"relay ratio {m['relay_ratio']}, loss {m['loss_percent']} %, "
              f"PBX CPU {m['cpu_percent_steady']} % steady, RSS {m['rss_mb']} MB")
    print(json.dumps(r))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reg-rate", type=float, default=400)
    p.add_argument("--reg-count", type=int, default=4000)
    p.add_argument("--cps", type=lambda v: [float(x) for x in v.split(",") if x],
                   default=[100.0, 200.0, 300.0], help="comma-separated rates, e.g. 100,200")
    p.add_argument("--cps-seconds", type=float, default=20)
    p.add_argument("--concurrent", type=int, default=200)
    p.add_argument("--call-seconds", type=float, default=30)
    p.add_argument("--ramp-cps", type=float, default=40)
    p.add_argument("--rtp-ports", type=lambda v: tuple(int(x) for x in v.split("-", 1)),
                   default=(20000, 29999),
                   help="the PBX's RTP port range, e.g. 30000-39999 for a second bench run "
                        "side by side")
    p.add_argument("--pbx-tree", type=Path, default=ROOT,
                   help="run the PBX from this source tree (holding pbx/ and webfon/), e.g. "
                        "an unpacked older commit to compare against")
    p.add_argument("--pin", action="store_true",
                   help="run the PBX (all its threads) on CPU 0 only, and sipp and this script "
                        "on the other CPUs: the figures are then for one core")
    args = p.parse_args(argv)
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            p.error("--pin needs at least two CPUs")
        global PBX_CPUS, LOADGEN_CPUS
        PBX_CPUS, LOADGEN_CPUS = {cpus[0]}, set(cpus[1:])
        os.sched_setaffinity(0, LOADGEN_CPUS)
    if not Path(SIPP).exists():
        print("sipp not found (Debian package sip-tester)", file=sys.stderr)
        return 2
    results = asyncio.run(Bench(args).run())
    print_report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
