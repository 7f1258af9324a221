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
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aioice.ice import StunProtocol
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.media.ice import configure_ice
from gateway.media.webrtc import drive
from loadtest.machine import cpu_times, usage
from loadtest.relay_delay import PAYLOAD_FORMAT, CallPorts, Capture, read_pcap, relay_delays
from webfon.tokens import TokenIssuer, ensure_keypair, load_private_key

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = 160
HZ = sysconf = os.sysconf("SC_CLK_TCK")
SERVER_CPU = 1


def _logfile(path: Path) -> Any:
    return path.open("wb")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class _Silent(MediaStreamTrack):
    kind = "audio"

    async def recv(self) -> Any:
        await asyncio.Event().wait()


@dataclass
class CallStats:
    sent: int = 0
    received: int = 0
    rtts: list[float] = field(default_factory=list)
    jitter: float = 0.0
    last_transit: float | None = None


class LoadCall:
    """One WebRTC caller: Janus signalling over its own WebSocket, raw RTP over aiortc."""

    def __init__(self, index: int, ws_url: str, token: str | None, target_uri: str,
                 plugin: str) -> None:
        self.index = index
        self.ws_url = ws_url
        self.token = token
        self.target_uri = target_uri
        self.plugin = plugin
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.stats = CallStats()
        self.measuring = False
        self.counting = False
        self.seq = random.randrange(65536)
        self.seq0 = self.seq
        self.sent_packets = 0
        self.ts = random.randrange(2**32)
        self.ssrc = 0
        self.pt = 0
        self.dtls: Any = None
        self.ice: Any = None
        self.setup_s: float | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.http: aiohttp.ClientSession | None = None
        self.session_id = 0
        self.handle_id = 0
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._tx = 0
        self._tasks: set[asyncio.Future[Any]] = set()
        self._remote_set = asyncio.Event()

    async def _request(self, msg: dict[str, Any]) -> dict[str, Any]:
        assert self.ws is not None
        self._tx += 1
        tx = f"t{self._tx}"
        msg["transaction"] = tx
        if self.token:
            msg["token"] = self.token
        if self.session_id:
            msg.setdefault("session_id", self.session_id)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[tx] = fut
        await self.ws.send_str(json.dumps(msg))
        return await asyncio.wait_for(fut, 20)

    async def _read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            msg = json.loads(frame.data)
            if msg.get("janus") == "trickle":
                self._trickle(msg.get("candidate"))
                continue
            if msg.get("janus") == "event":
                self._events.put_nowait(msg)
                continue
            fut = self._pending.pop(msg.get("transaction", ""), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    def _trickle(self, cand: Any) -> None:
        if not isinstance(cand, dict):
            return
        if cand.get("completed"):
            task = asyncio.ensure_future(self.pc.addIceCandidate(None))
        else:
            text = str(cand.get("candidate", ""))
            candidate = candidate_from_sdp(text.split(":", 1)[1] if text.startswith(
                "candidate:") else text)
            candidate.sdpMid = cand.get("sdpMid")
            candidate.sdpMLineIndex = cand.get("sdpMLineIndex")
            task = asyncio.ensure_future(self._add_candidate(candidate))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _add_candidate(self, candidate: Any) -> None:
        await self._remote_set.wait()
        with contextlib.suppress(Exception):
            await self.pc.addIceCandidate(candidate)

    async def _event(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = await asyncio.wait_for(self._events.get(), deadline - loop.time())
            data = msg["plugindata"]["data"]
            if "error" in data or "error_code" in data:
                raise RuntimeError(f"plugin error: {data}")
            result = data.get("result") or {}
            if result.get("event") == name:
                return msg
            if result.get("event") in ("hangup", "registration_failed"):
                raise RuntimeError(f"call failed: {result}")

    async def start(self) -> None:
        self.http = aiohttp.ClientSession()
        # wss: nginx in front with the bench's self-signed certificate
        self.ws = await self.http.ws_connect(self.ws_url, protocols=("janus-protocol",),
                                             max_msg_size=0,
                                             ssl=False if self.ws_url.startswith("wss") else True)
        self._reader = asyncio.create_task(self._read())
        self.session_id = (await self._request({"janus": "create"}))["data"]["id"]
        self.handle_id = (await self._request({"janus": "attach",
                                               "plugin": self.plugin}))["data"]["id"]
        await self._message({"request": "register", "type": "guest",
                             "username": f"sip:load{self.index}@{HOST}"})
        await self._event("registered")
        transceiver = self.pc.addTransceiver(_Silent(), direction="sendrecv")
        caps = RTCRtpSender.getCapabilities("audio").codecs
        transceiver.setCodecPreferences([c for c in caps if c.name == "PCMU"])
        await self.pc.setLocalDescription(await self.pc.createOffer())
        started = time.perf_counter()
        await self._message({"request": "call", "uri": self.target_uri},
                            {"type": "offer", "sdp": self.pc.localDescription.sdp})
        accepted = await self._event("accepted")
        self.setup_s = time.perf_counter() - started
        jsep = accepted["jsep"]
        await self.pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], jsep["type"]))
        self._remote_set.set()
        self.dtls = transceiver.receiver.transport
        self.ssrc = transceiver.sender._ssrc
        self.dtls._handle_rtp_data = self._on_rtp
        for _ in range(200):
            if self.pc.connectionState == "connected":
                break
            await asyncio.sleep(0.05)
        self._fast_path()

    def _fast_path(self) -> None:
        """Read SRTP straight off the ICE sockets and send on the nominated pair (as the
        gateway does), so the load generator stays light."""
        conn = self.dtls.transport._connection
        self.ice = conn
        for protocol in list(conn._protocols):
            if type(protocol) is not StunProtocol:
                continue
            original = protocol.datagram_received

            def fast(data: bytes, addr: Any, original: Any = original) -> None:
                if len(data) > 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
                    srtp = self.dtls._rx_srtp
                    if srtp is not None:
                        with contextlib.suppress(Exception):
                            self._on_plain(srtp.unprotect(data))
                        return
                original(data, addr)

            protocol.datagram_received = fast

    async def _message(self, body: dict[str, Any], jsep: dict[str, Any] | None = None) -> None:
        msg: dict[str, Any] = {"janus": "message", "handle_id": self.handle_id, "body": body}
        if jsep:
            msg["jsep"] = jsep
        reply = await self._request(msg)
        if reply.get("janus") == "error":
            raise RuntimeError(f"request failed: {reply}")

    async def keepalive(self) -> None:
        with contextlib.suppress(Exception):
            await self._request({"janus": "keepalive"})

    def send(self, now: float) -> None:
        if self.dtls is None:
            return
        self.seq = (self.seq + 1) & 0xFFFF
        self.sent_packets += 1
        self.ts = (self.ts + PAYLOAD) & 0xFFFFFFFF
        header = struct.pack("!BBHII", 0x80, self.pt, self.seq, self.ts, self.ssrc)
        body = struct.pack(PAYLOAD_FORMAT, now, 1 if self.measuring else 0, self.index,
                           self.sent_packets).ljust(PAYLOAD, b"\xff")
        pair = self.ice._nominated.get(1) if self.ice is not None else None
        srtp = self.dtls._tx_srtp
        if pair is not None and srtp is not None and type(pair.protocol) is StunProtocol:
            pair.protocol.transport.sendto(srtp.protect(header + body), pair.remote_addr)
            ok = True
        else:
            ok = drive(self.dtls._send_rtp(header + body))
        if ok and self.measuring:
            self.stats.sent += 1

    def ports(self) -> CallPorts | None:
        """This call's ICE socket port and first sequence number, for the capture."""
        pair = self.ice._nominated.get(1) if self.ice is not None else None
        if pair is None or pair.protocol.transport is None:
            return None
        port = pair.protocol.transport.get_extra_info("sockname")[1]
        return CallPorts(self.index, int(port), self.seq0)

    async def _on_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        self._on_plain(data)

    def _on_plain(self, data: bytes) -> None:
        if len(data) < 12 + 12:
            return
        start = 12 + 4 * (data[0] & 0x0F)
        if data[0] & 0x10:
            start += 4 + 4 * int.from_bytes(data[start + 2:start + 4], "big")
        sent, flag = struct.unpack_from("!dI", data, start)
        if flag != 1 or not self.counting:
            return
        now = time.perf_counter()
        st = self.stats
        st.received += 1
        transit = now - sent
        st.rtts.append(transit)
        if st.last_transit is not None:
            st.jitter += (abs(transit - st.last_transit) - st.jitter) / 16
        st.last_transit = transit

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._message({"request": "hangup"}), 5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._request({"janus": "destroy"}), 5)
        with contextlib.suppress(Exception):
            await self.pc.close()
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.close()
        if self._reader is not None:
            self._reader.cancel()


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


def proc_rss_mb(pid: int) -> float:
    """Resident memory of a process and its child processes."""
    total = 0.0
    for member in process_tree(pid):
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
        self.media_workers = -1  # webfon: media worker processes (its default: one per CPU)

    def pinned(self, *cmd: str) -> list[str]:
        """The server's command, with its CPU (``--pin``) and priority (``--server-nice``)."""
        line = list(cmd)
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

    async def start(self) -> None:
        data = self.workdir / "data"
        private, _ = ensure_keypair(data)
        issuer = TokenIssuer(load_private_key(private))
        self.token = issuer.issue(1, audience=["gateway"], roles=["test"], ttl=7200)[0]
        cfg = self.workdir / "vivait.plugin.webfon.jcfg"
        cfg.write_text(
            f'general: {{\n  data_dir = "{data}"\n  local_ip = "{HOST}"\n'
            f'  session_timeout = 120\n  log_level = "warning"\n  allow_guest = true\n'
            f'  rtp_port_range = "30000-39999"\n  media_workers = {self.media_workers}\n}}\n')
        log = _logfile(self.workdir / "gateway.log")
        self.proc = await asyncio.create_subprocess_exec(
            *self.pinned(sys.executable, "-m", "gateway", "--config", str(cfg), "--port",
                         str(self.ws_port)),
            stdout=log, stderr=log, cwd=str(ROOT))
        await wait_tcp(self.ws_port)


class WebfonShape(Server):
    """Two gateway nodes behind nginx (TLS, the production site), each with half the cores'
    media workers and its own media port range; the load connects through nginx."""

    name = "2 webfon nodes behind nginx"
    plugin = "janus.plugin.sip"

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
        private, _ = ensure_keypair(data)
        issuer = TokenIssuer(load_private_key(private))
        self.token = issuer.issue(1, audience=["gateway"], roles=["test"], ttl=7200)[0]
        cpus = len(os.sched_getaffinity(0)) if self.cpu is None else 1
        workers = self.media_workers if self.media_workers >= 0 else max(1, cpus // 2)
        for i, port in enumerate(self.node_ports):
            cfg = self.workdir / f"node{i}.jcfg"
            low = 30000 + i * 5000
            cfg.write_text(
                f'general: {{\n  data_dir = "{data}"\n  local_ip = "{HOST}"\n'
                f'  session_timeout = 120\n  log_level = "warning"\n  allow_guest = true\n'
                f'  rtp_port_range = "{low}-{low + 4999}"\n  media_workers = {workers}\n}}\n')
            log = _logfile(self.workdir / f"gateway{i}.log")
            self.nodes.append(await asyncio.create_subprocess_exec(
                *self.pinned(sys.executable, "-m", "gateway", "--config", str(cfg), "--port",
                             str(port)), stdout=log, stderr=log, cwd=str(ROOT)))
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
        for proc in [*self.nodes, *([self.nginx] if self.nginx is not None else [])]:
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT if proc is not self.nginx else signal.SIGQUIT)
        for proc in [*self.nodes, *([self.nginx] if self.nginx is not None else [])]:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


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
        await wait_tcp(self.ws_port, 20, self.host)


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


PACING_SLOTS = 10  # calls send in 10 groups, 2 ms apart, as unsynchronised browsers would


async def pace_calls(live: list[Any], pending: set[asyncio.Future[None]]) -> None:
    """Send one packet per call every 20 ms (the list may grow while this runs) and keep each
    call's Janus session alive every 20 s; runs until cancelled. Calls are spread over the
    20 ms in ``PACING_SLOTS`` groups rather than sent in one burst: real browsers are not in
    step, and a burst of N packets would measure queueing behind the burst, not the relay."""
    loop = asyncio.get_running_loop()
    tick = loop.time()
    last_keepalive = tick
    slot = 0
    while True:
        tick += 0.02 / PACING_SLOTS
        now = time.perf_counter()
        for call in live[slot::PACING_SLOTS]:
            call.send(now)
        slot = (slot + 1) % PACING_SLOTS
        if loop.time() - last_keepalive > 20:
            last_keepalive = loop.time()
            for call in live:
                task = asyncio.ensure_future(call.keepalive())
                pending.add(task)
                task.add_done_callback(pending.discard)
        await asyncio.sleep(max(0.0, tick - loop.time()))


async def run_one(server_cls: type[Server], n: int, seconds: float,
                  capture: bool = False, pin: bool = False,
                  server_nice: int = 0, profile: Path | None = None,
                  media_workers: int = -1) -> dict[str, Any]:
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
        calls = [LoadCall(i, server.ws_url, server.token,
                          f"sip:echo@{server.peer_host}:{sipp.port}", server.plugin)
                 for i in range(n)]
        sender: asyncio.Task[None] | None = None
        dump: Capture | None = None
        result: dict[str, Any] = {"target": server.name, "calls": n}
        if isinstance(server, WebfonShape):
            result["media_workers"] = "half the CPUs per node"
        if isinstance(server, WebfonGateway):
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

            async def setup(call: LoadCall) -> None:
                async with sem:
                    await call.start()

            outcomes = await asyncio.gather(*(setup(c) for c in calls), return_exceptions=True)
            failures = [o for o in outcomes if isinstance(o, BaseException)]
            live = [c for c, o in zip(calls, outcomes, strict=True)
                    if not isinstance(o, BaseException)]
            if failures:
                result["setup_failures"] = len(failures)
                result["first_failure"] = repr(failures[0])[:300]

            pending: set[asyncio.Future[None]] = set()

            sender = asyncio.create_task(pace_calls(live, pending))
            await asyncio.sleep(2.0)  # warm up
            if capture:
                dump = Capture(work / "media.pcap", server.capture_interface)
                await dump.start()
            for call in live:
                call.measuring = True
                call.counting = True
            spy = await start_profile(server, n, seconds, profile)
            cpu0 = server_cpu()
            machine0 = cpu_times()
            t0 = time.perf_counter()
            await asyncio.sleep(seconds)
            cpu1 = server_cpu()
            result.update(usage(machine0, cpu_times()))
            t1 = time.perf_counter()
            rss = sum(proc_rss_mb(pid) for pid in server.root_pids())
            for call in live:
                call.measuring = False
            if spy is not None:
                await spy.wait()
            await asyncio.sleep(0.5)  # let the last echoes arrive
            for call in live:
                call.counting = False
            if dump is not None:
                await dump.stop()
                result.update(added_delay(dump.path, live, (server.peer_host,
                                                              sipp.media_port)))
                result["capture_dropped"] = dump.dropped()
            sent = sum(c.stats.sent for c in live)
            received = sum(c.stats.received for c in live)
            rtts = [r for c in live for r in c.stats.rtts]
            setups = [c.setup_s for c in live if c.setup_s is not None]
            cpu_pct = (cpu1 - cpu0) / (t1 - t0) * 100
            result.update({
                "established": len(live),
                "media_connected": sum(1 for c in live if c.pc.connectionState == "connected"),
                "setup_ms_p50": round(pct(setups, 50) * 1000, 1),
                "setup_ms_p95": round(pct(setups, 95) * 1000, 1),
                "loss_pct": round(100 * max(0, sent - received) / sent, 3) if sent else None,
                "rtt_ms_p50": round(pct(rtts, 50) * 1000, 2),
                "rtt_ms_p99": round(pct(rtts, 99) * 1000, 2),
                "jitter_ms_mean": round(statistics.fmean(
                    [c.stats.jitter for c in live]) * 1000, 3) if live else None,
                "cpu_pct": round(cpu_pct, 1),
                "cpu_pct_per_call": round((cpu_pct - idle_pct) / max(1, len(live)), 3),
                "idle_cpu_pct": round(idle_pct, 2),
                "rss_mb": round(rss, 1),
            })
        finally:
            if sender is not None:
                sender.cancel()
            if dump is not None:
                await dump.stop()
            try:
                await asyncio.gather(*(c.stop() for c in calls), return_exceptions=True)
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


def added_delay(pcap: Path, live: list[LoadCall],
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
