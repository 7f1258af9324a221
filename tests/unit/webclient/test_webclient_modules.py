"""The web client's pure modules (call quality, link parsing) under Node's own test runner,
and the service worker's shell list against the files the client is made of."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
WEBCLIENT = HERE.parents[2] / "webclient"


def test_js_modules_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: run scripts/install-test-deps")
    tests = sorted(str(p) for p in HERE.glob("*.test.mjs"))
    proc = subprocess.run([node, "--test", *tests], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r"^# pass [1-9]", proc.stdout, re.M), proc.stdout[-2000:]


def test_service_worker_keeps_every_file_of_the_shell() -> None:
    sw = (WEBCLIENT / "sw.js").read_text(encoding="utf-8")
    block = re.search(r"const SHELL = \[(.*?)\];", sw, re.S)
    assert block
    listed = set(re.findall(r'"(/[^"]*)"', block.group(1)))
    on_disk = {"/" + str(p.relative_to(WEBCLIENT)) for p in WEBCLIENT.rglob("*")
               if p.is_file() and p.suffix in {".js", ".css", ".svg", ".png", ".html",
                                                ".webmanifest"}
               and p.name != "sw.js"}
    assert listed - {"/"} == on_disk, (
        f"missing from sw.js: {sorted(on_disk - listed)}; "
        f"listed but absent: {sorted(listed - on_disk - {'/'})}")
