"""The load test report: model, sizing tables, plots and HTML from saved results (nothing is
measured here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest import cli, report


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


def _run_doc() -> dict:
    """A saved run with two gateways, as the controller writes it."""
    doc = _doc()
    main = {"name": "webfon gateway + 2 media workers", "url": "ws://127.0.0.1:1/janus",
            "server_usage_from": "from /proc", "calls": doc["calls"],
            "users": {"steps": [{**u, "generator_rss_mb": 200 + 0.02 * u["users"],
                                 "registrar": {"bindings": u["users"], "active": u["users"],
                                               "lapsed": 0, "late_refreshes": 0,
                                               "refreshes": u["users"]}}
                                for u in doc["users"]["steps"]],
                      "stopped": "completed", "register_expires_s": 60}}
    compare = {"name": "janus 1.1.2 <b>", "url": "ws://10.98.1.2:2/janus",
               "calls": {"steps": [{**s, "cpu_pct": (s["cpu_pct"] or 0) * 1.5}
                                   for s in doc["calls"]["steps"]], "stopped": "completed"}}
    return {"targets": [main, compare], "machine": {"cpus": 2, "date": "today"},
            "command": "webfon loadtest --compare janus", "workers": {"local": 2}}


def test_write_report_draws_every_plot_and_embeds_them(tmp_path: Path) -> None:
    doc = _run_doc()
    html = report.write_report(doc, tmp_path, [100, 500], [1000, 10000], 1.5, 2.0, 40.0,
                               "g711")
    names = {p.name for p in tmp_path.glob("*.png")}
    assert {"cpu.png", "cpu_per_call.png", "memory.png", "loss.png", "jitter.png", "mos.png",
            "setup.png", "bandwidth.png", "users_memory.png", "users_cpu.png",
            "users_registrations.png"} <= names
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    page = html.read_text()
    assert page.count("data:image/png;base64,") == len(names)
    assert "janus 1.1.2 &lt;b&gt;" in page and "janus 1.1.2 <b>" not in page
    assert "Sizing: measured beside the seed" in page and "headroom" in page
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["planning"]["headroom"] == 1.5
    main, compare = saved["targets"]
    assert main["sizing"]["calls"][1]["seed_cores"] == 17
    assert compare["model"]["calls"]["cpu_pct_per_call"] == pytest.approx(0.6)
    assert main["users_summary"]["server_kib_per_user"] == pytest.approx(0.04 * 1024, abs=0.1)
    assert main["users_summary"]["generator_kib_per_user"] == pytest.approx(0.02 * 1024, abs=0.1)
    assert main["users_summary"]["all_refreshed_in_time"] is True


def test_report_command_replans_a_saved_run(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(_run_doc()))
    out = tmp_path / "out"
    assert cli.main(["report", str(saved), "--out", str(out), "--plan", "200",
                     "--headroom", "2"]) == 0
    assert "report.html" in capsys.readouterr().out
    written = json.loads((out / "report.json").read_text())
    # (200 * 0.4 + 1) % * 2 = 1.62 cores + 2 -> 4
    assert written["targets"][0]["sizing"]["calls"][0]["measured_cores"] == 4
    (tmp_path / "bad.json").write_text("[]")
    assert cli.main(["report", str(tmp_path / "bad.json"), "--out", str(out)]) == 2
    assert cli.main(["report", str(tmp_path / "missing.json"), "--out", str(out)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_command_line_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--calls", "10,x"])
    with pytest.raises(SystemExit):
        cli.main(["--no-calls", "--no-users"])
    assert "nothing to measure" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["http://example.invalid/janus"])
    assert "expected webfon, janus or a Janus WebSocket URL" in capsys.readouterr().err


def test_plots_without_matplotlib_are_a_clear_error(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(RuntimeError, match=r"pip install -e '\.\[loadtest\]'"):
        report.write_report(_run_doc(), tmp_path, [100], [1000], 1.5, 2.0, 40.0, "g711")
    assert not list(tmp_path.glob("*.png"))
