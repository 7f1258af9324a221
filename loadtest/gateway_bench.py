"""Benchmark: N concurrent browser-to-SIP calls through the gateway (and through Janus).

Each call is a light WebRTC client (aiortc for ICE/DTLS/SRTP, but RTP injected and read
below aiortc's codecs, so the load generator costs about what the gateway does) that logs in
to the SIP plugin as a guest and calls a sipp echo UAS. Every 20 ms each client sends a PCMU
packet whose payload carries its send time; the echo comes back through the gateway twice
(browser -> SIP and SIP -> browser). Reported per run: call setup p50/p95, packet loss, jitter,
round trip (p50/p99; half of it bounds the delay one traversal adds), the gateway's CPU (% of
one core, total and per call) and resident memory. With ``--capture`` (root and ``tcpdump``),
the server's own added delay per packet and direction, from kernel timestamps of the packet
going in and coming out (see ``loadtest/relay_delay.py``).

    .venv/bin/python loadtest/gateway_bench.py --calls 25,50,100 --seconds 20 --target both

``--target janus`` runs Debian's Janus 1.1.2 (``/usr/bin/janus``) with a generated config
(WebSocket transport, SIP plugin on 127.0.0.1, ICE on ``lo``) under the same load.

``--target shape`` compares the production shape with one node: the same load on one gateway
reached directly, then on two gateway nodes behind nginx with TLS (the rendered production
site; nginx carries the signalling, the media goes to the nodes), the machine's cores shared
between the two nodes' media workers. CPU and memory are the gateways' (and nginx's) together:

    .venv/bin/python loadtest/gateway_bench.py --target shape --calls 50,100,150,200 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.media.ice import configure_ice
from loadtest.caller import Caller, CallTarget, Window
from loadtest.engine import Engine
from loadtest.machine import cpu_times, usage
from loadtest.relay_delay import Capture, read_pcap, relay_delays
from loadtest.servers import (
    HOST,
    Janus,
    Server,
    SippEcho,
    WebfonGateway,
    WebfonShape,
    gateway_from,
    pct,
    proc_cpu_seconds,
    proc_rss_mb,
)

SERVER_CPU = 1


def _ms(seconds: float, digits: int) -> float:
    return round(seconds * 1000, digits)


async def run_one(server_cls: type[Server], n: int, seconds: float,
                  capture: bool = False, pin: bool = False,
                  server_nice: int = 0, profile: Path | None = None,
                  media_workers: int = -1) -> dict[str, Any]:
    """A fresh server, ``n`` calls set up 8 at a time, one measured window."""
    with tempfile.TemporaryDirectory(prefix="webfon-bench-") as tmp:
        work = Path(tmp)
        server = server_cls(work)
        if pin:
            server.cpu = SERVER_CPU
        server.nice = server_nice
        server.media_workers = media_workers
        await server.prepare()
        configure_ice(sorted({HOST, server.peer_host}), None)
        sipp = SippEcho(work, server.peer_host)
        await sipp.start()
        await server.start()
        assert server.proc is not None
        engine = Engine()
        await engine.start()
        engine.configure(CallTarget(server.ws_url, f"sip:echo@{server.peer_host}:{sipp.port}",
                                    server.plugin, server.token), None)
        dump: Capture | None = None
        result: dict[str, Any] = {"target": server.name, "calls": n}
        if isinstance(server, WebfonShape):
            result["media_workers"] = "half the CPUs per node"
        elif isinstance(server, WebfonGateway):
            count = media_workers if media_workers >= 0 else (
                1 if server.cpu is not None else len(os.sched_getaffinity(0)))
            result["media_workers"] = count
            result["target"] = (f"{server.name} + {count} media workers" if count
                                else f"{server.name} (relay in its loop)")
        try:
            def server_cpu() -> float:
                return sum(proc_cpu_seconds(pid) for pid in server.root_pids())

            idle_cpu0 = server_cpu()
            await asyncio.sleep(2)
            idle_pct = (server_cpu() - idle_cpu0) / 2 * 100
            sem = asyncio.Semaphore(8)

            async def setup() -> Caller:
                async with sem:
                    return await engine.add_caller()

            outcomes = await asyncio.gather(*(setup() for _ in range(n)),
                                            return_exceptions=True)
            failures = [o for o in outcomes if isinstance(o, BaseException)]
            live = [o for o in outcomes if isinstance(o, Caller)]
            if failures:
                result["setup_failures"] = len(failures)
                result["first_failure"] = repr(failures[0])[:300]
            await asyncio.sleep(2.0)  # warm up
            if capture:
                dump = Capture(work / "media.pcap", server.capture_interface)
                await dump.start()
            engine.open_window(1)
            window: Window | None = engine.window
            spy = await start_profile(server, n, seconds, profile)
            cpu0 = server_cpu()
            machine0 = cpu_times()
            t0 = time.perf_counter()
            await asyncio.sleep(seconds)
            cpu1 = server_cpu()
            result.update(usage(machine0, cpu_times()))
            t1 = time.perf_counter()
            rss = sum(proc_rss_mb(pid) for pid in server.root_pids())
            if spy is not None:
                await spy.wait()
            stats = await engine.close_window()  # includes the echoes' tail
            assert window is not None
            if dump is not None:
                await dump.stop()
                result.update(added_delay(dump.path, live, (server.peer_host,
                                                              sipp.media_port)))
                result["capture_dropped"] = dump.dropped()
            sent, received = stats["sent"], stats["received"]
            setups = [c.setup_s for c in live if c.setup_s is not None]
            cpu_pct = (cpu1 - cpu0) / (t1 - t0) * 100
            result.update({
                "established": len(live),
                "media_connected": sum(1 for c in live if c.connected),
                "setup_ms_p50": _ms(pct(setups, 50), 1),
                "setup_ms_p95": _ms(pct(setups, 95), 1),
                "loss_pct": round(100 * max(0, sent - received) / sent, 3) if sent else None,
                "rtt_ms_p50": _ms(window.rtt.percentile(50), 2),
                "rtt_ms_p99": _ms(window.rtt.percentile(99), 2),
                "jitter_ms_mean": round(stats["jitter_sum"] / len(live) * 1000, 3)
                if live else None,
                "cpu_pct": round(cpu_pct, 1),
                "cpu_pct_per_call": round((cpu_pct - idle_pct) / max(1, len(live)), 3),
                "idle_cpu_pct": round(idle_pct, 2),
                "rss_mb": round(rss, 1),
            })
        finally:
            if dump is not None:
                await dump.stop()
            try:
                await engine.stop()
            finally:
                try:
                    await server.stop()
                    await sipp.stop()
                finally:
                    await server.cleanup()
        return result


async def start_profile(server: Server, n: int, seconds: float,
                        folder: Path | None) -> asyncio.subprocess.Process | None:
    """Sample the server's stacks with py-spy over the measurement window (Python servers
    only): collapsed stacks in ``<folder>/<server>-<n>.txt``, one line per stack."""
    if folder is None or server.proc is None or not isinstance(server, WebfonGateway):
        return None
    os.makedirs(folder, exist_ok=True)
    out = folder / f"webfon-{n}.txt"
    return await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking", "--subprocesses",
        "--format", "raw", "--rate", "100", "--duration", str(max(1, int(seconds))),
        "--output", str(out), "--pid", str(server.proc.pid),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


def added_delay(pcap: Path, live: list[Caller],
                sip_media: tuple[str, int]) -> dict[str, Any]:
    """The server's own delay per relayed packet, both directions, from the capture."""
    ports = [p for p in (c.ports() for c in live) if p is not None]
    delays = relay_delays(read_pcap(pcap), ports, sip_media)
    both = delays.to_sip + delays.to_browser
    return {
        "added_ms_p50": round(pct(both, 50) * 1000, 3),
        "added_ms_p99": round(pct(both, 99) * 1000, 3),
        "added_ms_max": round(max(both) * 1000, 3) if both else None,
        "added_to_sip_ms_p99": round(pct(delays.to_sip, 99) * 1000, 3),
        "added_to_browser_ms_p99": round(pct(delays.to_browser, 99) * 1000, 3),
        "delay_samples": len(both),
        "delay_unmatched": delays.unmatched_to_sip + delays.unmatched_to_browser,
    }


SUMMARY_COLUMNS = (
    ("target", "target", "{}"), ("calls", "calls", "{}"),
    ("setup p50/p95 ms", ("setup_ms_p50", "setup_ms_p95"), "{:.0f} / {:.0f}"),
    ("loss %", "loss_pct", "{:.2f}"), ("RTT p50/p99 ms", ("rtt_ms_p50", "rtt_ms_p99"),
                                         "{:.1f} / {:.0f}"),
    ("added p50/p99 ms", ("added_ms_p50", "added_ms_p99"), "{:.2f} / {:.1f}"),
    ("CPU % of a core", "cpu_pct", "{:.1f}"), ("CPU %/call", "cpu_pct_per_call", "{:.2f}"),
    ("RSS MB", "rss_mb", "{:.0f}"))


def summary_table(results: list[dict[str, Any]]) -> str:
    """The runs side by side, as a Markdown table."""
    head = "| " + " | ".join(name for name, _, _ in SUMMARY_COLUMNS) + " |"
    lines = [head, "|" + "---|" * len(SUMMARY_COLUMNS)]
    for r in results:
        cells = []
        for _, keys, fmt in SUMMARY_COLUMNS:
            values = [r.get(k) for k in (keys if isinstance(keys, tuple) else (keys,))]
            if any(v is None or (isinstance(v, float) and v != v) for v in values):
                cells.append("—")
            else:
                cells.append(fmt.format(*values))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="10,50,100", help="comma-separated call counts")
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    parser.add_argument("--target", choices=("webfon", "janus", "both", "shape"),
                        default="both",
                        help="both: webfon and Janus; shape: one webfon node direct, then two "
                             "nodes behind nginx")
    parser.add_argument("--nice", type=int, default=0,
                        help="run everything at this niceness (e.g. -10 on a shared machine; "
                             "needs root); servers, sipp and the load generator alike")
    parser.add_argument("--pin", action="store_true",
                        help=f"give the server CPU {SERVER_CPU} to itself; the load generator, "
                             "sipp and tcpdump run on the other CPUs (the targets are per core)")
    parser.add_argument("--server-nice", type=int, default=0,
                        help="the server's niceness relative to the load generator (e.g. -10: "
                             "the server runs whenever it has work, as on a core of its own; "
                             "needs root)")
    parser.add_argument("--capture", action="store_true",
                        help="measure the server's added delay per packet from a tcpdump "
                             "capture of its media (needs root and tcpdump)")
    parser.add_argument("--media-workers", type=int, default=-1, metavar="N",
                        help="the webfon gateway's media_workers setting: -1 (its default) "
                             "one worker process per CPU the gateway may use, 0 relays in the "
                             "gateway's own loop, N workers (CPU and memory figures include "
                             "the workers)")
    parser.add_argument("--gateway-tree", type=Path, default=None, metavar="DIR",
                        help="also run the webfon gateway of another source tree (an older "
                             "commit checked out with git worktree), alternating with the "
                             "current one at each call count, for a before/after comparison")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="record the webfon gateway's stacks with py-spy during each "
                             "measurement window into DIR (collapsed stacks; the sampling "
                             "costs the server some CPU, so figures from such a run are not "
                             "comparable)")
    args = parser.parse_args()
    if args.capture and not Capture.available():
        parser.error("--capture needs root and tcpdump")
    if args.nice:
        os.nice(args.nice - os.nice(0))
    if args.pin:
        others = set(range(os.cpu_count() or 1)) - {SERVER_CPU}
        if not others:
            parser.error("--pin needs at least two CPUs")
        os.sched_setaffinity(0, others)  # sipp and tcpdump inherit it
    configure_ice([HOST], None)
    targets: list[type[Server]] = []
    if args.target in ("webfon", "both"):
        targets.append(WebfonGateway)
        if args.gateway_tree is not None:
            if not (args.gateway_tree / "gateway" / "__main__.py").is_file():
                parser.error(f"no gateway in {args.gateway_tree}")
            targets.append(gateway_from(args.gateway_tree))
    if args.target in ("janus", "both"):
        targets.append(Janus)
    if args.target == "shape":
        targets = [WebfonGateway, WebfonShape]
    print(f"# machine: {os.cpu_count()} cpus, {os.uname().release}; load generator: "
          f"{sys.executable}", flush=True)
    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main_task.cancel)  # type: ignore[union-attr]
    results = []
    for n in [int(x) for x in args.calls.split(",")]:
        for target in targets:
            print(f"# {target.name}: {n} calls ...", file=sys.stderr, flush=True)
            result = await run_one(target, n, args.seconds, args.capture, args.pin,
                                   args.server_nice, args.profile, args.media_workers)
            results.append(result)
            print(json.dumps(result), flush=True)
    print(summary_table(results), flush=True)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
