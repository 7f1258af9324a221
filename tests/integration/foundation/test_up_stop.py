"""Ctrl-C on ``webfon up``: the processes stop in dependency order (the gateway before the PBX,
so its web phones are released through the PBX), none needs killing, nothing stays logged in."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from launcher.components import COMPONENTS
from tests.support.net import free_port
from tests.support.webphone import RawWebphone, write_trusting_sercen_conf

ROOT = Path(__file__).resolve().parents[3]


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        assert proc.poll() is None, f"webfon up exited: {path.read_text()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not seen within {timeout} s")


def _events(path: Path) -> list[dict[str, object]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def test_ctrl_c_stops_gateway_before_pbx_and_releases_web_phones(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBFON_")}
    env["WEBFON_DATA_DIR"] = str(tmp_path / "data")
    ports = {c.name: free_port("tcp") for c in COMPONENTS}
    for name, port in ports.items():
        env[f"WEBFON_{name.upper()}_PORT"] = str(port)
    env["WEBFON_PBX_SIP_PORT"] = str(free_port("both"))
    write_trusting_sercen_conf(tmp_path / "data")  # a login from here without second factor
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen([sys.executable, "-m", "launcher.cli", "up", "--log-format",
                                 "json"], cwd=ROOT, env=env, stdout=o, stderr=e,
                                start_new_session=True)
    try:
        _wait_for(out, "Ctrl-C stops everything", proc, 60)
        req = urllib.request.Request(
            f"http://127.0.0.1:{ports['web']}/sercen/login",
            data=json.dumps({"login": "1003", "password": "webfon-1003"}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=15) as resp:
            token = json.loads(resp.read())["access_token"]
        phone = RawWebphone(f"ws://127.0.0.1:{ports['gateway']}/janus", token)
        phone.start()
        db = sqlite3.connect(tmp_path / "data" / "webfon.db")
        assert db.execute("SELECT COUNT(*) FROM webphone_sessions").fetchone()[0] == 1
        paused = db.execute("SELECT m.paused FROM queue_members m JOIN extensions e ON "
                            "e.id = m.extension_id WHERE e.number = '2003'").fetchall()
        assert paused and all(p == 1 for (p,) in paused)
        db.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=40) == 0
        phone.stop()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    events = _events(err)
    stopped = [e["child"] for e in events if e.get("event") == "stopped" and "child" in e]
    assert stopped.index("web") < stopped.index("gateway") < stopped.index("pbx"), stopped
    assert stopped.index("gateway") < stopped.index("sercen")
    assert not [e for e in events if e.get("event") == "did not stop in time; killing"]
    assert not [e for e in events if "logout failed" in str(e.get("event"))
                or "could not release" in str(e.get("event"))]
    db = sqlite3.connect(tmp_path / "data" / "webfon.db")
    assert db.execute("SELECT COUNT(*) FROM webphone_sessions").fetchone()[0] == 0
    assert all(p == 0 for (p,) in db.execute(
        "SELECT m.paused FROM queue_members m JOIN extensions e ON e.id = m.extension_id "
        "WHERE e.number = '2003'").fetchall()), "desk phone back in its queues"
    lease = db.execute("SELECT state FROM gateway_nodes").fetchall()
    assert lease == [("stopped",)]
    db.close()
