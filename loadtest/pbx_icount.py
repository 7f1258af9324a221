"""Instructions the PBX executes per registration, per call setup and per relayed RTP packet.

Wall-clock and CPU-time figures move with the machine (steal, other load, frequency); the
number of instructions a fixed workload takes does not, so this is the measure to compare two
versions of the code on a shared machine. The PBX runs under Valgrind's callgrind
(user-space instructions of the whole process, every thread; the kernel's share — sendto,
recvfrom, epoll — is not counted), instrumentation switched on only around each phase with
``callgrind_control``; sipp drives it slowly enough that nothing is retransmitted:

1. ``idle`` — nothing sent for ``--idle-seconds``: the instructions per second of the PBX's
   own timers, subtracted from the phases below (``net``);
2. ``registrations`` — ``--registrations`` REGISTERs with digest (401, then 200);
3. ``setups`` — ``--calls`` calls of ``loadtest/sipp/uac_call.xml`` (407, INVITE, 180/200,
   ACK, ``--hold`` s, BYE) to a registered ``uas_call.xml``;
4. ``relay`` — ``--relay-calls`` calls streaming G.711 both ways for ``--relay-seconds``:
   instructions per RTP packet received (and relayed) by the PBX.

A warm-up (a few registrations and calls) runs before the first phase. Phases can be chosen
with ``--phases``. With ``--cprofile FILE`` the PBX (``--pbx-tree``'s too) runs without
valgrind, profiled by cProfile during each phase (``loadtest/pbx_profiled.py``), for where the
instructions go: the phases' statistics are written to FILE.1, FILE.2, ….

Usage::

    .venv/bin/python loadtest/pbx_icount.py [--calls 200] [--cps 4] [--registrations 200]
        [--relay-calls 2] [--relay-seconds 20] [--pbx-tree PATH] [--json FILE]

Needs ``valgrind`` (Debian package) and ``sipp``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtest import pbx_bench  # noqa: E402
from loadtest.pbx_bench import Sipp, free_port  # noqa: E402

SCENARIOS = Path(__file__).resolve().parent / "sipp"
REGISTER = ROOT / "tests" / "sipp" / "pbx" / "register_auth.xml"
VALGRIND = shutil.which("valgrind") or "/usr/bin/valgrind"
CONTROL = shutil.which("callgrind_control") or "/usr/bin/callgrind_control"
PHASES = ("idle", "registrations", "setups", "relay")


class Counted:
    """The PBX under callgrind (or cProfile), with its instruction counter per phase."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.bench = pbx_bench.Bench(argparse.Namespace(rtp_ports=args.rtp_ports,
                                                        pbx_tree=args.pbx_tree))
        self.out = self.bench.tmp / "callgrind"
        self.out.mkdir()
        self.dumps = 0
        if args.cprofile:
            self.bench.python_args = [str(Path(__file__).with_name("pbx_profiled.py")),
                                      str(args.cprofile.resolve())]
            self.profile_cmd = True
        else:
            self.bench.wrapper = [VALGRIND, "--tool=callgrind", "--instr-atstart=no",
                                  "--dump-instr=no", "--dump-line=no",
                                  f"--callgrind-out-file={self.out}/callgrind.out"]
            self.profile_cmd = False
        self.bench.start_timeout = args.start_timeout

    async def start(self) -> None:
        await self.bench.start_pbx()

    def control(self, *words: str) -> None:
        if self.profile_cmd:  # pbx_profiled.py: SIGUSR1 starts, SIGUSR2 stops and writes
            if words[0] in ("--zero", "--dump"):
                return
            sig = signal.SIGUSR1 if words[0] == "--instr=on" else signal.SIGUSR2
            os.kill(self.bench.pid, sig)
            return
        subprocess.run([CONTROL, *words, str(self.bench.pid)], check=True,
                       capture_output=True, timeout=120)

    def begin(self) -> float:
        self.control("--instr=on")
        self.control("--zero")
        return time.monotonic()

    def end(self, name: str) -> int:
        """Dump the counters of the phase just run; its instruction count (0 with cProfile,
        whose statistics go to FILE.1, FILE.2, … phase after phase)."""
        self.control("--dump=" + name)
        self.control("--instr=off")
        if self.profile_cmd:
            return 0
        self.dumps += 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for path in sorted(self.out.glob("callgrind.out*")):
                text = path.read_text(errors="replace")
                if re.search(rf"^desc: Trigger: dump {re.escape(name)}$", text, re.M) \
                        and re.search(r"^totals:", text, re.M):  # written completely
                    return _total(text)
            time.sleep(0.5)
        raise RuntimeError(f"no callgrind dump for {name} in {self.out}")

    async def registrations(self, count: int, rate: float, name: str) -> dict[str, Any]:
        reg = Sipp(self.bench.tmp, name, str(REGISTER), self.bench.remote, "-s", "2001",
                   "-au", "2001", "-ap", "sip-2001", "-m", str(count), "-r", str(rate),
                   "-l", "100", "-set", "contact_port", "5999", "-set", "expires", "3600")
        reg.start()
        await reg.wait(count / rate * 4 + 120)
        return {"completed": reg.count("SuccessfulCall(C)"),
                "failed": reg.count("FailedCall(C)"),
                "retransmissions": reg.count("Retransmissions(C)")}

    async def calls(self, count: int, rate: float, name: str) -> dict[str, Any]:
        a = self.args
        uac = Sipp(self.bench.tmp, name, str(SCENARIOS / "uac_call.xml"), self.bench.remote,
                   "-s", "2002", "-au", "2001", "-ap", "sip-2001",
                   "-auth_uri", f"2002@{self.bench.remote}", "-set", "caller", "2001",
                   "-m", str(count), "-r", f"{rate:g}", "-d", str(int(a.hold * 1000)),
                   "-l", str(int(rate * (a.hold + 20) + 20)), "-mp", str(free_port()),
                   "-trace_counts", "-recv_timeout", "30000")
        uac.start()
        await uac.wait(count / rate * 4 + a.hold + 180)
        return {"completed": uac.count("SuccessfulCall(C)"),
                "failed": uac.count("FailedCall(C)"),
                "retransmissions": uac.count("Retransmissions(C)")}

    async def relay(self, name: str) -> dict[str, Any]:
        a = self.args
        uas = Sipp(self.bench.tmp, name + "-uas", str(SCENARIOS / "uas_call_tone.xml"), None,
                   "-mp", str(free_port()), "-rtp_payload", "8")
        pbx_bench.tone(uas.dir, 1000.0)
        uas.start()
        await asyncio.sleep(0.5)
        await self.bench.register_contact("2002", uas.port)
        uac = Sipp(self.bench.tmp, name, str(SCENARIOS / "uac_call_tone.xml"),
                   self.bench.remote, "-s", "2002", "-au", "2001", "-ap", "sip-2001",
                   "-auth_uri", f"2002@{self.bench.remote}", "-set", "caller", "2001",
                   "-rtp_payload", "8", "-m", str(a.relay_calls), "-l", str(a.relay_calls),
                   "-r", "1", "-d", str(int((a.relay_seconds + 30) * 1000)),
                   "-mp", str(free_port()), "-recv_timeout", "30000")
        pbx_bench.tone(uac.dir, 440.0)
        uac.start()
        # wait until every call is up and media flows, then count a steady window only
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (await self.bench.control("/control/stats"))["calls_active"] >= a.relay_calls:
                break
            await asyncio.sleep(1.0)
        await asyncio.sleep(5.0)
        before = (await self.bench.control("/control/stats"))["media"]
        started = self.begin()
        await asyncio.sleep(a.relay_seconds)
        instructions = self.end(name)
        elapsed = time.monotonic() - started
        after = (await self.bench.control("/control/stats"))["media"]
        uac.stop()
        uas.stop()
        received = after["received"] - before["received"]
        sent = after["sent"] - before["sent"]
        return {"instructions": instructions, "seconds": round(elapsed, 1),
                "packets_received": received, "packets_sent": sent,
                "loss": after["lost"] - before["lost"]}

    async def run(self) -> dict[str, Any]:
        a = self.args
        await self.start()
        results: dict[str, Any] = {}
        uas: Sipp | None = None
        try:
            uas = Sipp(self.bench.tmp, "uas", str(SCENARIOS / "uas_call.xml"), None,
                       "-mp", str(free_port())).start()
            await asyncio.sleep(0.5)
            await self.bench.register_contact("2002", uas.port)
            # warm-up: caches filled, lazy imports done
            await self.registrations(10, 2, "warm-registrations")
            await self.calls(10, 2, "warm-calls")
            await asyncio.sleep(a.hold + 2)
            idle_rate = 0.0
            if "idle" in a.phases:
                started = self.begin()
                await asyncio.sleep(a.idle_seconds)
                count = self.end("idle")
                elapsed = time.monotonic() - started
                idle_rate = count / elapsed
                results["idle"] = {"instructions": count, "seconds": round(elapsed, 1),
                                   "per_second": round(idle_rate)}
            if "registrations" in a.phases:
                started = self.begin()
                info = await self.registrations(a.registrations, a.reg_rate, "registrations")
                count = self.end("registrations")
                results["registrations"] = _per(info, count, time.monotonic() - started,
                                                idle_rate, info["completed"])
            if "setups" in a.phases:
                await self.bench.drain()
                started = self.begin()
                info = await self.calls(a.calls, a.cps, "setups")
                await self.bench.drain()
                count = self.end("setups")
                results["setups"] = _per(info, count, time.monotonic() - started, idle_rate,
                                         info["completed"])
            if "relay" in a.phases:
                info = await self.relay("relay")
                results["relay"] = _per(info, info.pop("instructions"), info["seconds"],
                                        idle_rate, info["packets_received"])
            results["pbx_stats"] = await self.bench.control("/control/stats")
        finally:
            for sipp in pbx_bench.RUNNING:
                sipp.stop()
            self.bench.stop_pbx()
        results["workdir"] = str(self.bench.tmp)
        return results


def _total(text: str) -> int:
    for key in ("totals:", "summary:"):
        m = re.search(rf"^{key}\s+(\d+)", text, re.M)
        if m:
            return int(m.group(1))
    raise RuntimeError("callgrind dump without totals")


def _per(info: dict[str, Any], count: int, seconds: float, idle_rate: float,
         units: int) -> dict[str, Any]:
    net = max(0, count - int(idle_rate * seconds))
    return {**info, "instructions": count, "seconds": round(seconds, 1), "net": net,
            "per_unit": round(count / max(1, units)), "net_per_unit": round(net / max(1, units))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--phases", type=lambda v: [x for x in v.split(",") if x],
                   default=list(PHASES), help="comma-separated: " + ",".join(PHASES))
    p.add_argument("--idle-seconds", type=float, default=20)
    p.add_argument("--registrations", type=int, default=200)
    p.add_argument("--reg-rate", type=float, default=5)
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--cps", type=float, default=4)
    p.add_argument("--hold", type=float, default=1.0)
    p.add_argument("--relay-calls", type=int, default=2)
    p.add_argument("--relay-seconds", type=float, default=20)
    p.add_argument("--rtp-ports", type=lambda v: tuple(int(x) for x in v.split("-", 1)),
                   default=(40000, 40999))
    p.add_argument("--pbx-tree", type=Path, default=ROOT)
    p.add_argument("--start-timeout", type=float, default=300)
    p.add_argument("--cprofile", type=Path, help="profile with cProfile into this file "
                   "instead of counting instructions")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if not args.cprofile and not Path(VALGRIND).exists():
        print("valgrind not found (Debian package valgrind)", file=sys.stderr)
        return 2
    results = asyncio.run(Counted(args).run())
    for phase in ("registrations", "setups", "relay"):
        r = results.get(phase)
        if r:
            unit = {"registrations": "registration", "setups": "call",
                    "relay": "RTP packet"}[phase]
            print(f"{phase}: {r['net_per_unit']:,} instructions per {unit} "
                  f"(raw {r['per_unit']:,}; {r['instructions']:,} in {r['seconds']} s)")
    if "idle" in results:
        print(f"idle: {results['idle']['per_second']:,} instructions/s")
    gc = results.get("pbx_stats", {}).get("gc")
    if gc:  # the PBX's whole run (collections are counted, not timed meaningfully here)
        results["gc_collections"] = gc["collections"]
        print(f"collections by generation over the run: {gc['collections']}")
    line = json.dumps({k: v for k, v in results.items() if k != "pbx_stats"})
    print(line)
    if args.json:
        args.json.write_text(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
