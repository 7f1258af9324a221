"""The PBX-against-Kamailio comparison: calls turned away with 503 are read from sipp's counts,
the table names each system's capacity, CPU per setup, relay cost, GC pauses and 503s, and the
generated Kamailio configuration challenges REGISTER and INVITE and anchors media."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from loadtest.pbx_compare import kamailio_config, print_table, shed_count


def test_shed_calls_are_read_from_the_last_counts_row(tmp_path: Path) -> None:
    (tmp_path / "uac_call_1_counts.csv").write_text(
        "CurrentTime;2_503_Recv;2_407_Recv;9_503_Recv\n"
        "t1;1;5;0\n"
        "t2;3;9;2\n")
    assert shed_count(SimpleNamespace(dir=tmp_path)) == 5  # type: ignore[arg-type]
    assert shed_count(SimpleNamespace(dir=tmp_path / "none")) == 0  # type: ignore[arg-type]


def _setup(rate: float, cpu_ms: float, failed: float, shed: int, ok: bool) -> dict[str, object]:
    return {"offered_cps": rate, "achieved_cps": rate, "cpu_ms_per_call": cpu_ms,
            "cpu_percent": 50.0, "failed_percent_of_admitted": failed, "shed_503": shed,
            "sustained": ok}


def test_the_table_compares_both_systems(capsys: pytest.CaptureFixture[str]) -> None:
    results = {
        "Kamailio + rtpengine": {
            "setups": [_setup(400, 1.2, 0.0, 0, True), _setup(800, 1.3, 2.5, 0, False)],
            "capacity_cps": 400,
            "media": {"calls": 200, "cpu_percent_per_call": 0.16, "cpu_percent": 32.0,
                      "failed": 0}},
        "webfon PBX": {
            "setups": [_setup(400, 1.1, 0.0, 0, True), _setup(800, 1.0, 0.2, 37, True)],
            "capacity_cps": 800,
            "media": {"calls": 200, "cpu_percent_per_call": 0.15, "cpu_percent": 30.0,
                      "failed": 0, "relay_ratio": 1.0, "loss_percent": 0.0},
            "gc": {"max_ms": 12.5, "collections": [40, 20, 0],
                   "max_pause_ms": [3.0, 12.5, 0.0], "cpu_of_max_pause_ms": [2.9, 1.5, 0.0]},
            "overload": {"max_lag_ms": 140.0, "shed": 37}},
    }
    print_table(results, {"cpu": "test CPU", "cores": 2, "system_cpus": [0],
                          "loadgen_cpus": [1]})
    out = capsys.readouterr().out
    lines = {line.split("|")[0].strip(): line for line in out.splitlines() if "|" in line}
    assert "800/s, 1.0 ms CPU/call" in lines["setups at 800/s"]
    assert "37 shed" in lines["setups at 800/s"] and "2.5 % failed" in lines["setups at 800/s"]
    capacity = [c.strip() for c in lines["setups/s sustained on one core"].split("|")]
    assert capacity[1:] == ["400", "800"]
    assert "0.15 % core/call" in lines["relay 200 G.711 calls"]
    gc_line = lines["longest GC pause, its CPU (collections per generation)"]
    assert "12.5 ms, 1.5 ms CPU (40/20/0)" in gc_line  # the CPU of gen 1's, the longest
    assert "140.0 ms, 37" in lines["overload: max loop lag, 503s sent"]


def test_kamailio_authenticates_and_anchors_media() -> None:
    cfg = kamailio_config(5070, 2223, 4)
    assert "listen=udp:127.0.0.1:5070" in cfg and "children=4" in cfg
    assert 'www_challenge("$td", "0")' in cfg and 'proxy_challenge("$fd", "0")' in cfg
    assert "record_route();" in cfg and 'rtpengine_sock", "udp:127.0.0.1:2223"' in cfg
    assert '$sht(users=>2001) = "sip-2001";' in cfg
