"""The sipp harness works here: tone streaming UAC/UAS and the RTP echo, checked by detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.audio import assert_tone
from tests.support.net import wait_until
from tests.support.sipp import Sipp
from webfon.rtp import g711, tones
from webfon.rtp.endpoint import RtpEndpoint, RtpRecorder


@pytest.mark.parametrize("payload_type", [g711.PT_PCMU, g711.PT_PCMA])
async def test_sipp_uac_streams_tone_to_rtp_endpoint(tmp_path: Path, payload_type: int) -> None:
    """sipp UAC (uac_tone) calls a sipp UAS whose answer points media at our RtpEndpoint."""
    rec = RtpRecorder()
    ep = await RtpEndpoint.open("127.0.0.1", on_rtp=rec)
    uas = Sipp("uas_answer_media", calls=1, payload_type=payload_type, timeout=20,
               variables={"rtp_ip": "127.0.0.1", "rtp_port": ep.port},
               workdir=tmp_path / "uas")
    uac = Sipp("uac_tone", uas.sip_address, service="1000", calls=1, duration_ms=2500,
               payload_type=payload_type, tone_hz=440, timeout=20, workdir=tmp_path / "uac")
    for s in (uas, uac):
        s.workdir.mkdir()
    try:
        await uas.start()
        uac_result = await uac.run()
        uas_result = await uas.wait(10)
        assert uac_result.ok and uac_result.successful_calls == 1, uac_result.describe()
        assert uas_result.ok, uas_result.describe()
        assert rec.payload_types == {payload_type}
        assert ep.stats is not None and ep.stats.lost == 0
        assert ep.remote_addr == ("127.0.0.1", uac.media_port)
        assert_tone(rec.samples(), 440, rate=8000, tolerance_hz=5, min_seconds=2.0)
    finally:
        ep.close()
        await uas.stop()
        await uac.stop()


async def test_sipp_uas_streams_tone_to_rtp_endpoint(tmp_path: Path) -> None:
    """sipp UAS (uas_tone) answers a sipp UAC whose offer points media at our RtpEndpoint."""
    rec = RtpRecorder()
    ep = await RtpEndpoint.open("127.0.0.1", on_rtp=rec)
    uas = Sipp("uas_tone", calls=1, tone_hz=660, timeout=20, workdir=tmp_path)
    uac = Sipp("uac_offer_media", uas.sip_address, service="2000", duration_ms=2500, timeout=20,
               variables={"rtp_ip": "127.0.0.1", "rtp_port": ep.port}, workdir=tmp_path / "c")
    uac.workdir.mkdir()
    try:
        await uas.start()
        uac_result = await uac.run()
        uas_result = await uas.wait(10)
        assert uac_result.ok, uac_result.describe()
        assert uas_result.ok and uas_result.successful_calls == 1, uas_result.describe()
        assert_tone(rec.samples(), 660, rate=8000, tolerance_hz=5, min_seconds=2.0)
    finally:
        ep.close()
        await uas.stop()
        await uac.stop()


async def test_sipp_rtp_echo_returns_our_tone(tmp_path: Path) -> None:
    """sipp -rtp_echo (uas_echo) sends our RTP tone back; the call itself completes."""
    uas = Sipp("uas_echo", calls=1, rtp_echo=True, timeout=20, workdir=tmp_path)
    uac = Sipp("uac", uas.sip_address, service="3000", duration_ms=1500, timeout=20,
               workdir=tmp_path / "c")
    uac.workdir.mkdir()
    rec = RtpRecorder()
    ep = await RtpEndpoint.open("127.0.0.1", on_rtp=rec, remote=("127.0.0.1", uas.media_port),
                                latch=False)
    try:
        await uas.start()
        await uac.start()
        await wait_until(lambda: (uas.workdir / "stats.csv").exists(), 10, message="sipp up")
        await ep.play(tones.tone_frames(880, 1.5, g711.PT_PCMU), g711.PT_PCMU)
        await wait_until(lambda: rec.count >= 70, 5, message="echoed packets")
        assert_tone(rec.samples(), 880, rate=8000, tolerance_hz=5, min_seconds=1.2)
        uac_result = await uac.wait()
        uas_result = await uas.wait(10)
        assert uac_result.ok, uac_result.describe()
        assert uas_result.ok and uas_result.successful_calls == 1, uas_result.describe()
    finally:
        ep.close()
        await uas.stop()
        await uac.stop()


@pytest.mark.parametrize("password, ok", [("secret", True), ("wrong", False)])
async def test_sipp_uac_tone_answers_digest_challenge(tmp_path: Path, password: str,
                                                      ok: bool) -> None:
    """uac_tone answers a 407 with -au/-ap credentials (and fails on a 403)."""
    rec = RtpRecorder()
    ep = await RtpEndpoint.open("127.0.0.1", on_rtp=rec)
    uas = Sipp("uas_challenge", timeout=15, workdir=tmp_path,
               variables={"user": "1001", "password": "secret", "rtp_ip": "127.0.0.1",
                          "rtp_port": ep.port})
    uac = Sipp("uac_tone", uas.sip_address, service="2000", duration_ms=1500, tone_hz=550,
               auth_user="1001", auth_password=password, timeout=15, workdir=tmp_path / "c")
    uac.workdir.mkdir()
    try:
        await uas.start()
        uac_result = await uac.run()
        await uas.wait(10)
        assert uac_result.ok is ok, uac_result.describe()
        if ok:
            assert_tone(rec.samples(), 550, rate=8000, tolerance_hz=5, min_seconds=1.0)
            assert "From: <sip:1001@" in uac_result.text("messages.log")
        else:
            assert rec.count == 0
            assert "403 Forbidden" in uac_result.text("messages.log")
    finally:
        ep.close()
        await uas.stop()
        await uac.stop()
