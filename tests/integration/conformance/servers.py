"""The two servers the conformance suite compares: Debian's Janus 1.1.2 and our gateway.

Each runs as its own process on loopback, started once for the whole suite (scenarios share
them): Janus with a generated configuration (WebSocket transport only, the SIP plugin bound to
127.0.0.1, ICE restricted to ``lo``), the gateway with ``python -m gateway`` and settings that
let a client without a token register as a guest, as Janus does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.net import HOST, free_port

ROOT = Path(__file__).resolve().parents[3]
JANUS = os.environ.get("WEBFON_TEST_JANUS", "/usr/bin/janus")
JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")


class Server:
    """A server process speaking the Janus API on ``ws_url``."""

    name = ""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ws_port = free_port("tcp")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.ws_port}/janus"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=str(ROOT),
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.ws_port),
                                                                         0.2):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on {self.ws_port}:\n{self.log_tail()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class JanusServer(Server):
    """Debian's Janus with only the SIP plugin and the WebSocket transport."""

    name = "janus"

    @staticmethod
    def available() -> bool:
        return shutil.which(JANUS) is not None and (JANUS_LIB / "plugins" /
                                                    "libjanus_sip.so").exists()

    def command(self) -> list[str]:
        conf = self.workdir / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        plugins = sorted(p.name for p in (JANUS_LIB / "plugins").glob("*.so")
                         if p.name != "libjanus_sip.so")
        transports = sorted(p.name for p in (JANUS_LIB / "transports").glob("*.so")
                            if p.name != "libjanus_websockets.so")
        (conf / "janus.jcfg").write_text(
            "general: {\n"
            f' configs_folder = "{conf}"\n plugins_folder = "{JANUS_LIB}/plugins"\n'
            f' transports_folder = "{JANUS_LIB}/transports"\n'
            f' events_folder = "{JANUS_LIB}/events"\n loggers_folder = "{JANUS_LIB}/loggers"\n'
            " debug_level = 4\n session_timeout = 60\n}\n"
            'nat: {\n ice_enforce_list = "lo"\n}\n'
            f'plugins: {{\n disable = "{",".join(plugins)}"\n}}\n'
            f'transports: {{\n disable = "{",".join(transports)}"\n}}\n'
            "events: {\n broadcast = false\n}\n"
            'loggers: {\n disable = "libjanus_jsonlog.so"\n}\n')
        (conf / "janus.transport.websockets.jcfg").write_text(
            f'general: {{\n json = "plain"\n ws = true\n ws_port = {self.ws_port}\n'
            f' ws_ip = "{HOST}"\n wss = false\n}}\nadmin: {{\n admin_ws = false\n}}\n')
        (conf / "janus.plugin.sip.jcfg").write_text(
            f'general: {{\n local_ip = "{HOST}"\n keepalive_interval = 0\n'
            " register_ttl = 3600\n}\n")
        return [JANUS, "-F", str(conf), "-C", str(conf / "janus.jcfg")]


class GatewayServer(Server):
    """Our gateway (``vivait.plugin.webfon``, also answering as ``janus.plugin.sip``)."""

    name = "webfon"

    def command(self) -> list[str]:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "vivait.plugin.webfon.jcfg"
        cfg.write_text(
            "general: {\n"
            f'  data_dir = "{data}"\n  local_ip = "{HOST}"\n  log_level = "info"\n'
            "  require_token = false\n  allow_guest = true\n  media_workers = 1\n"
            # the scenarios' sipp peers: Janus reaches any SIP address, ours what is listed
            f'  sip_allowed_servers = "{HOST}:*"\n'
            '  pbx_control_url = "http://127.0.0.1:9"\n}\n')
        return [sys.executable, "-m", "gateway", "--config", str(cfg), "--port",
                str(self.ws_port)]
