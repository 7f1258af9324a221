"""Sizing report and command line, from saved results (nothing is measured here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest import report, sizing


def _doc() -> dict:
    calls = [{"calls": 0, "established": 0, "cpu_pct": 1.0, "rss_mb": 90.0}]
    calls += [{"calls": n, "established": n, "cpu_pct": 1 + 0.4 * n, "rss_mb": 90 + 0.2 * n,
               "setup_ms_p50": 50.0, "setup_ms_p95": 90.0, "loss_pct": 0.0,
               "jitter_ms_mean": 0.3, "rtt_ms_p50": 1.0, "rtt_ms_p99": 4.0, "mos": 4.4,
               "webrtc_kbit_per_call": 88.0, "sip_kbit_per_call": 80.0} for n in (10, 50)]
    users = [{"users": u, "rss_mb": 90 + 0.04 * u, "cpu_pct": 0.002 * u} for u in (0, 100, 500)]
    return {"calls": {"target": "webfon gateway", "steps": calls, "stopped": "completed"},
            "users": {"target": "webfon gateway", "steps": users}}


def test_build_report_fills_model_and_tables() -> None:
    doc = _doc()
    text = report.build_report(doc, [100, 500], [1000], headroom=1.5, base_cores=2)
    assert doc["model"]["calls"]["cpu_pct_per_call"] == pytest.approx(0.4)
    assert [r["seed_cores"] for r in doc["sizing"]["calls"]] == [5, 17]
    assert doc["sizing"]["users"][0]["gateway_rss_mb"] == pytest.approx(130)
    assert "0.400 % of a core per call" in text
    assert "250 calls per fully busy core" in text
    assert "## Sizing" in text and "## Connected users" in text
    # the idle step is used by the fit but not listed as a measured step
    steps_section = text.split("## Per-call model")[0]
    assert "|     0 |" not in steps_section


def test_fill_mos_only_where_missing() -> None:
    steps = [{"calls": 5, "loss_pct": 0.0, "rtt_ms_p50": 2.0},
             {"calls": 6, "loss_pct": 0.0, "rtt_ms_p50": 2.0, "mos": 1.5},
             {"calls": 7, "cpu_pct": 3.0}]
    report.fill_mos(steps, 40.0, "g711")
    assert steps[0]["mos"] == pytest.approx(4.38, abs=0.01)
    assert steps[0]["mouth_to_ear_ms"] == 61.0
    assert steps[1]["mos"] == 1.5
    assert "mos" not in steps[2]


def test_load_saved_reads_gateway_bench_lines(tmp_path: Path) -> None:
    lines = tmp_path / "bench.jsonl"
    lines.write_text("# machine: 2 cpus\n" + "\n".join(json.dumps(x) for x in [
        {"target": "webfon gateway", "calls": 50, "established": 50, "cpu_pct": 20.0,
         "rss_mb": 100.0},
        {"target": "janus 1.1.2", "calls": 50, "established": 50, "cpu_pct": 25.0,
         "rss_mb": 30.0},
        {"target": "webfon gateway", "calls": 10, "established": 10, "cpu_pct": 5.0,
         "rss_mb": 95.0}]) + "\n")
    doc = sizing.load_saved([lines], "webfon")
    assert [s["calls"] for s in doc["calls"]["steps"]] == [10, 50]
    janus = sizing.load_saved([lines], "janus")
    assert [s["cpu_pct"] for s in janus["calls"]["steps"]] == [25.0]


def test_load_saved_reports_the_bad_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"calls": 1, "cpu_pct": 1}\nnot json\n')
    with pytest.raises(SystemExit, match=r"bad\.jsonl:2: not JSON"):
        sizing.load_saved([bad], "webfon")
    with pytest.raises(SystemExit, match="cannot read"):
        sizing.load_saved([tmp_path / "missing.json"], "webfon")


def test_command_line_replans_a_saved_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) \
        -> None:
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(_doc()))
    out = tmp_path / "plan.json"
    code = sizing.main(["--from-json", str(saved), "--plan", "200", "--headroom", "2",
                        "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "|   200 |          8 |" in printed
    written = json.loads(out.read_text())
    assert written["config"]["headroom"] == 2
    # (200 * 0.4 + 1) % * 2 = 1.62 cores + 2 -> 4
    assert written["sizing"]["calls"][0]["measured_cores"] == 4
    assert written["calls"]["steps"][1]["mos"] == 4.4


def test_command_line_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        sizing.main(["--calls", "10,x"])
    with pytest.raises(SystemExit):
        sizing.main(["--no-calls", "--no-users"])
    assert "nothing to measure" in capsys.readouterr().err


def test_steps_left_out_of_the_model_are_marked() -> None:
    doc = _doc()
    doc["calls"]["steps"].append({**doc["calls"]["steps"][-1], "calls": 80, "established": 80,
                                  "cpu_pct": 5.0, "over_limit": True})
    doc["calls"]["steps"].append({**doc["calls"]["steps"][-1], "calls": 90, "established": 90,
                                  "cpu_pct": 5.0, "valid": False, "over_limit": False})
    text = report.build_report(doc, [100], [], headroom=1.5, base_cores=2)
    assert "|   80! |" in text and "|   90* |" in text
    assert "1 step(s) * left out" in text and "1 step(s) ! left out" in text
    assert doc["model"]["calls"]["cpu_pct_per_call"] == pytest.approx(0.4)


def test_plot_without_matplotlib_is_a_clear_error(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from loadtest.plot import write_plot

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(RuntimeError, match=r"pip install -e '\.\[loadtest\]'"):
        write_plot(_doc(), tmp_path / "p.png")
    assert not (tmp_path / "p.png").exists()
