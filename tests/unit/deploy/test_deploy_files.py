"""The production files in ``deploy/`` stay true: systemd accepts the units, they start real
component modules with the right stop behaviour, every setting they and the env examples name
exists, and the nginx site is what ``webfon nginx-config`` renders for the documented example."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import re
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from fonbo.settings import FonboSettings
from gateway.settings import GatewaySettings
from launcher.front.settings import FrontSettings
from launcher.nginxconf import main as nginx_config
from pbx.settings import PbxSettings
from sercen.settings import SercenSettings
from webfon.settings import BaseSettings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").iterdir())
INSTALLED_PYTHON = "/opt/webfon/venv/bin/python"
SETTINGS: tuple[type[BaseSettings], ...] = (GatewaySettings, PbxSettings, SercenSettings,
                                             FonboSettings, FrontSettings)
# the documented two-machine example (docs/DEPLOY.md) renders deploy/nginx/webfon.conf
NGINX_ARGS = ["--server-name", "webfon.example.com",
              "--cert", "/etc/letsencrypt/live/webfon.example.com/fullchain.pem",
              "--key", "/etc/letsencrypt/live/webfon.example.com/privkey.pem",
              "--gateway", "4=10.0.0.5:8188", "--gateway", "5=10.0.0.6:8188",
              "--webclient-root", "/opt/webfon/src/webclient"]


def _unit(path: Path) -> dict[str, list[str]]:
    """``Section.Key`` → values (systemd allows a key more than once)."""
    out: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return out


def _setting_exists(var: str) -> bool:
    """``WEBFON_<FIELD>`` for a shared field, ``WEBFON_<COMPONENT>_<FIELD>`` otherwise."""
    name = var.removeprefix("WEBFON_").lower()
    shared = {f.name for f in dataclasses.fields(BaseSettings)}
    if name in shared or name == "config_dir":
        return True
    for cls in SETTINGS:
        prefix = cls.component + "_"
        if name.startswith(prefix) and name[len(prefix):] in {
                f.name for f in dataclasses.fields(cls)}:
            return True
    return False


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze comes with systemd (scripts/install-test-deps installs it)"
    names = []
    for unit in UNITS:
        # the units start the installed venv's python: verify checks that it is executable
        text = unit.read_text().replace(INSTALLED_PYTHON, sys.executable)
        name = unit.name.replace("@.service", "@4.service")
        (tmp_path / name).write_text(text)
        names.append(f"./{name}")
    done = subprocess.run([tool, "verify", "--man=no", *names], cwd=tmp_path,
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "" and done.stdout.strip() == "", done.stderr + done.stdout


@pytest.mark.parametrize("unit", [u for u in UNITS if u.suffix == ".service"],
                         ids=lambda u: u.name)
def test_unit_starts_a_component_with_its_clean_stop(unit: Path) -> None:
    keys = _unit(unit)
    (start,) = keys["Service.ExecStart"]
    python, flag, module = start.split()
    assert python == INSTALLED_PYTHON and flag == "-m"
    assert importlib.util.find_spec(f"{module}.__main__") is not None, module
    assert keys["Install.WantedBy"] == ["webfon.target"]
    assert keys["Unit.PartOf"] == ["webfon.target"]
    (signal_name,) = keys["Service.KillSignal"]
    (timeout,) = keys["Service.TimeoutStopSec"]
    if module == "gateway":
        # SIGTERM drains; systemd must wait longer than the drain's own deadline
        assert signal_name == "SIGTERM"
        assert int(timeout) > GatewaySettings().drain_timeout_s
        assert "webfon-pbx.service" in keys["Unit.After"][0], "stopped before the PBX"
    else:
        assert signal_name == "SIGINT"
    for env in keys.get("Service.Environment", []):
        for var in re.findall(r"(WEBFON_[A-Z0-9_]+)=", env):
            assert _setting_exists(var), f"{unit.name}: {var} is no setting"


@pytest.mark.parametrize("example", sorted((DEPLOY / "env").glob("*.example")),
                         ids=lambda p: p.name)
def test_env_examples_name_real_settings(example: Path) -> None:
    names = re.findall(r"^(WEBFON_[A-Z0-9_]+)=", example.read_text(), flags=re.M)
    assert names
    unknown = [n for n in names if not _setting_exists(n)]
    assert not unknown, f"{example.name}: not settings: {unknown}"


def test_nginx_site_is_the_documented_render() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert nginx_config(NGINX_ARGS) == 0
    assert (DEPLOY / "nginx" / "webfon.conf").read_text() == out.getvalue(), (
        "deploy/nginx/webfon.conf is stale: render it again with the command in "
        "docs/DEPLOY.md")
    doc = (ROOT / "docs" / "DEPLOY.md").read_text()
    assert " ".join(NGINX_ARGS[2:4]) in doc and "--gateway 5=10.0.0.6:8188" in doc


def test_fail2ban_files_live_in_deploy() -> None:
    assert (DEPLOY / "fail2ban" / "filter.d" / "webfon-sercen.conf").exists()
    assert (DEPLOY / "fail2ban" / "jail.d" / "webfon-sercen.conf.example").exists()
    assert "webfon-sercen.service" in (
        DEPLOY / "fail2ban" / "jail.d" / "webfon-sercen.conf.example").read_text()
