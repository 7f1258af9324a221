"""The real webfon stack for browser tests: every component as its own process on free
loopback ports, a shared data directory with the demo organisation, a local bus hub and an
SMTP server (aiosmtpd) that keeps the e-mails sercen sends.

The front trusts 127.0.0.1 as a proxy here, so each browser context can present its own
client address in ``X-Forwarded-For`` as nginx would in production: 172.25.1.9 is inside the
trusted network of ``sercen.conf`` (no second factor), 203.0.113.7 is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

from aiosmtpd.controller import Controller

from launcher.demo import load_demo
from tests.support.net import free_port, free_port_block
from webfon.bus import BusHub
from webfon.control_key import ensure_control_key
from webfon.store import open_store
from webfon.tokens import ensure_keypair

ROOT = Path(__file__).resolve().parents[2]
TRUSTED_IP = "172.25.1.9"
UNTRUSTED_IP = "203.0.113.7"
DEMO_PASSWORD = "webfon-{login}"


class Mailbox:
    """aiosmtpd handler keeping every message; ``wait_code`` finds a login code in them."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        msg = email.message_from_bytes(envelope.content)  # type: ignore[attr-defined]
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), msg))  # type: ignore[attr-defined]
        return "250 OK"

    @staticmethod
    def body(msg: Message) -> str:
        parts = msg.walk() if msg.is_multipart() else [msg]
        texts = []
        for part in parts:
            if part.get_content_type().startswith("text/"):
                payload = part.get_payload(decode=True) or b""
                texts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
        return "\n".join(texts)

    def wait_code(self, recipient: str, after: int, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [m for rcpts, m in self.messages[after:] if recipient in rcpts]
            if found:
                match = re.search(r"\b(\d{6,8})\b", self.body(found[-1]))
                if match:
                    return match.group(1)
            time.sleep(0.1)
        raise TimeoutError(f"no e-mail with a code for {recipient} within {timeout} s")

    def count(self) -> int:
        with self.lock:
            return len(self.messages)


@dataclass
class Stack:
    data_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    mailbox: Mailbox = field(default_factory=Mailbox)
    smtp: Controller | None = None
    hub_thread: threading.Thread | None = None
    hub_loop: asyncio.AbstractEventLoop | None = None
    bus_url: str = ""
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['web']}"

    @property
    def sip_port(self) -> int:
        return self.ports["pbx_sip"]

    def log_path(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"

    # --- start ---------------------------------------------------------------------------
    def start(self) -> None:
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        ensure_keypair(self.data_dir)
        ensure_control_key(self.data_dir)
        # In a thread of its own: the caller may already run an event loop.
        errors: list[BaseException] = []

        def load() -> None:
            try:
                asyncio.run(self._load_demo())
            except BaseException as exc:
                errors.append(exc)

        loader = threading.Thread(target=load)
        loader.start()
        loader.join(60)
        if errors:
            raise RuntimeError(f"demo data not loaded: {errors[0]!r}") from errors[0]
        self._start_smtp()
        self._start_hub()
        for name in ("sercen", "fonbo", "pbx", "gateway", "web"):
            self.ports[name] = free_port("tcp")
        self.ports["pbx_sip"] = free_port("both")
        self.ports["gateway_rtp"] = free_port_block(200, "udp")
        self.ports["pbx_rtp"] = free_port_block(200, "udp")
        env = self._env()
        self._write_sercen_conf()
        # The gateway releases its node's web extensions through the PBX at start: the PBX
        # goes first.
        for group in ((("sercen", "sercen"), ("fonbo", "fonbo"), ("pbx", "pbx")),
                      (("gateway", "gateway"), ("web", "launcher.front"))):
            for name, module in group:
                self._spawn(name, module, env)
            for name, _ in group:
                try:
                    self._wait_healthy(name)
                except RuntimeError as exc:
                    # Recorded, not raised: tests that need this component fail with the
                    # reason (see require), the others still run.
                    self.failed[name] = str(exc)

    def require(self, *names: str) -> None:
        """Fail the calling test, with the component's log, when one it needs is down."""
        down = [n for n in names if n in self.failed or self.procs[n].poll() is not None]
        if down:
            raise AssertionError("component(s) not running: " + ", ".join(down) + "\n"
                                 + "\n".join(self.failed.get(n) or self.tail(n) for n in down))

    async def _load_demo(self) -> None:
        store = await open_store(f"sqlite:///{self.data_dir / 'webfon.db'}")
        try:
            await load_demo(store, self.data_dir.resolve())
        finally:
            await store.close()

    def _start_smtp(self) -> None:
        port = free_port("tcp")
        self.smtp = Controller(self.mailbox, hostname="127.0.0.1", port=port)
        self.smtp.start()
        self.ports["smtp"] = port

    def _start_hub(self) -> None:
        ready = threading.Event()
        holder: dict[str, int] = {}

        def run() -> None:
            loop = asyncio.new_event_loop()
            self.hub_loop = loop
            hub = BusHub()
            holder["port"] = loop.run_until_complete(hub.start("127.0.0.1", 0))
            ready.set()
            loop.run_forever()
            with contextlib.suppress(Exception):
                loop.run_until_complete(hub.close())
            loop.close()

        self.hub_thread = threading.Thread(target=run, name="bus-hub", daemon=True)
        self.hub_thread.start()
        if not ready.wait(10):
            raise RuntimeError("bus hub did not start")
        self.bus_url = f"tcp://127.0.0.1:{holder['port']}"

    def _write_sercen_conf(self) -> None:
        (self.data_dir / "sercen.conf").write_text(
            "smtps_usa = false\n"
            'smtp_host = "127.0.0.1"\n'
            f"smtp_puerto = {self.ports['smtp']}\n"
            'smtp_usuario = ""\n'
            'smtp_clave = ""\n'
            'f1factor_00_ip = "172.25.0.0"\n'
            'f1factor_00_msk = "255.255.0.0"\n')

    def _env(self) -> dict[str, str]:
        p = self.ports
        env = {k: v for k, v in os.environ.items() if not k.startswith("WEBFON_")}
        env.update({
            "WEBFON_DATA_DIR": str(self.data_dir),
            "WEBFON_BUS_URL": self.bus_url,
            "WEBFON_LOG_FORMAT": "logfmt",
            "WEBFON_LOG_LEVEL": "debug" if os.environ.get("WEBFON_E2E_DEBUG") else "info",
            "WEBFON_SERCEN_CONFIG": str(self.data_dir / "sercen.conf"),
            "WEBFON_SERCEN_SMTP_STARTTLS": "off",
            "WEBFON_SERCEN_RESPONSE_DELAY": "0.05",
            "WEBFON_SERCEN_RESPONSE_JITTER": "0",
            "WEBFON_SERCEN_EMAIL_RESEND_COOLDOWN": "1",
            "WEBFON_PBX_SIP_PORT": str(p["pbx_sip"]),
            "WEBFON_PBX_RTP_PORT_MIN": str(p["pbx_rtp"]),
            "WEBFON_PBX_RTP_PORT_MAX": str(p["pbx_rtp"] + 199),
            "WEBFON_PBX_NO_ANSWER_TIMEOUT_S": "15",
            "WEBFON_GATEWAY_SIP_REGISTRAR": f"sip:127.0.0.1:{p['pbx_sip']}",
            "WEBFON_GATEWAY_PBX_CONTROL_URL": f"http://127.0.0.1:{p['pbx']}",
            "WEBFON_FONBO_PBX_CONTROL_URL": f"http://127.0.0.1:{p['pbx']}",
            "WEBFON_GATEWAY_LOCAL_NODO_ID": "4",
            "WEBFON_GATEWAY_LOCAL_IP": "127.0.0.1",
            "WEBFON_GATEWAY_RTP_PORT_RANGE": f"{p['gateway_rtp']}-{p['gateway_rtp'] + 199}",
            "WEBFON_GATEWAY_RECLAIM_SESSION_TIMEOUT": "20",
            "WEBFON_GATEWAY_MEDIA_RECLAIM_TIMEOUT": "20",
            "WEBFON_WEB_GATEWAY_URL": f"http://127.0.0.1:{p['gateway']}",
            # as `webfon up` does: the front reaches sercen on its Unix socket, the one peer
            # whose X-Forwarded-For sercen believes by default
            "WEBFON_SERCEN_UNIX_SOCKET": str(self.data_dir / "run" / "sercen.sock"),
            "WEBFON_WEB_SERCEN_URL": f"unix:{self.data_dir / 'run' / 'sercen.sock'}",
            "WEBFON_WEB_FONBO_URL": f"http://127.0.0.1:{p['fonbo']}",
            "WEBFON_WEB_TRUSTED_PROXIES": "127.0.0.1/32",
            "WEBFON_WEB_STATIC_DIR": str(ROOT / "webclient"),
        })
        return env

    def _spawn(self, name: str, module: str, env: dict[str, str]) -> None:
        log = self.log_path(name).open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", module, "--port", str(self.ports[name])],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def _wait_healthy(self, name: str, timeout: float = 30.0) -> None:
        url = f"http://127.0.0.1:{self.ports[name]}/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n"
                                   f"{self.tail(name)}")
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} not healthy within {timeout} s:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 40) -> str:
        try:
            text = self.log_path(name).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # --- stop ----------------------------------------------------------------------------
    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self.smtp is not None:
            self.smtp.stop()
        if self.hub_loop is not None:
            self.hub_loop.call_soon_threadsafe(self.hub_loop.stop)
        if self.hub_thread is not None:
            self.hub_thread.join(timeout=5)
