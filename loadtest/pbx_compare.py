"""The embedded PBX side by side with the field's C reference, Kamailio + rtpengine, in one run.

Both systems run at once on loopback, each pinned to the same single core (``--system-cpu``,
default the first CPU this process may use); sipp and this script run on the other CPUs. The
same sipp scenarios (``loadtest/sipp/``) drive each system in turn, phase by phase:

1. **registrations** — REGISTER, 401 digest challenge, REGISTER with credentials, 200;
2. **call setups** at each offered rate — INVITE, 407, ACK, INVITE with credentials,
   100/180/200, ACK, ``--hold`` seconds of call, BYE (ACK and BYE follow the 2xx's Contact
   and recorded route, as a phone does, so they cross the proxy and the B2BUA alike); media
   anchored (rtpengine offer/answer/delete; the PBX's RTP ports) but nobody sends RTP;
3. **relayed G.711 calls** — ``--concurrent`` calls streaming A-law both ways (50 packets/s
   each way) through rtpengine's userspace relay / the PBX's relay.

Kamailio 5.6 is a registrar and proxy with digest authentication (users in ``htable``),
``record_route`` and ``rtpengine_manage``; rtpengine 10.5 relays in userspace only
(``--table=-1``). Their configuration is generated into a temporary directory. Missing
Debian packages (``kamailio kamailio-extra-modules rtpengine-daemon``) are installed with
apt-get when ``--install`` is given.

For every phase and system: the CPU time of all its processes (Kamailio's workers and
rtpengine's threads are summed), CPU per call, the achieved rate, failed calls, calls turned
away with 503 (load shedding: not failures of admitted calls), memory. A setup rate counts as
sustained when under 1 % of admitted calls failed, ≥ 99 % were answered and none was late;
the highest sustained rate is the system's capacity on one core. The PBX's garbage
collector pauses and event-loop lag come from its control API.

Usage (on a quiet machine with at least two CPUs)::

    .venv/bin/python loadtest/pbx_compare.py --install --reg-count 4000 --reg-rate 400 \\
        --cps 200,400,600,800,1000 --cps-seconds 20 --hold 5 --concurrent 200 \\
        --call-seconds 30

Prints a comparison table and a JSON line with every figure (``--json FILE`` writes it too).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtest import pbx_bench  # noqa: E402
from loadtest.machine import cpu_times, reference_ms_on, usage  # noqa: E402
from loadtest.pbx_bench import HOST, Sipp, free_port  # noqa: E402

SCENARIOS = Path(__file__).resolve().parent / "sipp"
REGISTER = ROOT / "tests" / "sipp" / "pbx" / "register_auth.xml"
PACKAGES = ("kamailio", "kamailio-extra-modules", "rtpengine-daemon")
KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
RTPENGINE = shutil.which("rtpengine") or "/usr/bin/rtpengine"
KAMAILIO_MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
USERS = {"2001": "sip-2001", "2002": "sip-2002"}
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------------- processes
def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def session_pids(sid: int) -> list[int]:
    """Every process of session ``sid`` (a system started with ``start_new_session``)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and int(fields[3]) == sid:
                pids.append(int(entry))
    return pids


def cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """User and system CPU seconds of ``pids`` (threads included)."""
    user = system = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            user += int(fields[11])
            system += int(fields[12])
    return user / TICK, system / TICK


def rss_mb(pids: list[int]) -> float:
    """Resident memory summed over ``pids`` (shared pages of forked workers counted once per
    process: an upper bound for Kamailio)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return total * PAGE / 2**20


def _pinned(cpus: set[int]) -> Any:
    return lambda: os.sched_setaffinity(0, cpus)


def ensure_packages(install: bool) -> None:
    missing = [p for p in PACKAGES if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True
    ).stdout.strip() != "install ok installed"]
    if not missing:
        return
    if not install:
        raise SystemExit(f"missing Debian packages {' '.join(missing)}: run with --install "
                         "(apt-get install; a policy-rc.d exiting 101 keeps their services "
                         "from starting) or install them yourself")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", *missing], check=True, env=env)


# ---------------------------------------------------------------------- systems under test
class System(ABC):
    """One system under test: started pinned, driven at ``sip_port``."""

    name = ""
    cpus: set[int]

    @property
    @abstractmethod
    def sip_port(self) -> int: ...

    @property
    def remote(self) -> str:
        return f"{HOST}:{self.sip_port}"

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def pids(self) -> list[int]: ...

    def cpu_s(self) -> tuple[float, float]:
        """User and system CPU seconds so far."""
        return cpu_seconds(self.pids())

    def rss_mb(self) -> float:
        return rss_mb(self.pids())

    async def idle(self) -> None:
        """Wait until no call is left in the system (phases must not overlap)."""
        await asyncio.sleep(2.0)

    async def media_totals(self) -> dict[str, int]:
        """Packets relayed so far (``received``, ``sent``), when the system tells."""
        return {}

    async def extra(self) -> dict[str, Any]:
        """Figures only this system reports (GC pauses, loop lag, load shed)."""
        return {}

    async def fault(self) -> str | None:
        """What is wrong with the system after a phase in which most calls failed (a part
        that stopped answering), or None."""
        return None


class Pbx(System):
    """The embedded PBX (``python -m pbx``) as ``loadtest/pbx_bench.py`` runs it."""

    name = "webfon PBX"

    def __init__(self, args: argparse.Namespace, cpus: set[int]) -> None:
        self.cpus = cpus
        ns = argparse.Namespace(rtp_ports=args.pbx_rtp_ports, pbx_tree=args.pbx_tree)
        self.bench = pbx_bench.Bench(ns)
        self.bench.env = dict(args.pbx_env)

    @property
    def sip_port(self) -> int:
        return self.bench.sip_port

    async def start(self) -> None:
        pbx_bench.PBX_CPUS = self.cpus
        await self.bench.start_pbx()

    def stop(self) -> None:
        self.bench.stop_pbx()

    def pids(self) -> list[int]:
        return [self.bench.pid] if self.bench.pbx is not None else []

    async def idle(self) -> None:
        await self.bench.drain()

    async def media_totals(self) -> dict[str, int]:
        media = (await self.bench.control("/control/stats"))["media"]
        return {"received": media["received"], "sent": media["sent"], "lost": media["lost"],
                "expected": media["expected"]}

    async def extra(self) -> dict[str, Any]:
        stats = await self.bench.control("/control/stats")
        return {k: stats[k] for k in ("gc", "overload") if k in stats}


class KamailioRtpengine(System):
    """Kamailio (registrar, proxy, digest auth, record-route) driving rtpengine (userspace)."""

    name = "Kamailio + rtpengine"

    def __init__(self, args: argparse.Namespace, workdir: Path, cpus: set[int]) -> None:
        self.cpus = cpus
        self.dir = workdir / "kamailio"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.children = args.kamailio_children
        self.port = free_port()
        self.ng_port = free_port()
        self.cli_port = free_port(socket.SOCK_STREAM)
        self.rtp_ports = args.rtpengine_ports
        self.kamailio: subprocess.Popen[bytes] | None = None
        self.rtpengine: subprocess.Popen[bytes] | None = None

    @property
    def sip_port(self) -> int:
        return self.port

    def config(self) -> str:
        return kamailio_config(self.port, self.ng_port, self.children)

    async def start(self) -> None:
        (self.dir / "kamailio.cfg").write_text(self.config())
        (self.dir / "run").mkdir(exist_ok=True)
        self.rtpengine = self._spawn(
            [RTPENGINE, "--config-file=none", "--foreground", "--table=-1",
             f"--interface={HOST}", f"--listen-ng={HOST}:{self.ng_port}",
             f"--listen-cli={HOST}:{self.cli_port}", f"--port-min={self.rtp_ports[0]}",
             f"--port-max={self.rtp_ports[1]}", "--delete-delay=0", "--log-stderr",
             "--log-level=4",
             f"--pidfile={self.dir / 'rtpengine.pid'}"], "rtpengine.log")
        await asyncio.sleep(0.5)
        check = await asyncio.create_subprocess_exec(
            KAMAILIO, "-c", "-f", str(self.dir / "kamailio.cfg"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await check.communicate()
        if check.returncode != 0:
            raise RuntimeError("kamailio.cfg rejected: " + err.decode(errors="replace")[-2000:])
        self.kamailio = self._spawn(
            [KAMAILIO, "-f", str(self.dir / "kamailio.cfg"), "-DD", "-E", "-m", "512", "-M", "32",
             "-Y", str(self.dir / "run"), "-P", str(self.dir / "kamailio.pid")], "kamailio.log")
        for _ in range(50):
            await asyncio.sleep(0.2)
            if self.kamailio.poll() is not None or self.rtpengine.poll() is not None:
                break
            if await self._options_ok():
                return
        raise RuntimeError("Kamailio/rtpengine did not start: "
                           + (self.dir / "kamailio.log").read_text(errors="replace")[-2000:]
                           + (self.dir / "rtpengine.log").read_text(errors="replace")[-2000:])

    async def _options_ok(self) -> bool:
        """Kamailio answers (any response to an OPTIONS)."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((HOST, 0))
            s.settimeout(0.3)
            port = s.getsockname()[1]
            s.sendto((f"OPTIONS sip:{HOST}:{self.port} SIP/2.0\r\n"
                      f"Via: SIP/2.0/UDP {HOST}:{port};"
                      f"branch=z9hG4bK-probe{time.monotonic_ns()}\r\n"
                      f"From: <sip:probe@{HOST}>;tag=p\r\nTo: <sip:{HOST}>\r\n"
                      f"Call-ID: probe-{time.monotonic_ns()}\r\nCSeq: 1 OPTIONS\r\n"
                      "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode(),
                     (HOST, self.port))
            try:
                return s.recv(4096).startswith(b"SIP/2.0")
            except OSError:
                return False

    def _spawn(self, cmd: list[str], log: str) -> subprocess.Popen[bytes]:
        with open(self.dir / log, "wb") as out:
            return subprocess.Popen(cmd, cwd=self.dir, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=_pinned(self.cpus))

    def stop(self) -> None:
        for proc in (self.kamailio, self.rtpengine):
            if proc is None or proc.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def pids(self) -> list[int]:
        pids: list[int] = []
        for proc in (self.kamailio, self.rtpengine):
            if proc is not None and proc.poll() is None:
                pids.extend(session_pids(proc.pid))
        return pids

    async def fault(self) -> str | None:
        """rtpengine must answer a ``ping`` on its control protocol (ng) within a second:
        when it does not, Kamailio's workers wait on it and every call fails."""
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((HOST, 0))
            s.setblocking(False)
            cookie = f"probe{time.monotonic_ns()}"
            s.sendto(f"{cookie} d7:command4:pinge".encode(), (HOST, self.ng_port))
            try:
                answer = await asyncio.wait_for(loop.sock_recv(s, 4096), 1.0)
            except (TimeoutError, OSError):
                return "rtpengine stopped answering its control protocol"
        if not answer.startswith(cookie.encode()) or b"pong" not in answer:
            return "rtpengine answered its ping wrongly"
        return None

    async def media_totals(self) -> dict[str, int]:
        """rtpengine's totals over finished sessions (its CLI's ``list totals``)."""
        try:
            reader, writer = await asyncio.open_connection(HOST, self.cli_port)
            writer.write(b"list totals\n")
            await writer.drain()
            text = (await asyncio.wait_for(reader.read(1 << 20), 5)).decode(errors="replace")
            writer.close()
        except (OSError, TimeoutError):
            return {}
        out: dict[str, int] = {}
        for line in text.splitlines():
            name, sep, value = line.partition(":")
            name = name.strip()
            if sep and name in ("Total relayed packets", "Total relayed packet errors",
                                "Total managed sessions"):
                with contextlib.suppress(ValueError):
                    out[name] = int(float(value.strip()))
        return {"sent": out.get("Total relayed packets", 0),
                "errors": out.get("Total relayed packet errors", 0),
                "sessions": out.get("Total managed sessions", 0)}


def kamailio_config(port: int, ng_port: int, children: int) -> str:
    """Registrar + proxy: digest auth against an in-memory user table, record-route, media
    through rtpengine; nothing written to disk or a database."""
    users = "\n".join(f'    $sht(users=>{u}) = "{p}";' for u, p in USERS.items())
    modules = "\n".join(f'loadmodule "{m}.so"' for m in (
        "kex", "corex", "tm", "tmx", "sl", "rr", "pv", "maxfwd", "usrloc", "registrar",
        "textops", "siputils", "xlog", "sanity", "auth", "htable", "rtpengine"))
    return f"""#!KAMAILIO
debug=-1
log_stderror=yes
children={children}
disable_tcp=yes
enable_sctp=no
auto_aliases=no
listen=udp:{HOST}:{port}
alias="{HOST}:{port}"
mpath="{KAMAILIO_MODULES}/"
{modules}
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
modparam("htable", "htable", "users=>size=4;")
modparam("rtpengine", "rtpengine_sock", "udp:{HOST}:{ng_port}")

event_route[htable:mod-init] {{
{users}
}}

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (!sanity_check("17895", "7")) {{ exit; }}
    if (has_totag()) {{
        if (loose_route()) {{
            if (is_method("BYE")) {{ rtpengine_manage(); }}
            else if (is_method("ACK") && has_body("application/sdp")) {{ rtpengine_manage(); }}
            t_relay();
            exit;
        }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{ rtpengine_manage(); t_relay(); }}
        exit;
    }}
    if (!is_method("ACK")) {{
        if (t_precheck_trans()) {{ t_check_trans(); exit; }}
        t_check_trans();
    }}
    if (is_method("OPTIONS")) {{ sl_send_reply("200", "OK"); exit; }}
    if (is_method("REGISTER")) {{
        if (!pv_auth_check("$td", "$sht(users=>$au)", "0", "1")) {{
            www_challenge("$td", "0");
            exit;
        }}
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if (is_method("INVITE")) {{
        if (!pv_auth_check("$fd", "$sht(users=>$au)", "0", "1")) {{
            proxy_challenge("$fd", "0");
            exit;
        }}
        consume_credentials();
        if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
        record_route();
        rtpengine_manage("replace-origin replace-session-connection");
        t_on_reply("MANAGE_REPLY");
        t_on_failure("MANAGE_FAILURE");
        if (!t_relay()) {{ sl_reply_error(); }}
        exit;
    }}
    if (is_method("ACK")) {{ exit; }}
    sl_send_reply("405", "Method Not Allowed");
}}

onreply_route[MANAGE_REPLY] {{
    if (has_body("application/sdp")) {{
        rtpengine_manage("replace-origin replace-session-connection");
    }}
}}

failure_route[MANAGE_FAILURE] {{
    rtpengine_delete();
}}
"""


# ---------------------------------------------------------------------- phases
@dataclass
class Window:
    """CPU of a system and of the machine over a measurement."""

    system: System

    def __post_init__(self) -> None:
        self.cpu0 = self.system.cpu_s()
        self.at0 = time.monotonic()
        self.machine = cpu_times()

    def close(self) -> dict[str, Any]:
        user, system = (b - a for a, b in zip(self.cpu0, self.system.cpu_s(), strict=True))
        cpu = user + system
        wall = max(1e-6, time.monotonic() - self.at0)
        return {"cpu_s": round(cpu, 3), "wall_s": round(wall, 2),
                "cpu_percent": round(100.0 * cpu / wall, 1),
                "kernel_percent_of_cpu": round(100.0 * system / cpu, 1) if cpu else 0.0,
                "rss_mb": round(self.system.rss_mb(), 1), **usage(self.machine, cpu_times())}


def shed_count(sipp: Sipp) -> int:
    """503s received by a uac_call scenario (from sipp's ``-trace_counts`` file)."""
    files = sorted(sipp.dir.glob("*_counts.csv"))
    if not files:
        return 0
    rows = [r.split(";") for r in files[-1].read_text(errors="replace").splitlines() if r]
    if len(rows) < 2:
        return 0
    last = dict(zip(rows[0], rows[-1], strict=False))
    return sum(int(v or 0) for k, v in last.items() if k.endswith("_503_Recv"))


class Compare:
    def __init__(self, args: argparse.Namespace, systems: list[System], workdir: Path) -> None:
        self.args = args
        self.systems = systems
        self.tmp = workdir
        self.results: dict[str, dict[str, Any]] = {s.name: {} for s in systems}
        self.uas: dict[str, Sipp] = {}

    async def register(self, system: System, ext: str, port: int) -> None:
        reg = Sipp(self.tmp, f"reg-{ext}-{port}", str(REGISTER), system.remote, "-s", ext,
                   "-au", ext, "-ap", USERS[ext], "-m", "1", "-set", "contact_port", str(port),
                   "-set", "expires", "3600").start()
        if await reg.wait(15) != 0:
            raise RuntimeError(f"{system.name}: registration of {ext} failed: "
                               + (reg.dir / "errors.log").read_text(errors="replace")[-2000:])

    async def registrations(self, system: System) -> dict[str, Any]:
        a = self.args
        window = Window(system)
        reg = Sipp(self.tmp, f"registrations-{id(system)}", str(REGISTER), system.remote,
                   "-s", "2001", "-au", "2001", "-ap", USERS["2001"], "-m", str(a.reg_count),
                   "-r", str(a.reg_rate), "-l", "1000", "-set", "contact_port", "5999",
                   "-set", "expires", "3600").start()
        await reg.wait(a.reg_count / a.reg_rate * 3 + 30)
        w = window.close()
        ok, failed = reg.count("SuccessfulCall(C)"), reg.count("FailedCall(C)")
        return {"offered_rate": a.reg_rate, "completed": ok, "failed": failed,
                "per_second": round(ok / w["wall_s"], 1),
                "cpu_ms_each": round(1000.0 * w["cpu_s"] / max(1, ok), 3), **w}

    async def setups(self, system: System, rate: float) -> dict[str, Any]:
        a = self.args
        await system.idle()
        total = int(rate * a.cps_seconds)
        ref = reference_ms_on(system.cpus)
        uac = Sipp(self.tmp, f"setups-{rate:g}-{id(system)}", str(SCENARIOS / "uac_call.xml"),
                   system.remote, "-s", "2002", "-au", "2001", "-ap", USERS["2001"],
                   "-auth_uri", f"2002@{system.remote}", "-set", "caller", "2001",
                   "-m", str(total), "-r", f"{rate:g}", "-d", str(int(a.hold * 1000)),
                   "-l", str(int(rate * (a.hold + 10) + 100)), "-mp", str(free_port()),
                   "-trace_counts", "-timeout", f"{int(a.cps_seconds * 3 + a.hold + 60)}s",
                   "-recv_timeout", "10000")
        window = Window(system)
        uac.start()
        await uac.wait(a.cps_seconds * 3 + a.hold + 70)
        w = window.close()
        ok, failed = uac.count("SuccessfulCall(C)"), uac.count("FailedCall(C)")
        shed = shed_count(uac)
        answered = ok - shed
        offered_window = max(a.cps_seconds, w["wall_s"] - a.hold)
        admitted = answered + failed
        # sustained: (almost) every call answered, none failed, and not late: the phase
        # lasted what sipp needs to offer them all plus the hold time, within a margin
        sustained = (failed < 0.01 * max(1, admitted) and answered >= 0.99 * total
                     and w["wall_s"] <= a.cps_seconds + a.hold + max(2.0, 0.1 * a.cps_seconds))
        fault = await system.fault() if failed > total // 2 else None
        if fault:
            print(f"{system.name}: {fault} ({failed} of {total} calls failed at {rate:g}/s): "
                  "this run is no comparison, run it again", file=sys.stderr)
        return {"sustained": sustained, "fault": fault, "offered_cps": rate, "calls": total,
                "answered": answered, "shed_503": shed, "failed": failed,
                "failed_percent_of_admitted": round(100.0 * failed / max(1, admitted), 3),
                "achieved_cps": round(answered / offered_window, 1),
                "cpu_ms_per_call": round(1000.0 * w["cpu_s"] / max(1, answered), 3),
                "cpu_ref_ms": [ref, reference_ms_on(system.cpus)], **w}

    async def media(self, system: System) -> dict[str, Any]:
        a = self.args
        await system.idle()
        before = await system.media_totals()
        uas = Sipp(self.tmp, f"media-uas-{id(system)}", str(SCENARIOS / "uas_call_tone.xml"),
                   None, "-mp", str(free_port()), "-rtp_payload", "8")
        pbx_bench.tone(uas.dir, 1000.0)
        uas.start()
        await asyncio.sleep(0.5)
        await self.register(system, "2002", uas.port)
        uac = Sipp(self.tmp, f"media-uac-{id(system)}", str(SCENARIOS / "uac_call_tone.xml"),
                   system.remote, "-s", "2002", "-au", "2001", "-ap", USERS["2001"],
                   "-auth_uri", f"2002@{system.remote}", "-set", "caller", "2001",
                   "-rtp_payload", "8", "-m", str(a.concurrent), "-l", str(a.concurrent),
                   "-r", str(a.ramp_cps), "-d", str(int(a.call_seconds * 1000)),
                   "-mp", str(free_port()), "-trace_counts",
                   "-timeout", f"{int(a.call_seconds * 3 + 60)}s")
        pbx_bench.tone(uac.dir, 440.0)
        uac.start()
        ramp = a.concurrent / a.ramp_cps
        await asyncio.sleep(ramp + 2)
        window = Window(system)
        steady = max(5.0, a.call_seconds - ramp - 6)
        await asyncio.sleep(steady)
        w = window.close()
        await uac.wait(a.call_seconds * 3 + 60)
        uas.stop()
        await asyncio.sleep(2.0)
        after = await system.media_totals()
        ok, failed = uac.count("SuccessfulCall(C)"), uac.count("FailedCall(C)")
        out: dict[str, Any] = {
            "calls": a.concurrent, "successful": ok, "failed": failed,
            "cpu_percent_per_call": round(w["cpu_percent"] / max(1, a.concurrent), 4), **w}
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        if delta.get("received"):
            out["relay_ratio"] = round(delta["sent"] / delta["received"], 4)
        if delta.get("expected"):
            out["loss_percent"] = round(100.0 * delta["lost"] / delta["expected"], 3)
        out["packets_relayed"] = delta.get("sent", 0)
        if "errors" in delta:
            out["relay_errors"] = delta["errors"]
        return out

    async def run(self) -> dict[str, Any]:
        a = self.args
        for system in self.systems:
            await system.start()
        try:
            for system in self.systems:
                self.results[system.name]["idle_rss_mb"] = round(system.rss_mb(), 1)
            if a.reg_count:
                for system in self.systems:
                    self.results[system.name]["registrations"] = \
                        await self.registrations(system)
            if a.cps:
                for system in self.systems:
                    uas = Sipp(self.tmp, f"uas-{id(system)}", str(SCENARIOS / "uas_call.xml"),
                               None, "-mp", str(free_port())).start()
                    self.uas[system.name] = uas
                    await asyncio.sleep(0.5)
                    await self.register(system, "2002", uas.port)
                for rate in a.cps:
                    for system in self.systems:
                        row = await self.setups(system, rate)
                        self.results[system.name].setdefault("setups", []).append(row)
                for uas in self.uas.values():
                    uas.stop()
            if a.concurrent:
                for system in self.systems:
                    self.results[system.name]["media"] = await self.media(system)
            for system in self.systems:
                extra = await system.extra()
                if extra:
                    self.results[system.name].update(extra)
        finally:
            for sipp in pbx_bench.RUNNING:
                sipp.stop()
            for system in self.systems:
                system.stop()
        for r in self.results.values():
            sustained = [s["offered_cps"] for s in r.get("setups", []) if s["sustained"]]
            r["capacity_cps"] = max(sustained) if sustained else 0
        return self.results


# ---------------------------------------------------------------------- report
def print_table(results: dict[str, dict[str, Any]], machine: dict[str, Any]) -> None:
    names = list(results)
    rows: list[list[str]] = []

    def cell(r: dict[str, Any] | None, text: str) -> str:
        return text if r is not None else "—"

    first = results[names[0]]
    if "registrations" in first:
        row = ["registrations/s (CPU each)"]
        for n in names:
            g = results[n].get("registrations")
            row.append(cell(g, f"{g['per_second']} ({g['cpu_ms_each']} ms), {g['failed']} failed"
                            if g else ""))
        rows.append(row)
    for i, s in enumerate(first.get("setups", [])):
        row = [f"setups at {s['offered_cps']:g}/s"]
        for n in names:
            r = results[n]["setups"][i]
            row.append(f"{r['achieved_cps']}/s, {r['cpu_ms_per_call']} ms CPU/call, "
                       f"{r['cpu_percent']} % core, {r['failed_percent_of_admitted']} % failed"
                       + (f", {r['shed_503']} shed" if r["shed_503"] else "")
                       + (f" — {r['fault']}" if r.get("fault") else ""))
        rows.append(row)
    if first.get("setups"):
        rows.append(["setups/s sustained on one core"]
                    + [str(results[n]["capacity_cps"]) for n in names])
    if "media" in first:
        row = [f"relay {first['media']['calls']} G.711 calls"]
        for n in names:
            m = results[n]["media"]
            extra = ""
            if "relay_ratio" in m:
                extra += f", ratio {m['relay_ratio']}"
            if "loss_percent" in m:
                extra += f", loss {m['loss_percent']} %"
            row.append(f"{m['cpu_percent_per_call']} % core/call ({m['cpu_percent']} %), "
                       f"{m['failed']} failed{extra}")
        rows.append(row)
    gc_row, overload_row = ["longest GC pause, its CPU (collections per generation)"], \
        ["overload: max loop lag, 503s sent"]
    for n in names:
        gc, overload = results[n].get("gc"), results[n].get("overload")
        gc_row.append(_gc_cell(gc) if gc else "—")
        overload_row.append(f"{overload['max_lag_ms']} ms, {overload['shed']}"
                            if overload else "—")
    if len(gc_row) > 1 and any(c != "—" for c in gc_row[1:]):
        rows += [gc_row, overload_row]
    widths = [max(len(r[i]) for r in [*rows, ["", *names]]) for i in range(len(names) + 1)]
    print(f"machine: {machine['cpu']}, {machine['cores']} CPUs; systems on CPUs "
          f"{machine['system_cpus']}, sipp on {machine['loadgen_cpus']}")
    header = ["", *names]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)))


def _rates(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def _ports(text: str) -> tuple[int, int]:
    low, high = text.split("-", 1)
    return int(low), int(high)


def _gc_cell(gc: dict[str, Any]) -> str:
    """The longest pause, with the CPU time the collector spent in it when the PBX reports it
    (much less than the pause: the process was waiting, not collecting)."""
    counts = "/".join(map(str, gc["collections"]))
    pauses = gc.get("max_pause_ms") or []
    cpu = gc.get("cpu_of_max_pause_ms")
    if not cpu or not pauses:
        return f"{gc['max_ms']} ms ({counts})"
    longest = max(range(len(pauses)), key=pauses.__getitem__)
    return f"{gc['max_ms']} ms, {cpu[longest]} ms CPU ({counts})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--systems", default="kamailio,pbx",
                   help="which systems, in the order each phase runs them: kamailio, pbx")
    p.add_argument("--reg-rate", type=float, default=400)
    p.add_argument("--reg-count", type=int, default=4000)
    p.add_argument("--cps", type=_rates, default=[200.0, 400.0, 600.0, 800.0],
                   help="offered call-setup rates, comma-separated")
    p.add_argument("--cps-seconds", type=float, default=20)
    p.add_argument("--hold", type=float, default=5.0, help="seconds each call lasts")
    p.add_argument("--concurrent", type=int, default=200, help="relayed G.711 calls")
    p.add_argument("--call-seconds", type=float, default=30)
    p.add_argument("--ramp-cps", type=float, default=40)
    p.add_argument("--system-cpu", type=int, default=None,
                   help="the one CPU both systems run on (default: the first one allowed)")
    p.add_argument("--kamailio-children", type=int, default=4,
                   help="Kamailio's UDP worker processes")
    p.add_argument("--rtpengine-ports", type=_ports, default=(30000, 39999))
    p.add_argument("--pbx-rtp-ports", type=_ports, default=(20000, 29999))
    p.add_argument("--pbx-tree", type=Path, default=ROOT,
                   help="run the PBX from this source tree (e.g. an older commit's)")
    p.add_argument("--pbx-env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment for the PBX (e.g. WEBFON_PBX_OVERLOAD_LAG_MS=0)")
    p.add_argument("--install", action="store_true",
                   help="apt-get install Kamailio and rtpengine when missing")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    args = p.parse_args(argv)
    args.pbx_env = [tuple(kv.split("=", 1)) for kv in args.pbx_env]
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    if not set(wanted) <= {"kamailio", "pbx"}:
        p.error("--systems takes kamailio and/or pbx")
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        p.error("needs at least two CPUs: one for the systems, the rest for sipp")
    system_cpu = args.system_cpu if args.system_cpu is not None else allowed[0]
    if system_cpu not in allowed:
        p.error(f"CPU {system_cpu} is not available")
    cpus = {system_cpu}
    loadgen = set(allowed) - cpus
    pbx_bench.LOADGEN_CPUS = loadgen
    os.sched_setaffinity(0, loadgen)
    if not Path(pbx_bench.SIPP).exists():
        print("sipp not found (Debian package sip-tester)", file=sys.stderr)
        return 2
    if "kamailio" in wanted:
        ensure_packages(args.install)
    workdir = Path(__import__("tempfile").mkdtemp(prefix="webfon-pbx-compare-"))
    systems: list[System] = []
    for name in wanted:
        systems.append(KamailioRtpengine(args, workdir, cpus) if name == "kamailio"
                       else Pbx(args, cpus))
    results = asyncio.run(Compare(args, systems, workdir).run())
    machine = {"cpu": pbx_bench._cpu_model(), "cores": os.cpu_count(),
               "system_cpus": sorted(cpus), "loadgen_cpus": sorted(loadgen),
               "workdir": str(workdir)}
    print_table(results, machine)
    line = json.dumps({"machine": machine, "args": {k: (str(v) if isinstance(v, Path) else v)
                                                    for k, v in vars(args).items()},
                       "results": results})
    print(line)
    if args.json:
        args.json.write_text(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
