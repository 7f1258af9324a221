"""The load test's controller: Locust's master, the ramps, and the server's CPU and memory.

For each gateway under test (the target and, with ``--compare``, a second one) the controller
starts what runs on this machine (our gateway, Debian's Janus, the sipp echo, the registrar),
tells the workers where to call, and then runs

* the **calls ramp**: Locust spawns :class:`~loadtest.distributed.CallUser` users up to each
  step's count at ``setup_rate`` calls/s over the workers; once they are up, after a warm-up,
  a window of ``hold`` seconds is measured: the workers' counters (loss, round trips, jitter,
  bytes per leg, their own CPU) and the server's CPU and memory (its processes when local, an
  agent when remote). The ramp stops at the first step over the loss or CPU limit, where a
  generator fell behind or a setup failed, or when the time budget is spent;
* the **idle-users ramp**: :class:`~loadtest.distributed.PhoneUser` users (connected,
  registered, idle web phones) up to each step; the server's memory and CPU, the generators'
  memory, and the registrar's view of every registration (refreshed before it expired or not).
  The last step is held past the registration interval so that every phone has to refresh.

In both, a local webfon gateway's garbage-collector pauses in each window (its own and its
media workers', :mod:`loadtest.gcfigures`) go into the step.

Everything is collected in one JSON document that :mod:`loadtest.report` turns into the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import gevent
from locust import events
from locust.env import Environment

from loadtest import gcfigures, servers
from loadtest.agent import AgentProbe, LocalProbe, NoProbe, Probe, Sample, usage
from loadtest.bridge import AsyncioThread
from loadtest.distributed import USER_CLASSES, CallUser, PhoneUser
from loadtest.figures import Limits, call_step, merge_windows, stop_reason, user_step
from loadtest.plan import Plan, call_settings
from loadtest.registrar import Registrar

log = logging.getLogger("loadtest")


@dataclass
class Target:
    """One gateway under test."""

    key: str  # "main" or "compare"
    spec: str  # webfon | janus | ws://…
    media_workers: int = -1
    agent: str = ""
    agent_token: str = ""
    pid: int = 0
    token: str | None = None
    server_cores: int = 0  # cores the server can use at once; 0: from what it is
    server: servers.Server | None = None
    name: str = ""

    def cores(self) -> int:
        """Janus's threads and our gateway's media worker processes use every core they are
        given; our gateway without media workers is one asyncio process: one core."""
        if self.server_cores:
            return self.server_cores
        cpus = len(os.sched_getaffinity(0))
        if self.local_kind == "janus":
            return cpus
        if self.local_kind == "webfon":
            workers = self.media_workers if self.media_workers >= 0 else max(1, cpus - 1)
            return min(cpus, workers + 1) if workers else 1
        return 1

    @property
    def local_kind(self) -> str | None:
        return self.spec if self.spec in ("webfon", "janus") else None

    def url(self) -> str:
        if self.server is not None:
            return self.server.ws_url
        return self.spec

    def plugin(self) -> str:
        return "janus.plugin.sip"

    def peer_host(self, default: str) -> str:
        """Where this machine's sipp and registrar are reached from the server."""
        return self.server.peer_host if self.server is not None else default

    def gc_figures(self) -> dict[str, float]:
        """Our local gateway's collector figures (:mod:`loadtest.gcfigures`); none else."""
        if self.local_kind != "webfon" or self.server is None:
            return {}
        return gcfigures.read_sync(f"http://{self.server.host}:{self.server.ws_port}")

    def probe(self) -> Probe:
        if self.server is not None and self.server.proc is not None:
            return LocalProbe(self.server.proc.pid)
        if self.pid:
            return LocalProbe(self.pid)
        if self.agent:
            return AgentProbe(self.agent, self.agent_token)
        return NoProbe()


class Progress:
    """A progress bar over a ramp's steps (tqdm), or nothing when quiet."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def begin(self, label: str, steps: int) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        self.close()
        self.bar = tqdm(total=steps, desc=label, unit="step", file=sys.stderr,
                        dynamic_ncols=True, leave=True)

    def status(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=True)

    def step_done(self, line: str) -> None:
        if self.bar is None:
            print(line, file=sys.stderr, flush=True)
        else:
            self.bar.update(1)
            self.bar.write(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def free_tcp_port(host: str = servers.HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Controller:
    def __init__(self, plan: Plan, targets: list[Target], local_workers: int,
                 expect_workers: int, bind: tuple[str, int], quiet: bool = False) -> None:
        self.plan = plan
        self.targets = targets
        self.local_workers = local_workers
        self.expect_workers = expect_workers
        self.bind_host, self.bind_port = bind
        self.progress = Progress(quiet)
        self.bridge = AsyncioThread()
        self.env = Environment(user_classes=USER_CLASSES, events=events)
        self.runner: Any = None
        self.worker_procs: list[asyncio.subprocess.Process] = []
        self.status: dict[str, dict[str, Any]] = {}
        self.windows: dict[str, dict[str, Any]] = {}
        self.configured: set[str] = set()
        self.window_number = 0
        self.workdir = Path(tempfile.mkdtemp(prefix="webfon-loadtest-"))
        self.started = time.monotonic()

    # --- Locust master and workers ----------------------------------------------------------

    def start_master(self) -> None:
        if self.bind_port == 0:
            self.bind_port = free_tcp_port(self.bind_host if self.bind_host != "*"
                                           else "0.0.0.0")
        self.runner = self.env.create_master_runner(self.bind_host, self.bind_port)
        self.runner.register_message("lt_status", self._on_status)
        self.runner.register_message("lt_window", self._on_window)
        self.runner.register_message("lt_configured", self._on_configured)

    def _on_status(self, environment: Environment, msg: Any) -> None:
        self.status[msg.node_id] = msg.data

    def _on_window(self, environment: Environment, msg: Any) -> None:
        if msg.data.get("number") == self.window_number:
            self.windows[msg.node_id] = msg.data

    def _on_configured(self, environment: Environment, msg: Any) -> None:
        self.configured.add(msg.node_id)

    def spawn_local_workers(self) -> None:
        """Start the local workers (from the asyncio thread, whose loop reaps children: libuv
        takes SIGCHLD over from gevent)."""
        env = dict(os.environ)
        for target in self.targets:
            if target.token:
                env[f"WEBFON_LOADTEST_TOKEN_{target.key.upper()}"] = target.token
        if self.plan.sip_secret:
            env["WEBFON_LOADTEST_SIP_SECRET"] = self.plan.sip_secret
        master = f"127.0.0.1:{self.bind_port}"

        async def spawn(i: int) -> asyncio.subprocess.Process:
            with (self.workdir / f"worker{i}.log").open("wb") as log_file:
                return await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "loadtest.cli", "worker", "--master", master,
                    env=env, stdout=log_file, stderr=subprocess.STDOUT,
                    cwd=str(servers.ROOT), start_new_session=True)

        for i in range(self.local_workers):
            self.worker_procs.append(self.bridge.run(spawn(i)))

    def worker_ids(self) -> list[str]:
        clients = self.runner.clients
        return [c.id for c in (*clients.ready, *clients.running, *clients.spawning)]

    def wait_workers(self, timeout: float = 60.0) -> None:
        wanted = self.local_workers + self.expect_workers
        if self.expect_workers:
            print(f"waiting for {self.expect_workers} workers: webfon loadtest worker --master "
                  f"<this machine>:{self.bind_port}", file=sys.stderr, flush=True)
            timeout = max(timeout, 600.0)
        deadline = time.monotonic() + timeout
        self.progress.status(f"waiting for {wanted} workers")
        while len(self.worker_ids()) < wanted:
            for proc in self.worker_procs:
                if proc.returncode is not None:
                    raise RuntimeError(f"a local worker exited ({proc.returncode}); see "
                                       f"{self.workdir}/worker*.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(self.worker_ids())} of {wanted} workers connected "
                                   f"within {timeout:.0f}s (master on "
                                   f"{self.bind_host}:{self.bind_port})")
            gevent.sleep(0.2)
        # a worker's first status says its engine is up
        while len([w for w in self.worker_ids() if w in self.status]) < wanted:
            if time.monotonic() > deadline:
                raise RuntimeError("workers connected but their engines did not report")
            gevent.sleep(0.1)

    def broadcast_and_wait(self, msg_type: str, data: dict[str, Any], replies: Callable[[], int],
                           timeout: float) -> None:
        wanted = len(self.worker_ids())
        self.runner.send_message(msg_type, data)
        deadline = time.monotonic() + timeout
        while replies() < wanted:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{replies()} of {wanted} workers answered {msg_type}")
            gevent.sleep(0.05)

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for node in self.worker_ids():
            for key, value in self.status.get(node, {}).items():
                if isinstance(value, int):
                    out[key] = out.get(key, 0) + value
        return out

    def stop_users(self, timeout: float = 120.0) -> None:
        if self.runner.state in ("running", "spawning"):
            self.runner.stop()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t = self.totals()
            if t.get("calls", 0) == 0 and t.get("phones", 0) == 0:
                return
            gevent.sleep(0.2)
        log.warning("users still up after stopping: %s", self.totals())

    # --- servers --------------------------------------------------------------------------

    def prepare_target(self, target: Target) -> None:
        """Create what a local server needs before the workers start (keys and a token)."""
        kind = target.local_kind
        if kind is None:
            target.name = target.spec
            return
        work = self.workdir / target.key
        work.mkdir()
        server: servers.Server = (servers.WebfonGateway(work) if kind == "webfon"
                                  else servers.Janus(work))
        server.media_workers = target.media_workers
        self.bridge.run(server.prepare())
        target.server = server
        target.token = server.token
        target.name = server.name
        if kind == "webfon":
            count = target.media_workers if target.media_workers >= 0 else len(
                os.sched_getaffinity(0))
            target.name = (f"{server.name} + {count} media workers" if count
                           else f"{server.name} (relay in its loop)")

    def measure_idle(self, probe: Probe, seconds: float = 2.0) -> dict[str, Any]:
        before = probe.sample()
        gevent.sleep(seconds)
        return usage(before, probe.sample())

    def _window(self, probe: Probe, seconds: float) -> tuple[list[dict[str, Any]],
                                                             dict[str, Any]]:
        self.window_number += 1
        self.windows = {}
        number = self.window_number
        self.runner.send_message("lt_window_open", {"number": number})
        before: Sample | None = probe.sample()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.progress.status(f"measuring, {end - time.monotonic():.0f}s left")
            gevent.sleep(min(1.0, max(0.0, end - time.monotonic())))
        after = probe.sample()
        server = usage(before, after)
        self.broadcast_and_wait("lt_window_close", {"number": number},
                                lambda: len(self.windows), 60)
        return list(self.windows.values()), server

    # --- ramps ------------------------------------------------------------------------------

    def configure(self, target: Target, call: dict[str, Any] | None,
                  phone: dict[str, Any] | None, ice: list[str] | None) -> None:
        self.configured = set()
        self.broadcast_and_wait("lt_configure", {"target": target.key, "call": call,
                                                 "phone": phone, "ice_addresses": ice},
                                lambda: len(self.configured), 30)

    def _wait_spawned(self, key_up: str, key_failed: str, target_count: int,
                      failed_before: int, timeout: float) -> int:
        """Until every user of the step is up or failed; returns the failures of the step."""
        deadline = time.monotonic() + timeout
        while True:
            t = self.totals()
            up, failed = t.get(key_up, 0), t.get(key_failed, 0) - failed_before
            self.progress.status(f"{up}/{target_count} up" + (f", {failed} failed"
                                                              if failed else ""))
            if up + failed >= target_count or time.monotonic() > deadline:
                return failed
            gevent.sleep(0.25)

    def _wait_locust_stats(self, expected: int, timeout: float = 8.0) -> None:
        """Workers send Locust's statistics every 3 s: wait for every setup to be in."""
        deadline = time.monotonic() + timeout
        while self.runner.stats.total.num_requests < expected and time.monotonic() < deadline:
            gevent.sleep(0.25)

    def run_calls(self, target: Target, probe: Probe) -> dict[str, Any]:
        plan = self.plan
        limits = plan.limits
        cores = target.cores()
        limits = Limits(limits.max_loss_pct, limits.cpu_limit_pct, cores,
                        limits.jitter_buffer_ms, limits.codec)
        started = time.monotonic()
        result: dict[str, Any] = {"target": target.name, "steps": [], "stopped": "completed",
                                  "server_cores": cores}
        idle = self.measure_idle(probe)
        result["steps"].append({"target": target.name, "calls": 0, "established": 0,
                                **{k: round(v, 2) for k, v in idle.items()
                                   if isinstance(v, float)}})
        steps = sorted(set(plan.calls))
        self.progress.begin(f"{target.key}: calls", len(steps))
        setup_rate = 1.0 / plan.setup_rate
        for count in steps:
            elapsed = time.monotonic() - started
            current = self.totals().get("calls", 0)
            estimate = (count - current) * setup_rate + plan.warmup_s + plan.hold_s + 3
            if elapsed + estimate > plan.budget_s:
                result["stopped"] = (f"time budget: step {count} needs ~{estimate:.0f}s, "
                                     f"{plan.budget_s - elapsed:.0f}s left")
                break
            failed_before = self.totals().get("setup_failures", 0)
            t_setup = time.monotonic()
            self.runner.start(count, plan.setup_rate, user_classes=[CallUser])
            failures = self._wait_spawned("calls", "setup_failures", count, failed_before,
                                          timeout=max(60.0, 4 * count / plan.setup_rate))
            up = self.totals().get("calls", 0)
            if up > current:
                setup_rate = max(1.0 / plan.setup_rate,
                                 (time.monotonic() - t_setup) / (up - current))
            gevent.sleep(plan.warmup_s)
            gc0 = target.gc_figures()
            windows, server = self._window(probe, plan.hold_s)
            merged = merge_windows(windows)
            merged["setup_failures_step"] = failures
            step = {"target": target.name, "calls": count,
                    **call_step(merged, server, limits),
                    **gcfigures.summary(gc0, target.gc_figures()),
                    "loadavg_1m": round(os.getloadavg()[0], 2)}
            result["steps"].append(step)
            self.progress.step_done(format_call_step(step, time.monotonic() - self.started))
            reason = stop_reason(step, limits)
            if reason:
                result["stopped"] = reason
                break
        self.progress.close()
        self._wait_locust_stats(self.runner.target_user_count or 0)
        result["locust"] = locust_summary(self.runner)  # Locust clears it at the next start
        self.stop_users()
        result["duration_s"] = round(time.monotonic() - started, 1)
        return result

    def run_users(self, target: Target, probe: Probe, registrar: Registrar | None
                  ) -> dict[str, Any]:
        plan = self.plan
        started = time.monotonic()
        result: dict[str, Any] = {"target": target.name, "steps": [], "stopped": "completed",
                                  "register_expires_s": plan.register_expires}
        steps = [0, *sorted(set(plan.users) - {0})]
        self.progress.begin(f"{target.key}: idle users", len(steps))
        for i, count in enumerate(steps):
            last = i == len(steps) - 1
            hold = plan.users_hold_s
            if last and registrar is not None:
                # long enough for every phone to refresh its registration at least once
                hold = max(hold, plan.register_expires * 1.2 + 2)
            elapsed = time.monotonic() - started
            current = self.totals().get("phones", 0)
            estimate = (count - current) / plan.connect_rate + hold + 3
            if elapsed + estimate > plan.users_budget_s:
                result["stopped"] = (f"time budget: step {count} needs ~{estimate:.0f}s, "
                                     f"{plan.users_budget_s - elapsed:.0f}s left")
                break
            failed_before = self.totals().get("phone_failures", 0)
            failures = 0
            if count:
                self.runner.start(count, plan.connect_rate, user_classes=[PhoneUser])
                failures = self._wait_spawned("phones", "phone_failures", count,
                                              failed_before,
                                              timeout=max(60.0, 4 * count / plan.connect_rate))
            gevent.sleep(1.0)
            gc0 = target.gc_figures()
            windows, server = self._window(probe, hold)
            merged = merge_windows(windows)
            merged["failures_step"] = failures
            reg = self.bridge.run(_registrar_stats(registrar)) if registrar else None
            step = {"target": target.name, "users_requested": count,
                    **user_step(merged, server, reg),
                    **gcfigures.summary(gc0, target.gc_figures()),
                    "loadavg_1m": round(os.getloadavg()[0], 2)}
            result["steps"].append(step)
            self.progress.step_done(format_user_step(step, time.monotonic() - self.started))
            if failures and failures > max(1, (count - current) // 10):
                result["stopped"] = f"{failures} of {count - current} phones failed to connect"
                break
        self.progress.close()
        self._wait_locust_stats(self.runner.target_user_count or 0)
        result["locust"] = locust_summary(self.runner)
        self.stop_users(timeout=max(120.0, self.totals().get("phones", 0) / 50))
        result["duration_s"] = round(time.monotonic() - started, 1)
        return result

    def run_target(self, target: Target, do_calls: bool, do_users: bool) -> dict[str, Any]:
        plan = self.plan
        out: dict[str, Any] = {"name": target.name, "url": "", "spec": target.spec}
        sipp: servers.SippEcho | None = None
        registrar: Registrar | None = None
        try:
            if target.server is not None:
                self.bridge.run(target.server.start(), timeout=60)
            out["url"] = target.url()
            probe = target.probe()
            out["server_usage_from"] = probe.how
            sip_host = target.peer_host(plan.sip_host)
            ice = plan.ice_addresses
            if ice is None and target.server is not None:
                ice = sorted({servers.HOST, target.server.peer_host})
            elif ice is None and urlparse(target.url()).hostname in ("127.0.0.1", "localhost"):
                ice = [servers.HOST]
            if do_calls:
                echo = plan.echo_uri
                if not echo:
                    sipp = servers.SippEcho(self.workdir / target.key
                                            if (self.workdir / target.key).exists()
                                            else self.workdir, sip_host)
                    self.bridge.run(sipp.start())
                    echo = f"sip:echo@{sip_host}:{sipp.port}"
                call = call_settings(target.url(), echo, plan)
                self.configure(target, call, None, ice)
                out["calls"] = self.run_calls(target, probe)
                out["calls"]["echo"] = echo
                out["calls"]["media"] = plan.media
            if do_users:
                registrar = Registrar(plan.register_expires)
                host, port = self.bridge.run(registrar.listen(sip_host))
                phone = {"url": target.url(), "plugin": target.plugin(),
                         "registrar": f"sip:{host}:{port}", "domain": host,
                         "register_ttl": plan.register_expires,
                         "keepalive_s": plan.keepalive_s}
                self.configure(target, None, phone, ice)
                out["users"] = self.run_users(target, probe, registrar)
        finally:
            self.progress.close()
            with contextlib.suppress(Exception):
                self.stop_users(timeout=60)
            if registrar is not None:
                with contextlib.suppress(Exception):
                    self.bridge.run(_close(registrar), timeout=5)
            if target.server is not None:
                with contextlib.suppress(Exception):
                    self.bridge.run(target.server.stop(), timeout=30)
            if sipp is not None:
                self.bridge.run(sipp.stop(), timeout=15)
        return out

    # --- whole run --------------------------------------------------------------------------

    def run(self, do_calls: bool, do_users: bool) -> dict[str, Any]:
        servers.raise_open_files_limit()
        self.bridge.start()
        doc: dict[str, Any] = {"targets": []}
        try:
            for target in self.targets:
                self.prepare_target(target)
            self.start_master()
            self.spawn_local_workers()
            self.wait_workers()
            doc["workers"] = {"local": self.local_workers, "remote": self.expect_workers,
                              "master": f"{self.bind_host}:{self.bind_port}"}
            for target in self.targets:
                doc["targets"].append(self.run_target(target, do_calls, do_users))
        except BaseException:
            self.shutdown()
            print(f"logs of the servers and workers kept in {self.workdir}", file=sys.stderr)
            raise
        self.shutdown()
        shutil.rmtree(self.workdir, ignore_errors=True)
        return doc

    def shutdown(self) -> None:
        self.progress.close()
        if self.runner is not None:
            with contextlib.suppress(Exception):
                self.runner.quit()
        if self.worker_procs:
            with contextlib.suppress(Exception):
                self.bridge.run(_reap(self.worker_procs, 20.0), timeout=40)
        for target in self.targets:
            if target.server is not None:
                with contextlib.suppress(Exception):
                    self.bridge.run(target.server.stop(), timeout=15)
                with contextlib.suppress(Exception):
                    self.bridge.run(target.server.cleanup(), timeout=15)
        self.bridge.stop()


async def _reap(procs: list[asyncio.subprocess.Process], timeout: float) -> None:
    """Wait for the local workers to quit; kill those that do not."""
    try:
        await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), timeout)
    except TimeoutError:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
        await asyncio.gather(*(p.wait() for p in procs))


async def _close(registrar: Registrar) -> None:
    registrar.close()


async def _registrar_stats(registrar: Registrar | None) -> dict[str, Any] | None:
    return registrar.stats().to_dict() if registrar is not None else None


def locust_summary(runner: Any) -> dict[str, Any]:
    """Locust's own statistics of the run (setup and connect times, over every step)."""
    out: dict[str, Any] = {}
    for entry in runner.stats.entries.values():
        out[f"{entry.method} {entry.name}"] = {
            "count": entry.num_requests, "failures": entry.num_failures,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p95_ms": entry.get_response_time_percentile(0.95),
            "max_ms": entry.max_response_time}
    out["errors"] = [{"error": str(e.error)[:300], "count": e.occurrences}
                     for e in runner.stats.errors.values()][:10]
    return out


def format_call_step(step: dict[str, Any], elapsed_s: float) -> str:
    cpu = step.get("cpu_pct")
    server = (f"cpu {cpu:.1f}% ({step.get('cpu_pct_per_call') or 0:.3f}%/call) rss "
              f"{step.get('rss_mb')} MB" if cpu is not None else "server usage n/a")
    return (f"[{elapsed_s:6.0f}s] {step.get('target', '')} {step['established']:>4} calls: "
            f"{server} setup p50/p95 {step['setup_ms_p50']}/{step['setup_ms_p95']} ms loss "
            f"{step['loss_pct']}% jitter {step['jitter_ms_mean']} ms rtt p50 "
            f"{step['rtt_ms_p50']} ms MOS {step['mos']} WebRTC {step['webrtc_kbit_per_call']} / "
            f"SIP {step['sip_kbit_per_call']} kbit/s, workers' CPU "
            f"{step.get('generator_cpu_pct')} % (load avg {step.get('loadavg_1m')})"
            + gcfigures.text(step))


def format_user_step(step: dict[str, Any], elapsed_s: float) -> str:
    reg = step.get("registrar") or {}
    return (f"[{elapsed_s:6.0f}s] {step.get('target', '')} {step['users']:>5} users: cpu "
            f"{step.get('cpu_pct')}% rss {step.get('rss_mb')} MB, generators "
            f"{step.get('generator_rss_mb')} MB; registrations {reg.get('active', '-')} active, "
            f"{reg.get('lapsed', '-')} lapsed, {reg.get('refreshes', '-')} refreshes"
            + (f" ({step['failures']} failed)" if step.get("failures") else "")
            + gcfigures.text(step))

