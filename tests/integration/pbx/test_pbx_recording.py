"""Call recording with scripted SIP phones: «siempre» records from the answer, «bajo demanda»
starts and stops through the control API (parties only, by their setting; admins by
extension), the stereo WAV holds each party on its channel, files 0600 in 0700 directories,
and expired recordings are deleted."""

from __future__ import annotations

import stat
import wave
from pathlib import Path

import numpy as np
import pytest

from pbx.recording.service import RecordingError
from tests.integration.pbx.pbxrun import RunningPbx
from tests.support.net import wait_until
from tests.support.phone import Phone
from webfon.rtp.detect import tone_levels


async def talking(pbx: RunningPbx) -> tuple[Phone, Phone]:
    a = await pbx.registered("2001")
    b = await pbx.registered("2002")
    a.tone_hz, b.tone_hz = 440.0, 700.0
    a.dial("1002", pbx.host, pbx.port)
    b.answer(await b.incoming())
    b.send_tone()
    await a.wait_answered(5)
    await a.wait_hearing(700.0, timeout=5)
    return a, b


async def finished(pbx: RunningPbx) -> list[dict]:
    async def done() -> list[dict]:
        rows = await pbx.store.fetchall("SELECT * FROM recordings ORDER BY id")
        return rows if rows and all(r["state"] != "recording" for r in rows) else []

    await wait_until(done, timeout=10)
    return await done()


def channels(path: str) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(path, "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 2, 2)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    return samples[:, 0], samples[:, 1]


async def test_always_records_both_parties_each_on_its_channel(pbx: RunningPbx) -> None:
    await pbx.store.execute("UPDATE users SET recording_mode = 'always' WHERE id = ?",
                            (pbx.ids["user1001"],))
    a, b = await talking(pbx)
    await b.wait_hearing(440.0, timeout=5)
    with pytest.raises(RecordingError) as refused:  # «siempre» cannot be stopped on demand
        await pbx.engine.recordings.control("stop", extension=None, call_id=a.call.call_id,
                                            user_id=pbx.ids["user1001"], admin=False)
    assert refused.value.status == 409
    await a.hangup()
    [row] = await finished(pbx)
    assert row["state"] == "done" and row["reason"] == "always"
    assert row["owner_user_id"] == pbx.ids["user1001"] and row["duration_s"] > 0.5
    await pbx.core.cdr.flush()
    cdr = await pbx.store.fetchval("SELECT COUNT(*) FROM cdr WHERE call_id = ?",
                                   (row["call_id"],))
    assert cdr >= 1  # linked to the call's history
    left, right = channels(row["path"])
    assert tone_levels(left, 8000, [440.0, 700.0])[0] > -30  # the caller, left
    lv = tone_levels(right, 8000, [440.0, 700.0])
    assert lv[1] > -30 and lv[0] < -45  # the other party, right
    path = Path(row["path"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (path.parent, path.parent.parent, pbx.settings.recordings_path):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not list((pbx.settings.recordings_path / ".partial").iterdir())


async def test_on_demand_start_stop_who_may(pbx: RunningPbx) -> None:
    await pbx.store.execute("UPDATE users SET recording_mode = 'on_demand' WHERE id = ?",
                            (pbx.ids["user1002"],))
    a, b = await talking(pbx)
    rec = pbx.engine.recordings
    call_id = a.call.call_id
    # 1001 has «sin grabación»; 1003 is not in the call; 1002 may
    with pytest.raises(RecordingError) as err:
        await rec.control("start", call_id=call_id, user_id=pbx.ids["user1001"], admin=False)
    assert err.value.status == 403
    with pytest.raises(RecordingError) as err:
        await rec.control("start", call_id=call_id, user_id=pbx.ids["user1003"], admin=False)
    assert err.value.status == 404
    with pytest.raises(RecordingError) as err:
        await rec.control("start", extension="2002", user_id=pbx.ids["user1002"], admin=False)
    assert err.value.status == 403  # by extension: admins only
    # the callee knows its own leg's Call-ID, not the caller's
    own = next(iter(b.calls))
    started = await rec.control("start", call_id=own, user_id=pbx.ids["user1002"],
                                admin=False)
    assert started["state"] == "recording" and started["call_id"] == call_id
    stopped = await rec.control("stop", call_id=call_id, user_id=pbx.ids["user1002"],
                                admin=False)
    assert stopped["recording_id"] == started["recording_id"]
    # an admin by extension, InfoWS-style: owned by the party on that extension
    again = await rec.control("start", extension="2002", user_id=pbx.ids["user1003"],
                              admin=True)
    await a.hangup()
    rows = await finished(pbx)
    assert [r["id"] for r in rows] == [started["recording_id"], again["recording_id"]]
    assert [r["owner_user_id"] for r in rows] == [pbx.ids["user1002"]] * 2
    assert all(r["reason"] == "on_demand" and r["state"] == "done" for r in rows)


async def test_expired_recordings_are_deleted(pbx: RunningPbx) -> None:
    await pbx.store.execute("UPDATE extensions SET recording_mode = 'always' WHERE number = "
                            "'2002'")
    a, _ = await talking(pbx)
    await a.hangup()
    [row] = await finished(pbx)
    assert Path(row["path"]).exists()
    await pbx.store.execute("UPDATE recordings SET expires_at = 0")
    assert await pbx.engine.recordings.sweep() == 1
    assert not Path(row["path"]).exists()
    assert await pbx.store.fetchval("SELECT COUNT(*) FROM recordings") == 0
