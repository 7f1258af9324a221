"""``webfon up``'s console lines and the processes it plans for each shape."""

from __future__ import annotations

import io
import json
import signal
from pathlib import Path

import pytest

from launcher.console import Console, plain_level, pretty_wanted
from launcher.topology import STAGE_CORE, STAGE_EDGE, STAGE_FRONT, STAGE_INFRA, UpOptions, plan

LINE = json.dumps({"ts": 1700000000.5, "level": "warning", "component": "gateway",
                   "logger": "gateway.lease", "event": "node heartbeat not written",
                   "node_id": 5, "error": "mysql: gone away"})


def test_json_lines_name_their_process() -> None:
    out = io.StringIO()
    console = Console(out, pretty=False)
    console.line("gateway-5", LINE + "\n")
    console.line("nginx", "2024/01/01 10:00:00 [warn] 12#12: upstream timed out\n")
    first, second = (json.loads(x) for x in out.getvalue().splitlines())
    assert first["instance"] == "gateway-5" and first["event"] == "node heartbeat not written"
    assert second["instance"] == "nginx" and second["level"] == "warning"
    assert "upstream timed out" in second["event"]


def test_pretty_lines_are_coloured_per_process_and_level() -> None:
    out = io.StringIO()
    console = Console(out, pretty=True)
    console.line("gateway-5", LINE)
    console.line("pbx", json.dumps({"ts": 1.0, "level": "info", "event": "pbx ready",
                                    "sip_port": 5060}))
    gw, pbx = out.getvalue().splitlines()
    assert "gateway-5" in gw and "WARNI" in gw and "node heartbeat not written" in gw
    assert "node_id=" in gw and "error=" in gw and '"mysql: gone away"' in gw
    assert "\033[33m" in gw  # warning in yellow
    assert console.colour("gateway-5") != console.colour("pbx")
    assert "sip_port=" in pbx and "5060" in pbx


def test_pretty_only_on_a_terminal_unless_asked() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert pretty_wanted("auto", Tty()) and not pretty_wanted("auto", io.StringIO())
    assert pretty_wanted("pretty", io.StringIO()) and not pretty_wanted("json", Tty())
    assert plain_level("2024-01-01 [ERROR] InnoDB: x") == "error"
    assert plain_level("1:M 01 Jan # WARNING overcommit") == "warning"
    assert plain_level("Ready to accept connections") == "info"


def test_embedded_plan_is_the_default_stack(tmp_path: Path) -> None:
    p = plan(UpOptions(), tmp_path, database_url="", base_node_id=4, environ={})
    names = [s.name for s in p.specs]
    assert names == ["sercen", "pbx", "fonbo", "gateway", "web"]
    assert p.mariadb is None and p.nginx is None and "WEBFON_BUS_URL" not in p.env
    assert p.entry_url == "http://127.0.0.1:8080/"
    assert p.specs[3].env == {"WEBFON_GATEWAY_LOCAL_NODO_ID": "4"}


def test_production_plan(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    options = UpOptions.for_profile("production")
    options.nodes = 3
    p = plan(options, tmp_path, database_url="", base_node_id=4, cpus=2, environ={})
    by_name = {s.name: s for s in p.specs}
    assert set(by_name) == {"mariadb", "redis", "sercen", "pbx", "fonbo", "gateway-4",
                            "gateway-5", "gateway-6", "nginx"}
    stages = {name: s.stage for name, s in by_name.items()}
    assert stages["mariadb"] == stages["redis"] == STAGE_INFRA
    assert stages["pbx"] == stages["sercen"] == STAGE_CORE
    assert stages["gateway-5"] == stages["fonbo"] == STAGE_EDGE
    assert stages["nginx"] == STAGE_FRONT
    ports = [by_name[f"gateway-{n}"].port for n in (4, 5, 6)]
    assert ports == [8188, 8189, 8190]
    ranges = [by_name[f"gateway-{n}"].env["WEBFON_GATEWAY_RTP_PORT_RANGE"] for n in (4, 5, 6)]
    assert ranges == ["40000-40999", "41000-41999", "42000-42999"]
    assert all(by_name[f"gateway-{n}"].env["WEBFON_GATEWAY_MEDIA_WORKERS"] == "1"
               for n in (4, 5, 6))
    assert p.env["WEBFON_DATABASE_URL"].startswith("mysql://webfon:")
    assert p.env["WEBFON_DATABASE_URL"].endswith("@127.0.0.1:3307/webfon")
    assert p.env["WEBFON_BUS_URL"] == p.env["WEBFON_REDIS_URL"] == "redis://127.0.0.1:6380/0"
    # nginx reaches sercen on its Unix socket (sercen trusts nginx's client address there)
    sock = tmp_path / "run" / "sercen.sock"
    assert p.env["WEBFON_SERCEN_UNIX_SOCKET"] == str(sock)
    assert by_name["nginx"].stop_signal == signal.SIGQUIT
    site = (tmp_path / "nginx" / "webfon-site.conf").read_text()
    assert "server 127.0.0.1:8190 max_fails" in site and "webfon_gateway_6" in site
    assert "listen 127.0.0.1:8443 ssl" in site and "listen 127.0.0.1:8080;" in site
    assert f"server unix:{sock} max_fails" in site
    assert (tmp_path / "tls" / "webfon-selfsigned.key").stat().st_mode & 0o077 == 0
    assert p.entry_url == "https://localhost:8443/"


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nginx"):
        plan(UpOptions(nodes=2, nginx=False), tmp_path, database_url="", base_node_id=4,
             environ={})
    with pytest.raises(ValueError, match="--redis"):
        plan(UpOptions(redis="yes"), tmp_path, database_url="", base_node_id=4, environ={})
    with pytest.raises(ValueError, match="tls"):
        plan(UpOptions(nginx=True, tls_cert="/c"), tmp_path, database_url="", base_node_id=4,
             environ={})
