"""baresip phones in network namespaces, controlled over ``ctrl_tcp``, for audio tests.

baresip will not use ``lo`` and would otherwise advertise the host's real address, so each
phone runs in its own network namespace. A :class:`PhoneNetwork` is a Linux bridge on the host
with the address ``10.99.X.1/24`` (X picked free under a lock, unique across concurrent test
runs); each :class:`BaresipPhone` gets a namespace joined to that bridge by a veth pair, with
the address ``10.99.X.(10+i)``. Phones reach each other directly over the bridge, and reach the
host (the SIP server or PBX under test) at :attr:`PhoneNetwork.host_ip`. **The server under
test must therefore listen on ``network.host_ip`` (or 0.0.0.0), not on 127.0.0.1**, and
advertise that address in its SDP/Contact for media to flow.

Each phone has a generated config dir: ``ausine`` tone source at ``tone_hz``, decoded audio
recorded by ``sndfile`` (``*-dec.wav``, 8 kHz mono for G.711; ``*-enc.wav`` is what it sent),
auto answer, and the ``ctrl_tcp`` module for commands (dial, hangup, accept, hold, resume,
sndcode for DTMF…) and events (CALL_ESTABLISHED, CALL_CLOSED, REGISTER_OK, CALL_DTMF_START…).

Needs root (``ip netns``, ``ip link``). Names carry the test process id so a crashed run's
leftovers can be removed by :func:`cleanup_stale`; :meth:`PhoneNetwork.close` always removes
the namespaces, veths and bridge it made.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BARESIP = os.environ.get("WEBFON_TEST_BARESIP", "/usr/bin/baresip")
MODULE_PATH = "/usr/lib/baresip/modules"
SUBNET_PREFIX = "10.99"
LOCK_FILE = "/tmp/webfon-phone-network.lock"
CTRL_PORT = 4444

_net_counter = itertools.count()


class PhoneError(RuntimeError):
    """A phone or its network could not be set up or did not do what was asked."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15,
                            check=False)
    if check and result.returncode != 0:
        raise PhoneError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def require_root() -> None:
    """Fail clearly (not skip) when the harness cannot create namespaces."""
    if os.geteuid() != 0:
        raise PhoneError("baresip phone tests need root (ip netns / ip link); run as root")
    if shutil.which("ip") is None or not Path(BARESIP).exists():
        raise PhoneError("baresip phone tests need iproute2 and baresip installed")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale() -> list[str]:
    """Remove namespaces and links left by test processes that no longer exist."""
    removed: list[str] = []
    out = _ip("netns", "list", check=False).stdout
    for line in out.splitlines():
        m = re.match(r"(wfon-(\d+)-\S+)", line.strip())
        if m and not _pid_alive(int(m.group(2))):
            _ip("netns", "del", m.group(1), check=False)
            removed.append(m.group(1))
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        m = re.match(r"\d+:\s+(w[bh]([0-9a-f]{6})[0-9a-f]*)[@:]", line)
        if m and not _pid_alive(int(m.group(2), 16)):
            _ip("link", "del", m.group(1), check=False)
            removed.append(m.group(1))
    return removed


class PhoneNetwork:
    """A bridge on the host plus one namespace per phone (see the module docstring)."""

    def __init__(self, workdir: Path | None = None) -> None:
        require_root()
        self.pid = os.getpid()
        self.index = next(_net_counter) % 256
        self.tag = f"{self.pid & 0xFFFFFF:06x}{self.index:02x}"
        self.bridge = f"wb{self.tag}"
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="webfon-phones-"))
        self.subnet: int | None = None
        self.namespaces: list[str] = []
        self.veths: list[str] = []
        self._next_host = 10
        self._closed = False

    @property
    def host_ip(self) -> str:
        """Address of the host on this network: where the server under test listens."""
        if self.subnet is None:
            raise PhoneError("phone network not created")
        return f"{SUBNET_PREFIX}.{self.subnet}.1"

    def create(self) -> PhoneNetwork:
        cleanup_stale()
        with open(LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = set(re.findall(rf"inet {re.escape(SUBNET_PREFIX)}\.(\d+)\.",
                                  _ip("-4", "-o", "addr", "show").stdout))
            free = [x for x in range(1, 255) if str(x) not in used]
            if not free:
                raise PhoneError(f"no free {SUBNET_PREFIX}.X.0/24 subnet")
            self.subnet = free[(self.pid + self.index) % len(free)]
            _ip("link", "add", self.bridge, "type", "bridge")
            try:
                _ip("addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
                _ip("link", "set", self.bridge, "up")
            except PhoneError:
                _ip("link", "del", self.bridge, check=False)
                raise
        return self

    def add_namespace(self) -> tuple[str, str]:
        """Create a namespace joined to the bridge; returns ``(netns name, its address)``."""
        if self.subnet is None:
            raise PhoneError("phone network not created")
        host = self._next_host
        self._next_host += 1
        if host > 250:
            raise PhoneError("too many phones on one network")
        i = host - 10
        ns = f"wfon-{self.pid}-{self.index}-{i}"
        veth_host = f"wh{self.tag}{i:02x}"
        veth_peer = f"wp{self.tag}{i:02x}"
        address = f"{SUBNET_PREFIX}.{self.subnet}.{host}"
        _ip("netns", "add", ns)
        self.namespaces.append(ns)
        _ip("link", "add", veth_host, "type", "veth", "peer", "name", veth_peer)
        self.veths.append(veth_host)
        _ip("link", "set", veth_peer, "netns", ns)
        _ip("link", "set", veth_host, "master", self.bridge, "up")
        _ip("-n", ns, "addr", "add", f"{address}/24", "dev", veth_peer)
        _ip("-n", ns, "link", "set", veth_peer, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        return ns, address

    def close(self) -> None:
        """Delete every namespace, veth and the bridge (errors ignored, always complete)."""
        if self._closed:
            return
        self._closed = True
        for ns in self.namespaces:
            _ip("netns", "del", ns, check=False)
        for veth in self.veths:
            _ip("link", "del", veth, check=False)
        if self.subnet is not None:
            _ip("link", "del", self.bridge, check=False)

    def __enter__(self) -> PhoneNetwork:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _netstring(obj: dict[str, Any]) -> bytes:
    data = json.dumps(obj).encode()
    return str(len(data)).encode() + b":" + data + b","


class BaresipPhone:
    """One baresip instance in its own namespace on a :class:`PhoneNetwork`.

    Without ``registrar`` the phone does not register and is reachable at :attr:`uri`
    (``sip:user@its-address:port``). With ``registrar="host:port"`` it registers
    ``sip:user@host:port`` with ``password`` (digest) and :meth:`start` waits for REGISTER_OK
    unless ``wait_registered=False``.
    """

    def __init__(self, network: PhoneNetwork, user: str, *, tone_hz: float = 440.0,
                 registrar: str | None = None, password: str | None = None,
                 outbound_proxy: str | None = None, codecs: tuple[str, ...] = ("PCMU", "PCMA"),
                 auto_answer: bool = True, sip_port: int = 5060, regint: int = 60,
                 extra_config: dict[str, str] | None = None,
                 extra_account_params: str = "") -> None:
        self.network = network
        self.user = user
        self.tone_hz = tone_hz
        self.registrar = registrar
        self.password = password
        self.outbound_proxy = outbound_proxy
        self.codecs = codecs
        self.auto_answer = auto_answer
        self.sip_port = sip_port
        self.regint = regint
        self.extra_config = dict(extra_config or {})
        self.extra_account_params = extra_account_params
        self.netns = ""
        self.ip = ""
        self.dir = network.workdir / f"phone-{user}-{id(self) & 0xFFFF:04x}"
        self.record_dir = self.dir / "rec"
        self.log_path = self.dir / "baresip.log"
        self.events: list[dict[str, Any]] = []
        self._consumed: set[int] = set()
        self._responses: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._event_added = asyncio.Event()
        self._token = itertools.count(1)
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None

    # --- identity ----------------------------------------------------------------------------

    @property
    def uri(self) -> str:
        """Direct SIP URI of the phone (its own address and port)."""
        return f"sip:{self.user}@{self.ip}:{self.sip_port}"

    @property
    def aor(self) -> str:
        host = self.registrar or f"{self.ip}:{self.sip_port}"
        return f"sip:{self.user}@{host}"

    # --- lifecycle ---------------------------------------------------------------------------

    def _write_config(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.record_dir.mkdir(exist_ok=True)
        base = 20000 + (int(self.ip.rsplit(".", 1)[1]) % 100) * 100
        config = {
            "poll_method": "epoll",
            "sip_listen": f"{self.ip}:{self.sip_port}",
            "sip_trans_def": "udp",
            "audio_player": "aufile,/dev/null",
            "audio_alert": "aufile,/dev/null",
            "audio_source": f"ausine,{int(self.tone_hz)}",
            "ausrc_srate": "48000",
            "ausrc_channels": "2",
            "audio_txmode": "thread",
            "rtp_ports": f"{base}-{base + 98}",
            "rtp_timeout": "0",
            "module_path": MODULE_PATH,
            "snd_path": str(self.record_dir),
            "ctrl_tcp_listen": f"{self.ip}:{CTRL_PORT}",
            "dns_server": "127.0.0.1:53",
        }
        config.update(self.extra_config)
        lines = [f"{k} {v}" for k, v in config.items()]
        for mod in ("ctrl_tcp.so", "g711.so", "ausine.so", "aufile.so", "sndfile.so"):
            lines.append(f"module {mod}")
        lines += ["module_app account.so", "module_app menu.so"]
        (self.dir / "config").write_text("\n".join(lines) + "\n")
        params = [f"answermode={'auto' if self.auto_answer else 'manual'}",
                  f"audio_codecs={','.join(self.codecs)}"]
        if self.registrar:
            params.append(f"regint={self.regint}")
            if self.password is not None:
                params.append(f"auth_pass={self.password}")
            if self.outbound_proxy:
                params.append(f'outbound="sip:{self.outbound_proxy}"')
        else:
            params.append("regint=0")
        account = f"<{self.aor}>;" + ";".join(params) + self.extra_account_params
        (self.dir / "accounts").write_text(account + "\n")
        (self.dir / "contacts").write_text("")

    async def start(self, timeout: float = 15.0, wait_registered: bool = True) -> BaresipPhone:
        self.netns, self.ip = self.network.add_namespace()
        self._write_config()
        with open(self.log_path, "wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", self.netns, BARESIP, "-f", str(self.dir),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.returncode is not None:
                raise PhoneError(f"baresip {self.user} exited ({self.proc.returncode}):\n"
                                 + self.log_tail())
            try:
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(self.ip, CTRL_PORT), 1.0)
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise PhoneError(f"baresip {self.user} control port did not open:\n"
                                     + self.log_tail()) from None
                await asyncio.sleep(0.1)
        self._read_task = asyncio.create_task(self._read_loop())
        if self.registrar and wait_registered:
            await self.wait_registered(max(1.0, deadline - time.monotonic()))
        return self

    async def registration_status(self) -> str:
        """baresip's ``reginfo`` line for this account, without colour codes."""
        data = str((await self.command("reginfo")).get("data", ""))
        return re.sub(r"\x1b\[[0-9;]*m", "", data)

    async def is_registered(self) -> bool:
        return bool(re.search(r"\sOK\s", await self.registration_status()))

    async def wait_registered(self, timeout: float = 10.0) -> None:
        """Wait until the account is registered (the first REGISTER may have completed before
        the control connection was up, so this polls ``reginfo``); fail fast on
        REGISTER_FAIL."""
        deadline = time.monotonic() + timeout
        while not await self.is_registered():
            failed = [e for e in self.events if e.get("type") == "REGISTER_FAIL"]
            if failed:
                raise PhoneError(f"baresip {self.user}: registration failed: "
                                 f"{failed[-1].get('param')}\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise PhoneError(f"baresip {self.user}: not registered within {timeout} s: "
                                 f"{await self.registration_status()}\n{self.log_tail()}")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Quit baresip (killed if it lingers) and close the control connection."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(Exception):
                await self.command("quit", timeout=2.0)
            try:
                await asyncio.wait_for(self.proc.wait(), 3.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.proc.wait(), 5.0)
        if self._read_task is not None:
            self._read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._read_task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        for fut in self._responses.values():
            if not fut.done():
                fut.cancel()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-chars:]

    # --- control -----------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self._reader is not None
        buf = b""
        while True:
            chunk = await self._reader.read(65536)
            if not chunk:
                return
            buf += chunk
            while True:
                colon = buf.find(b":")
                if colon < 0:
                    break
                try:
                    size = int(buf[:colon])
                except ValueError:
                    buf = b""
                    break
                if len(buf) < colon + 1 + size + 1:
                    break
                payload = buf[colon + 1:colon + 1 + size]
                buf = buf[colon + 2 + size:]
                try:
                    msg = json.loads(payload)
                except ValueError:
                    continue
                self._dispatch(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if msg.get("response"):
            fut = self._responses.pop(str(msg.get("token")), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif msg.get("event"):
            self.events.append(msg)
            self._event_added.set()

    async def command(self, name: str, params: str | None = None,
                      timeout: float = 5.0) -> dict[str, Any]:
        """Run a baresip long command (e.g. "dial", "hangup", "accept", "hold", "resume",
        "sndcode", "ausrc"); returns the response, raises :class:`PhoneError` if not ok."""
        if self._writer is None:
            raise PhoneError("phone not started")
        token = f"t{next(self._token)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._responses[token] = fut
        msg: dict[str, Any] = {"command": name, "token": token}
        if params is not None:
            msg["params"] = params
        self._writer.write(_netstring(msg))
        await self._writer.drain()
        try:
            response = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            self._responses.pop(token, None)
            raise PhoneError(f"baresip {self.user}: no response to {name}") from None
        if not response.get("ok", False):
            raise PhoneError(f"baresip {self.user}: {name} failed: {response.get('data')}")
        return response

    async def dial(self, uri: str) -> None:
        await self.command("dial", uri)

    async def hangup(self) -> None:
        await self.command("hangup")

    async def accept(self) -> None:
        await self.command("accept")

    async def hold(self) -> None:
        await self.command("hold")

    async def resume(self) -> None:
        await self.command("resume")

    async def send_dtmf(self, digits: str, interval: float = 0.25) -> None:
        """Send digits in the current call (RFC 4733 when negotiated)."""
        for d in digits:
            await self.command("sndcode", d)
            await asyncio.sleep(interval)

    async def set_tone(self, hz: float) -> None:
        """Switch the tone source mid-call."""
        await self.command("ausrc", f"ausine,{int(hz)}")
        self.tone_hz = hz

    # --- events ------------------------------------------------------------------------------

    async def wait_event(self, type_: str, timeout: float = 10.0,
                         match: Callable[[dict[str, Any]], bool] | None = None,
                         ) -> dict[str, Any]:
        """The first not yet consumed event of ``type_`` (e.g. CALL_ESTABLISHED), waiting for
        it up to ``timeout``; consumes it. Raises :class:`PhoneError` with the log on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if i in self._consumed or ev.get("type") != type_:
                    continue
                if match is not None and not match(ev):
                    continue
                self._consumed.add(i)
                return ev
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [e.get("type") for e in self.events]
                raise PhoneError(f"baresip {self.user}: no {type_} within {timeout} s; "
                                 f"events: {seen}\n{self.log_tail()}")
            if self.proc is not None and self.proc.returncode is not None:
                raise PhoneError(f"baresip {self.user} exited while waiting for {type_}:\n"
                                 + self.log_tail())
            self._event_added.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event_added.wait(), min(remaining, 0.5))

    def event_types(self) -> list[str]:
        return [str(e.get("type")) for e in self.events]

    def dtmf_received(self) -> str:
        """Digits received so far (from CALL_DTMF_START events)."""
        return "".join(str(e.get("param", ""))[:1] for e in self.events
                       if e.get("type") == "CALL_DTMF_START")

    # --- recordings --------------------------------------------------------------------------

    def recordings(self, kind: str = "dec") -> list[Path]:
        """Recorded WAVs, oldest first: "dec" = audio received, "enc" = audio sent."""
        return sorted(self.record_dir.glob(f"*-{kind}.wav"), key=lambda p: p.stat().st_mtime)

    def last_decoded_wav(self) -> Path:
        files = self.recordings("dec")
        if not files:
            raise PhoneError(f"baresip {self.user} recorded nothing in {self.record_dir}")
        return files[-1]

    async def __aenter__(self) -> BaresipPhone:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def talk(caller: BaresipPhone, callee: BaresipPhone, uri: str, digit: str) -> None:
    """``caller`` dials ``uri`` (which must reach ``callee``); both talk for three seconds,
    ``caller`` sends DTMF ``digit``, then hangs up. Raises unless every step was seen."""
    await caller.dial(uri)
    await caller.wait_event("CALL_ESTABLISHED", 10)
    await callee.wait_event("CALL_ESTABLISHED", 10)
    await asyncio.sleep(3.0)
    await caller.send_dtmf(digit)
    await callee.wait_event("CALL_DTMF_START", 5)
    await caller.hangup()
    await caller.wait_event("CALL_CLOSED", 5)
    await callee.wait_event("CALL_CLOSED", 5)
    assert callee.dtmf_received().startswith(digit[0])
