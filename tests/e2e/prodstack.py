"""The production shape for browser tests, started the way an admin starts it:
``webfon up --nodes 2 --mariadb start --redis start`` as a real process, on free loopback ports,
with its own data directory (its own MariaDB server and Redis, so the tests may kill and
restart them), two gateway nodes behind a real nginx with TLS (self-signed certificate).

Leases are shortened (heartbeat 0.5 s, lost after 3 s) and crashed processes come back after
``RESTART_DELAY`` so a test sees the dead node stay dead for a while, then return.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql

from tests.support.net import listen_port
from tests.support.webphone import write_trusting_sercen_conf

ROOT = Path(__file__).resolve().parents[2]
RESTART_DELAY = 7.0
NODE_LEASE_S = 3.0


@dataclass
class ProdStack:
    data_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    output: Path | None = None

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self.ports['https']}"

    @property
    def log_names(self) -> list[str]:
        return [p.stem for p in sorted((self.data_dir / "log").glob("*.log"))
                if p.stem != "nginx-access"]

    # --- start / stop ---------------------------------------------------------------------
    def start(self) -> None:
        # the servers bind their ports one stage after the other, up to half a minute later:
        # ports outside the ephemeral range, which outgoing connections do not take meanwhile
        taken: set[int] = set()
        for name in ("sercen", "pbx", "fonbo", "web", "https", "mariadb", "redis"):
            self.ports[name] = listen_port("tcp", taken=taken)
        self.ports["gateway"] = listen_port("tcp", count=2, taken=taken)
        self.ports["pbx_sip"] = listen_port("both", taken=taken)
        self.ports["pbx_rtp"] = listen_port("udp", count=200, taken=taken)
        self.ports["rtp_base"] = listen_port("udp", count=2000, taken=taken)
        p = self.ports
        env = {k: v for k, v in os.environ.items() if not k.startswith("WEBFON_")}
        env.update({
            "WEBFON_DATA_DIR": str(self.data_dir),
            "WEBFON_LOG_LEVEL": "debug" if os.environ.get("WEBFON_E2E_DEBUG") else "info",
            "WEBFON_SERCEN_PORT": str(p["sercen"]), "WEBFON_PBX_PORT": str(p["pbx"]),
            "WEBFON_FONBO_PORT": str(p["fonbo"]), "WEBFON_GATEWAY_PORT": str(p["gateway"]),
            "WEBFON_WEB_PORT": str(p["web"]),
            "WEBFON_PBX_SIP_PORT": str(p["pbx_sip"]),
            "WEBFON_PBX_RTP_PORT_MIN": str(p["pbx_rtp"]),
            "WEBFON_PBX_RTP_PORT_MAX": str(p["pbx_rtp"] + 199),
            "WEBFON_PBX_NO_ANSWER_TIMEOUT_S": "15",
            "WEBFON_PBX_NODE_LEASE_S": str(NODE_LEASE_S),
            "WEBFON_PBX_NODE_CHECK_S": "0.5",
            "WEBFON_GATEWAY_NODE_HEARTBEAT_S": "0.5",
            "WEBFON_GATEWAY_DRAIN_TIMEOUT_S": "60",
        })
        self.output = self.data_dir / "up.out"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        write_trusting_sercen_conf(self.data_dir)
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "launcher.cli", "up", "--nodes", "2",
                 "--mariadb", "start", "--redis", "start",
                 "--https-port", str(p["https"]), "--mariadb-port", str(p["mariadb"]),
                 "--redis-port", str(p["redis"]), "--rtp-base", str(p["rtp_base"]),
                 "--restart-delay", str(RESTART_DELAY), "--log-format", "json"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"webfon up exited with {self.proc.returncode}:\n"
                                   f"{self.console_tail()}")
            if "Ctrl-C stops everything" in self.output.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"webfon up not ready within 120 s:\n{self.console_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    # --- looking at it ----------------------------------------------------------------------
    def console_tail(self, lines: int = 60) -> str:
        text = self.output.read_text(errors="replace") if self.output else ""
        return "\n".join(text.splitlines()[-lines:])

    def tail(self, name: str, lines: int = 40) -> str:
        try:
            text = (self.data_dir / "log" / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def state(self) -> dict[str, Any]:
        return json.loads((self.data_dir / "run" / "up.json").read_text())

    def pid(self, name: str) -> int:
        return int(self.state()["components"][name]["pid"])

    def node_port(self, node_id: int) -> int:
        return int(self.state()["components"][f"gateway-{node_id}"]["port"])

    def node_ids(self) -> list[int]:
        return sorted(int(n.split("-")[1]) for n in self.state()["components"]
                      if n.startswith("gateway-"))

    def health(self, url: str) -> int:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            return 0

    def db(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        password = (self.data_dir / "keys" / "mariadb.password").read_text().strip()
        conn = pymysql.connect(host="127.0.0.1", port=self.ports["mariadb"], user="webfon",
                               password=password, database="webfon", connect_timeout=3,
                               cursorclass=pymysql.cursors.DictCursor, autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def wait(self, what: str, check: Any, timeout: float = 15.0, poll: float = 0.2) -> Any:
        """Poll ``check()`` until it returns something true; its value is returned."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = check()
            except (pymysql.err.Error, OSError) as exc:
                last = exc
            else:
                if last:
                    return last
            time.sleep(poll)
        raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")
