"""A component's log file under ``webfon up`` is rotated past its size: name.log, then
name.log.1 … name.log.N, the oldest dropped, no line lost or split between the kept files."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.logfile import RotatingLog


def test_rotates_past_the_size_and_keeps_the_backups(tmp_path: Path) -> None:
    path = tmp_path / "pbx.log"
    log = RotatingLog(path, max_bytes=100, backups=2)
    lines = [f"line {i:03d} " + "x" * 20 + "\n" for i in range(20)]  # 30 bytes each
    for line in lines:
        log.write(line)
    log.close()
    kept = [path.with_name("pbx.log.2"), path.with_name("pbx.log.1"), path]
    assert not path.with_name("pbx.log.3").exists()
    texts = [p.read_text() for p in kept]
    assert all(len(t.encode()) <= 100 for t in texts)
    # the newest lines, in order, whole: three per file (a fourth would pass 100 bytes)
    assert "".join(texts) == "".join(lines[-8:])


def test_an_existing_file_counts_and_a_long_line_is_kept_whole(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    path.write_text("a" * 90 + "\n")
    log = RotatingLog(path, max_bytes=100, backups=1)
    log.write("b" * 150 + "\n")  # over the size on its own: written, then rotated
    log.write("c\n")
    log.close()
    assert path.with_name("gateway.log.1").read_text() == "b" * 150 + "\n"
    assert path.read_text() == "c\n"


def test_no_backups_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "front.log"
    log = RotatingLog(path, max_bytes=10, backups=0)
    log.write("12345678\n")
    log.write("abc\n")
    log.close()
    assert path.read_text() == "abc\n"
    assert list(tmp_path.iterdir()) == [path]


def test_bad_limits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        RotatingLog(tmp_path / "x.log", max_bytes=0)
