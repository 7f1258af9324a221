"""``webfon logs NAME``: the last lines of one process's log, as the console shows them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.cli import main


def test_logs_prints_the_tail_of_one_process(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log"
    log.mkdir()
    lines = [json.dumps({"ts": 1.0 + i, "level": "info", "component": "gateway",
                         "event": f"event {i}"}) for i in range(5)]
    (log / "gateway-5.log").write_text("\n".join(lines) + "\n")
    assert main(["logs", "gateway-5", "--no-follow", "-n", "2", "--log-format", "json",
                 "--data-dir", str(tmp_path)]) == 0
    shown = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in shown] == ["event 3", "event 4"]
    assert all(e["instance"] == "gateway-5" for e in shown)


def test_logs_of_an_unknown_process_names_the_known_ones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "pbx.log").write_text("")
    assert main(["logs", "gateway-9", "--no-follow", "--data-dir", str(tmp_path)]) == 1
    assert "there are: pbx" in capsys.readouterr().err
