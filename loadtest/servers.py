"""The systems a load test starts on this machine, and how their CPU and memory are read.

* :class:`WebfonGateway` (``python -m gateway`` with a generated config, guest calls allowed, a
  token minted for the load clients) and :class:`Janus` (Debian's Janus 1.1.2 with its SIP
  plugin, in a network namespace of its own since libnice will not gather on ``lo``);
* :class:`SippEcho`, a sipp UAS echoing every RTP packet back to its sender;
* the ``/proc`` readers: CPU seconds and resident memory of a process **and its descendants**
  (the gateway's media worker processes are its children).

A load test raises its own open-files soft limit to the hard limit
(:func:`raise_open_files_limit`) before it starts anything: the servers inherit it, so that a
ramp of idle users is limited by the machine and not by a default of 1024.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from webfon.tokens import TokenIssuer, ensure_keypair, load_private_key

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
HZ = os.sysconf("SC_CLK_TCK")


def raise_open_files_limit() -> int:
    """Raise this process's open-files soft limit to its hard limit; returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
    return soft


def _logfile(path: Path) -> Any:
    return path.open("wb")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the gateway's media workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    todo.extend(int(child) for child in fh.read().split())
        except OSError:
            continue
    return found


def proc_cpu_seconds(pid: int, children: bool = True) -> float:
    """utime + stime of a process, its threads and (``children``) its child processes, in
    seconds."""
    total = 0
    for member in process_tree(pid) if children else [pid]:
        try:
            with open(f"/proc/{member}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / HZ


def proc_rss_mb(pid: int, children: bool = True) -> float:
    """Resident memory of a process and (``children``) its descendants, MB."""
    total = 0.0
    for member in process_tree(pid) if children else [pid]:
        try:
            with open(f"/proc/{member}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


async def wait_tcp(port: int, timeout: float = 15.0, host: str = HOST) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection(host, port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")



class Server:
    """The system under test: a subprocess with a WebSocket Janus API."""

    name = ""
    plugin = ""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None
        self.ws_port = free_port(socket.SOCK_STREAM)
        self.token: str | None = None
        self.host = HOST  # where the server listens
        self.peer_host = HOST  # where sipp and the load clients are, as seen by the server
        self.capture_interface = "lo"  # where all of the server's media passes
        self.cpu: int | None = None  # run the server on this CPU only (``--pin``)
        self.nice = 0  # the server's niceness relative to the load generator
        self.media_workers = -1  # webfon: media worker processes (default: one per CPU but one)
        self.wrap: list[str] = []  # a command the server runs under (e.g. valgrind)
        self.start_timeout = 15.0  # seconds until its API answers

    def pinned(self, *cmd: str) -> list[str]:
        """The server's command, with its CPU (``--pin``) and priority (``--server-nice``)."""
        line = [*self.wrap, *cmd]
        if self.nice:
            line = ["nice", "-n", str(self.nice), *line]
        if self.cpu is not None:
            line = ["taskset", "-c", str(self.cpu), *line]
        return line

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.ws_port}/janus"

    def root_pids(self) -> list[int]:
        """The processes whose trees are measured (CPU, memory)."""
        return [self.proc.pid] if self.proc is not None else []

    async def prepare(self) -> None:
        return None

    async def cleanup(self) -> None:
        return None

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class WebfonGateway(Server):
    name = "webfon gateway"
    plugin = "janus.plugin.sip"
    tree = ROOT  # the source tree the gateway runs from (``gateway_from``: an older one)

    async def prepare(self) -> None:
        """Keys and a token for the load clients (role ``test``: guest calls allowed)."""
        private, _ = ensure_keypair(self.workdir / "data")
        issuer = TokenIssuer(load_private_key(private))
        self.token = issuer.issue(1, audience=["gateway"], roles=["test"], ttl=24 * 3600)[0]

    async def start(self) -> None:
        data = self.workdir / "data"
        if self.token is None:
            await self.prepare()
        cfg = self.workdir / "vivait.plugin.webfon.jcfg"
        cfg.write_text(
            f'general: {{\n  data_dir = "{data}"\n  local_ip = "{HOST}"\n'
            f'  session_timeout = 120\n  log_level = "warning"\n  allow_guest = true\n'
            f'  rtp_port_range = "30000-39999"\n  media_workers = {self.media_workers}\n'
            f'  sip_allowed_servers = "{HOST}:*"\n'
            # every simulated user shares one token here: no per-user limits
            f'  max_sessions = 0\n  max_sessions_per_user = 0\n  max_handles_per_user = 0\n}}\n')
        log = _logfile(self.workdir / "gateway.log")
        env = dict(os.environ, PYTHONPATH=str(self.tree))  # ``-m gateway`` from that tree
        self.proc = await asyncio.create_subprocess_exec(
            *self.pinned(sys.executable, "-m", "gateway", "--config", str(cfg), "--port",
                         str(self.ws_port)),
            stdout=log, stderr=log, cwd=str(self.tree), env=env)
        await wait_tcp(self.ws_port, self.start_timeout)


class WebfonShape(WebfonGateway):
    """Two gateway nodes behind nginx (TLS, the production site), each with half the cores'
    media workers and its own media port range; the load connects through nginx, which
    carries the signalling only."""

    name = "2 webfon nodes behind nginx"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.https_port = free_port(socket.SOCK_STREAM)
        self.node_ports = [free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)]
        self.nodes: list[asyncio.subprocess.Process] = []
        self.nginx: asyncio.subprocess.Process | None = None

    @property
    def ws_url(self) -> str:
        return f"wss://{self.host}:{self.https_port}/janus"

    def root_pids(self) -> list[int]:
        procs = [*self.nodes, *([self.nginx] if self.nginx is not None else [])]
        return [p.pid for p in procs]

    async def start(self) -> None:
        from launcher.services import NginxPlan, ensure_self_signed, nginx_spec

        data = self.workdir / "data"
        if self.token is None:
            await self.prepare()
        cpus = len(os.sched_getaffinity(0)) if self.cpu is None else 1
        workers = self.media_workers if self.media_workers >= 0 else max(1, cpus // 2)
        for i, port in enumerate(self.node_ports):
            cfg = self.workdir / f"node{i}.jcfg"
            low = 30000 + i * 5000
            cfg.write_text(
                f'general: {{\n  data_dir = "{data}"\n  local_ip = "{HOST}"\n'
                f'  session_timeout = 120\n  log_level = "warning"\n  allow_guest = true\n'
                f'  rtp_port_range = "{low}-{low + 4999}"\n  media_workers = {workers}\n'
                f'  sip_allowed_servers = "{HOST}:*"\n'
                f'  max_sessions = 0\n  max_sessions_per_user = 0\n'
                f'  max_handles_per_user = 0\n}}\n')
            log = _logfile(self.workdir / f"gateway{i}.log")
            self.nodes.append(await asyncio.create_subprocess_exec(
                *self.pinned(sys.executable, "-m", "gateway", "--config", str(cfg), "--port",
                             str(port)), stdout=log, stderr=log, cwd=str(self.tree)))
        cert, key = ensure_self_signed(self.workdir / "tls", ["localhost", HOST])
        spec = nginx_spec(self.workdir, NginxPlan(
            https_port=self.https_port, http_port=free_port(socket.SOCK_STREAM),
            server_name="localhost", cert=cert, key=key,
            gateways=[f"{i + 1}={HOST}:{p}" for i, p in enumerate(self.node_ports)],
            sercen=f"{HOST}:1", fonbo=f"{HOST}:1"), stage=0)
        log = _logfile(self.workdir / "nginx.log")
        self.nginx = await asyncio.create_subprocess_exec(*self.pinned(*spec.argv),
                                                          stdout=log, stderr=log)
        self.proc = self.nodes[0]
        for port in [*self.node_ports, self.https_port]:
            await wait_tcp(port)

    async def stop(self) -> None:
        procs = [*self.nodes, *([self.nginx] if self.nginx is not None else [])]
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGQUIT if proc is self.nginx else signal.SIGINT)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def gateway_from(tree: Path) -> type[WebfonGateway]:
    """The gateway of another source tree (e.g. ``git worktree add /tmp/before <commit>``),
    to measure in the same invocation as the current one, each call count in turn."""
    return type("OtherGateway", (WebfonGateway,), {"tree": tree.resolve(),
                                                   "name": f"webfon gateway ({tree.name})"})


class Janus(Server):
    """Debian's Janus. libnice will not gather on ``lo``, so Janus runs in a network namespace
    of its own, joined to the host by a veth pair (10.98.N.1 host side, 10.98.N.2 Janus)."""

    name = "janus 1.1.2"
    plugin = "janus.plugin.sip"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        n = os.getpid() % 200 + 20
        self.netns = f"wfbench{os.getpid()}"
        self.veth = f"wfb{os.getpid() % 100000}"
        self.peer_host = f"10.98.{n}.1"
        self.host = f"10.98.{n}.2"
        self.capture_interface = self.veth

    async def _ip(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec("ip", *args,
                                                    stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {err.decode().strip()}")

    async def prepare(self) -> None:
        await self._ip("netns", "add", self.netns)
        await self._ip("link", "add", self.veth, "type", "veth", "peer", "name",
                       self.veth + "j")
        await self._ip("link", "set", self.veth + "j", "netns", self.netns)
        await self._ip("addr", "add", f"{self.peer_host}/24", "dev", self.veth)
        await self._ip("link", "set", self.veth, "up")
        ns = ["netns", "exec", self.netns, "ip"]
        await self._ip(*ns, "addr", "add", f"{self.host}/24", "dev", self.veth + "j")
        await self._ip(*ns, "link", "set", self.veth + "j", "up")
        await self._ip(*ns, "link", "set", "lo", "up")

    async def cleanup(self) -> None:
        with contextlib.suppress(RuntimeError):
            await self._ip("link", "del", self.veth)
        with contextlib.suppress(RuntimeError):
            await self._ip("netns", "del", self.netns)

    async def start(self) -> None:
        conf = self.workdir / "janus"
        conf.mkdir()
        lib = "/usr/lib/x86_64-linux-gnu/janus"
        others = [p for p in os.listdir(f"{lib}/plugins")
                  if (p.endswith(".so") and "sip" not in p) or p == "libjanus_nosip.so"]
        (conf / "janus.jcfg").write_text(
            f'general: {{\n configs_folder = "{conf}"\n plugins_folder = "{lib}/plugins"\n'
            f' transports_folder = "{lib}/transports"\n events_folder = "{lib}/events"\n'
            f' loggers_folder = "{lib}/loggers"\n debug_level = 3\n session_timeout = 120\n}}\n'
            f'media: {{\n rtp_port_range = "40000-49999"\n}}\n'
            f'nat: {{\n ice_enforce_list = "{self.veth}j"\n}}\n'
            f'plugins: {{\n disable = "{",".join(others)}"\n}}\n'
            f'transports: {{\n disable = "libjanus_http.so,libjanus_mqtt.so,'
            f'libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so"\n}}\n'
            f'events: {{\n broadcast = false\n}}\n'
            f'loggers: {{\n disable = "libjanus_jsonlog.so"\n}}\n')
        (conf / "janus.transport.websockets.jcfg").write_text(
            f'general: {{\n json = "plain"\n ws = true\n ws_port = {self.ws_port}\n'
            f' wss = false\n}}\nadmin: {{\n admin_ws = false\n}}\n')
        (conf / "janus.plugin.sip.jcfg").write_text(
            f'general: {{\n local_ip = "{self.host}"\n keepalive_interval = 0\n'
            f' register_ttl = 3600\n rtp_port_range = "50000-59999"\n}}\n')
        log = _logfile(self.workdir / "janus.log")
        self.proc = await asyncio.create_subprocess_exec(
            *self.pinned("ip", "netns", "exec", self.netns, "/usr/bin/janus", "-F", str(conf),
                         "-C", str(conf / "janus.jcfg")), stdout=log, stderr=log)
        await wait_tcp(self.ws_port, max(20.0, self.start_timeout), self.host)


class SippEcho:
    def __init__(self, workdir: Path, host: str = HOST) -> None:
        self.workdir = workdir
        self.host = host
        self.port = free_port()
        self.media_port = 0
        while self.media_port == 0 or self.media_port % 2:
            self.media_port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        log = _logfile(self.workdir / "sipp.log")
        self.proc = await asyncio.create_subprocess_exec(
            "/usr/bin/sipp", "-sn", "uas", "-i", self.host, "-p", str(self.port), "-rtp_echo",
            "-mi", self.host, "-mp", str(self.media_port), "-nostdin", "-max_socket", "4096",
            stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL, cwd=str(self.workdir))
        await asyncio.sleep(0.5)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()



def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


