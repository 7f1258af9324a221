"""Call ramp for sizing: one gateway process, calls added step by step, figures per step.

Reuses the load generator of ``loadtest/gateway_bench.py`` (its light WebRTC caller, the sipp
echo UAS, the gateway/Janus launchers and the /proc samplers). Unlike that script, which starts
a fresh gateway per call count, the ramp keeps one gateway up and adds calls, so memory and CPU
grow as they would in production, and it also measures bandwidth on each leg:

* WebRTC leg: bytes the callers actually sent and received on their ICE sockets (SRTP + STUN),
  plus 28 bytes of IPv4/UDP header per datagram;
* SIP leg: the relayed RTP packets (their plain size as the caller decrypted them, which is what
  crossed the SIP leg, since the gateway relays payloads unchanged) plus 28 bytes each;
* loopback: the ``lo`` interface counters of /proc/net/dev over the window, per call — every
  leg, both ways, plus whatever else the machine sends over loopback meanwhile (a cross-check).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest import gateway_bench as gb
from loadtest.emodel import CODECS, estimate_mos, one_way_from_round_trip

IP_UDP = 28  # IPv4 + UDP header bytes per datagram
NOMINAL_PPS = 50  # one G.711 packet every 20 ms
MIN_PPS_RATIO = 0.9  # below this the load generator fell behind: the step is not valid
ETH = 14  # the loopback device counts a pseudo Ethernet header too

Progress = Callable[[str], None]


def loopback_counters(path: str = "/proc/net/dev") -> tuple[int, int]:
    """(bytes, packets) transmitted on ``lo`` so far."""
    with open(path) as fh:
        for line in fh:
            name, _, rest = line.partition(":")
            if name.strip() == "lo":
                fields = rest.split()
                return int(fields[8]), int(fields[9])
    raise RuntimeError("no loopback interface in /proc/net/dev")


class _CountingTransport:
    """Wraps a datagram transport and counts what is sent through it."""

    def __init__(self, inner: Any, owner: CountingCall) -> None:
        self._inner = inner
        self._owner = owner

    def sendto(self, data: bytes, addr: Any = None) -> None:
        if self._owner.bw_on:
            self._owner.tx_bytes += len(data)
            self._owner.tx_packets += 1
        self._inner.sendto(data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CountingCall(gb.LoadCall):
    """The bench's caller, counting datagrams on its ICE sockets and relayed RTP sizes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bw_on = False
        self.tx_bytes = self.tx_packets = 0
        self.rx_bytes = self.rx_packets = 0
        self.rtp_bytes = self.rtp_packets = 0

    def reset_counters(self) -> None:
        self.tx_bytes = self.tx_packets = self.rx_bytes = self.rx_packets = 0
        self.rtp_bytes = self.rtp_packets = 0
        self.stats = gb.CallStats()

    async def start(self) -> None:
        await super().start()
        conn = self.ice
        if conn is None:
            return
        for protocol in list(conn._protocols):
            if type(protocol) is not gb.StunProtocol:
                continue
            if protocol.transport is not None:
                protocol.transport = _CountingTransport(protocol.transport, self)
            original = protocol.datagram_received

            def counted(data: bytes, addr: Any, original: Any = original) -> None:
                if self.bw_on:
                    self.rx_bytes += len(data)
                    self.rx_packets += 1
                original(data, addr)

            protocol.datagram_received = counted

    def _on_plain(self, data: bytes) -> None:
        if self.bw_on:
            self.rtp_bytes += len(data)
            self.rtp_packets += 1
        super()._on_plain(data)


@dataclass
class RampConfig:
    steps: Sequence[int] = (10, 25, 50, 100, 150, 200, 300)
    seconds: float = 15.0  # measurement window per step
    warmup: float = 2.0
    budget_s: float = 900.0  # whole ramp, start-up included
    max_loss_pct: float = 1.0
    cpu_limit_pct: float = 90.0  # of one core: a single asyncio gateway process saturates there
    generator_limit_pct: float = 95.0  # the load generator's own CPU: beyond it figures lie
    setup_parallel: int = 8
    jitter_buffer_ms: float = 40.0
    codec: str = "g711"
    target: str = "webfon"  # webfon | janus


@dataclass
class RampResult:
    target: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = "completed"
    started_at: float = 0.0
    duration_s: float = 0.0


def _rate_kbit(byte_count: float, packets: float, seconds: float, calls: int) -> float:
    if seconds <= 0 or calls <= 0:
        return float("nan")
    return (byte_count + IP_UDP * packets) * 8 / seconds / calls / 1000.0


def step_figures(calls: Sequence[CountingCall], setups: Sequence[float], window_s: float,
                 cpu_pct: float, rss_mb: float, lo_bytes: int, lo_packets: int,
                 config: RampConfig) -> dict[str, Any]:
    """The figures of one measured step (pure: everything it needs is passed in)."""
    n = len(calls)
    sent = sum(c.stats.sent for c in calls)
    received = sum(c.stats.received for c in calls)
    rtts = [r for c in calls for r in c.stats.rtts]
    loss = 100 * max(0, sent - received) / sent if sent else float("nan")
    rtt_p50 = gb.pct(rtts, 50) * 1000
    # a packet is late for the receiver's jitter buffer when its delay exceeds the fastest
    # one's by more than the buffer; half the round-trip variation is one direction's
    fastest = min(rtts) if rtts else 0.0
    late = sum(1 for r in rtts if (r - fastest) / 2 * 1000 > config.jitter_buffer_ms)
    late_pct = 100 * late / sent if sent else 0.0
    effective = min(100.0, loss + late_pct) if sent else 0.0
    loss_1w, delay_1w = one_way_from_round_trip(effective, rtt_p50)
    r, mos, m2e = estimate_mos(loss_1w, delay_1w, config.jitter_buffer_ms,
                               CODECS[config.codec])
    webrtc_tx = _rate_kbit(sum(c.tx_bytes for c in calls), sum(c.tx_packets for c in calls),
                           window_s, n)
    webrtc_rx = _rate_kbit(sum(c.rx_bytes for c in calls), sum(c.rx_packets for c in calls),
                           window_s, n)
    sip = _rate_kbit(sum(c.rtp_bytes for c in calls), sum(c.rtp_packets for c in calls),
                     window_s, n)
    lo = _rate_kbit(lo_bytes - ETH * lo_packets, 0, window_s, n)
    pps = sent / window_s / n if n and window_s > 0 else 0.0
    return {
        "established": n,
        "setup_ms_p50": round(gb.pct(list(setups), 50) * 1000, 1),
        "setup_ms_p95": round(gb.pct(list(setups), 95) * 1000, 1),
        "loss_pct": round(loss, 3) if sent else None,
        "late_pct": round(late_pct, 3),
        "effective_loss_pct": round(effective, 3),
        "loss_pct_one_way": round(loss_1w, 3),
        "rtt_ms_p50": round(rtt_p50, 2),
        "rtt_ms_p99": round(gb.pct(rtts, 99) * 1000, 2),
        "delay_ms_one_way": round(delay_1w, 2),
        "jitter_ms_mean": round(statistics.fmean(c.stats.jitter for c in calls) * 1000, 3)
        if calls else None,
        "r_factor": round(r, 1),
        "mos": round(mos, 2),
        "mouth_to_ear_ms": round(m2e, 1),
        "cpu_pct": round(cpu_pct, 1),
        "cpu_pct_per_call": round(cpu_pct / n, 3) if n else None,
        "rss_mb": round(rss_mb, 1),
        "webrtc_kbit_tx_per_call": round(webrtc_tx, 1),
        "webrtc_kbit_rx_per_call": round(webrtc_rx, 1),
        "webrtc_kbit_per_call": round((webrtc_tx + webrtc_rx) / 2, 1),
        "sip_kbit_per_call": round(sip, 1),
        "loopback_kbit_per_call": round(lo, 1),
        "sent_pps_per_call": round(pps, 1),
        # the per-call model only uses steps where every call really sent its 50 packets/s
        "valid": bool(n) and pps >= NOMINAL_PPS * MIN_PPS_RATIO,
    }


def format_step(step: dict[str, Any], elapsed_s: float) -> str:
    return (f"[{elapsed_s:6.0f}s] {step.get('target', '')} {step['established']:>4} calls: "
            f"cpu {step['cpu_pct']:.1f}% ({step.get('cpu_pct_per_call') or 0:.3f}%/call) "
            f"rss {step['rss_mb']:.0f} MB setup p50/p95 {step['setup_ms_p50']:.0f}/"
            f"{step['setup_ms_p95']:.0f} ms loss {step['loss_pct']}% jitter "
            f"{step['jitter_ms_mean']} ms rtt p50 {step['rtt_ms_p50']} ms MOS {step['mos']} "
            f"WebRTC {step['webrtc_kbit_per_call']} / SIP {step['sip_kbit_per_call']} kbit/s"
            + (f" (load avg {step['loadavg_1m']})" if "loadavg_1m" in step else ""))


def _stop_reason(step: dict[str, Any], config: RampConfig) -> str | None:
    if step.get("valid") is False:
        return (f"load generator fell behind ({step.get('sent_pps_per_call')} packets/s per "
                f"call instead of {NOMINAL_PPS}); this step is left out of the model")
    loss = step.get("loss_pct")
    if loss is not None and loss > config.max_loss_pct:
        return f"loss {loss}% > {config.max_loss_pct}%"
    limit = config.cpu_limit_pct
    if config.target == "janus":  # threads: it saturates when every core is busy
        limit *= os.cpu_count() or 1
    if step["cpu_pct"] >= limit:
        return f"server CPU {step['cpu_pct']}% >= {limit}% of a core"
    if step.get("generator_cpu_pct", 0) >= config.generator_limit_pct:
        return f"load generator CPU {step['generator_cpu_pct']}% (figures beyond are unreliable)"
    if step.get("setup_failures_step"):
        return f"{step['setup_failures_step']} call setups failed"
    return None


async def run_call_ramp(config: RampConfig, progress: Progress = print) -> RampResult:
    """Run the ramp; stops at the first step over the loss/CPU limits or out of time."""
    server_cls: type[gb.Server] = gb.Janus if config.target == "janus" else gb.WebfonGateway
    started = time.monotonic()
    result = RampResult(target=server_cls.name, started_at=time.time())
    me = os.getpid()
    with tempfile.TemporaryDirectory(prefix="webfon-sizing-") as tmp:
        work = Path(tmp)
        server = server_cls(work)
        sipp = gb.SippEcho(work, server.peer_host)
        calls: list[CountingCall] = []
        live: list[CountingCall] = []
        sender: asyncio.Task[None] | None = None
        pending: set[asyncio.Future[None]] = set()
        try:
            await server.prepare()
            gb.configure_ice(sorted({gb.HOST, server.peer_host}), None)
            await sipp.start()
            await server.start()
            assert server.proc is not None
            pid = server.proc.pid
            cpu0 = gb.proc_cpu_seconds(pid)
            await asyncio.sleep(2)
            idle = {"target": server.name, "calls": 0, "established": 0,
                    "cpu_pct": round((gb.proc_cpu_seconds(pid) - cpu0) / 2 * 100, 2),
                    "rss_mb": round(gb.proc_rss_mb(pid), 1)}
            result.steps.append(idle)
            progress(f"[{time.monotonic() - started:6.0f}s] {server.name} idle: cpu "
                     f"{idle['cpu_pct']}% rss {idle['rss_mb']} MB")

            sender = asyncio.create_task(gb.pace_calls(live, pending))
            setup_rate = 0.25  # seconds per call before anything was measured
            for target in sorted(set(config.steps)):
                if target <= len(calls):
                    continue
                elapsed = time.monotonic() - started
                estimate = ((target - len(calls)) * setup_rate + config.warmup + config.seconds
                            + 2)
                if elapsed + estimate > config.budget_s:
                    result.stopped = (f"time budget: step {target} needs ~{estimate:.0f}s, "
                                      f"{config.budget_s - elapsed:.0f}s left")
                    break
                new = [CountingCall(i, server.ws_url, server.token,
                                    f"sip:echo@{server.peer_host}:{sipp.port}", server.plugin)
                       for i in range(len(calls), target)]
                calls.extend(new)
                sem = asyncio.Semaphore(config.setup_parallel)

                async def setup(call: CountingCall, sem: asyncio.Semaphore = sem) -> None:
                    async with sem:
                        await call.start()

                t_setup = time.monotonic()
                outcomes = await asyncio.gather(*(setup(c) for c in new),
                                                return_exceptions=True)
                setup_rate = max(0.05, (time.monotonic() - t_setup) / len(new))
                ok = [c for c, o in zip(new, outcomes, strict=True)
                      if not isinstance(o, BaseException)]
                failures = [o for o in outcomes if isinstance(o, BaseException)]
                live.extend(ok)
                await asyncio.sleep(config.warmup)
                for call in live:
                    call.reset_counters()
                    call.bw_on = call.measuring = call.counting = True
                c0, g0 = gb.proc_cpu_seconds(pid), gb.proc_cpu_seconds(me, children=False)
                lo0 = loopback_counters()
                t0 = time.perf_counter()
                await asyncio.sleep(config.seconds)
                c1, g1 = gb.proc_cpu_seconds(pid), gb.proc_cpu_seconds(me, children=False)
                lo1 = loopback_counters()
                t1 = time.perf_counter()
                rss = gb.proc_rss_mb(pid)
                for call in live:
                    call.measuring = False
                    call.bw_on = False
                await asyncio.sleep(0.5)  # the last echoes
                for call in live:
                    call.counting = False
                window = t1 - t0
                step = {"target": server.name, "calls": target}
                step.update(step_figures(live, [c.setup_s for c in ok if c.setup_s is not None],
                                         window, (c1 - c0) / window * 100, rss,
                                         lo1[0] - lo0[0], lo1[1] - lo0[1], config))
                step["generator_cpu_pct"] = round((g1 - g0) / window * 100, 1)
                step["loadavg_1m"] = round(os.getloadavg()[0], 2)
                loss = step.get("loss_pct")
                step["over_limit"] = loss is not None and loss > config.max_loss_pct
                step["setup_failures_step"] = len(failures)
                if failures:
                    step["first_failure"] = repr(failures[0])[:300]
                result.steps.append(step)
                progress(format_step(step, time.monotonic() - started))
                reason = _stop_reason(step, config)
                if reason:
                    result.stopped = reason
                    break
        finally:
            if sender is not None:
                sender.cancel()
            for task in list(pending):
                task.cancel()
            await asyncio.gather(*(c.stop() for c in calls), return_exceptions=True)
            try:
                with contextlib.suppress(Exception):
                    await server.stop()
                await sipp.stop()
            finally:
                await server.cleanup()
    result.duration_s = round(time.monotonic() - started, 1)
    return result
