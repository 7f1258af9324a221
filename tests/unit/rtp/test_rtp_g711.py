"""G.711 against reference values of the classic public-domain g711.c codec."""

from __future__ import annotations

import numpy as np
import pytest

from webfon.rtp import g711

SAMPLES = [0, 1, -1, 2, -2, 7, -8, 100, -100, 1000, -1000, 4000, -4000, 12345, -12345,
           32767, -32768]
ULAW_CODES = [255, 255, 126, 255, 126, 254, 126, 242, 114, 206, 78, 175, 47, 151, 23, 128, 0]
ALAW_CODES = [213, 213, 85, 213, 85, 213, 85, 211, 83, 250, 122, 154, 26, 189, 61, 170, 42]

CODES = [0x00, 0x0F, 0x3C, 0x7E, 0x80, 0x9A, 0xEF, 0xFE, 0x01, 0x55, 0xD5, 0x2A, 0xAA, 0x13,
         0x93]
ULAW_VALUES = [-32124, -16764, -2364, -8, 32124, 10876, 132, 8, -31100, -716, 716, -5372, 5372,
               -14460, 14460]
ALAW_VALUES = [-5504, -6784, -13056, -880, 5504, 4032, 1696, 880, -5248, -8, 8, -32256, 32256,
               -2880, 2880]


def test_encode_reference_values() -> None:
    x = np.array(SAMPLES, dtype=np.int16)
    assert list(g711.ulaw_encode(x)) == ULAW_CODES
    assert list(g711.alaw_encode(x)) == ALAW_CODES
    assert g711.ulaw_encode(x.astype("<i2").tobytes()) == bytes(ULAW_CODES)


def test_decode_reference_values() -> None:
    assert g711.ulaw_decode(bytes(CODES)).tolist() == ULAW_VALUES
    assert g711.alaw_decode(bytes(CODES)).tolist() == ALAW_VALUES


def test_every_code_roundtrips() -> None:
    codes = bytes(range(256))
    u = g711.ulaw_encode(g711.ulaw_decode(codes))
    a = g711.alaw_encode(g711.alaw_decode(codes))
    # µ-law has two zeros (0x7F, 0xFF): both decode to 0, which encodes as 0xFF
    assert [c for c in range(256) if u[c] != c] == [0x7F]
    assert a == codes


def test_quantisation_error_is_bounded_and_monotonic() -> None:
    x = np.arange(-32768, 32768, 7, dtype=np.int32)
    for enc, dec in ((g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)):
        y = dec(enc(x.astype(np.int16))).astype(np.int32)
        assert np.all(np.diff(y) >= 0)
        err = np.abs(y - x)
        # relative error of a logarithmic 8-bit code stays under ~6.5 % above the linear zone
        big = np.abs(x) > 1024
        assert np.all(err[big] <= 0.065 * np.abs(x[big]))
        assert np.all(err[~big] <= 64)


def test_transcoding_tables_match_pcm_path() -> None:
    codes = bytes(range(256))
    assert g711.ulaw_to_alaw(codes) == g711.alaw_encode(g711.ulaw_decode(codes))
    assert g711.alaw_to_ulaw(codes) == g711.ulaw_encode(g711.alaw_decode(codes))


def test_silence_and_dispatch() -> None:
    assert g711.decode(g711.silence(0), 0).tolist() == [0] * 160
    assert set(g711.decode(g711.silence(8, 20), 8).tolist()) == {8}
    assert g711.encode(np.zeros(3, np.int16), 8) == b"\xd5\xd5\xd5"
    with pytest.raises(ValueError):
        g711.decode(b"x", 9)
