"""Secrets on disk: the SQLite store (SIP HA1s, password hashes) and voicemail recordings are
readable by the service's own user only, whatever umask the process runs with."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

from webfon.store import open_store

ROOT = Path(__file__).resolve().parents[3]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _cli(*args: str, data: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBFON_")}
    env.update(WEBFON_DATA_DIR=str(data), WEBFON_LOG_LEVEL="warning")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "launcher.cli", *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        preexec_fn=lambda: os.umask(0o022))
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]


async def test_store_and_voicemail_are_private_under_a_permissive_umask(tmp_path: Path) -> None:
    data = tmp_path / "data"
    await _cli("demo-data", data=data)
    db = data / "webfon.db"
    assert mode(data) == 0o700
    assert mode(db) == 0o600
    for suffix in ("-wal", "-shm"):
        extra = db.with_name(db.name + suffix)
        if extra.exists():
            assert mode(extra) == 0o600, extra
    recordings = list((data / "voicemail").rglob("*.wav"))
    assert recordings
    for wav in recordings:
        assert mode(wav) == 0o600, wav
        assert mode(wav.parent) == 0o700, wav.parent


async def test_an_existing_world_readable_store_is_narrowed(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    store = await open_store(f"sqlite:///{db}")
    await store.close()
    os.chmod(db, 0o644)
    store = await open_store(f"sqlite:///{db}")
    try:
        assert mode(db) == 0o600
    finally:
        await store.close()
