"""TOTP helpers: RFC 6238 codes, the matching step, enrolment URI and QR image."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlparse

import pyotp

from sercen import totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_763_780_015.0  # inside a step, away from its edges


def test_codes_match_pyotp_reference() -> None:
    ref = pyotp.TOTP(SECRET)
    assert totp.code_at(SECRET, totp.current_step(NOW)) == ref.at(NOW)


def test_matching_step_window() -> None:
    step = totp.current_step(NOW)
    for delta in (-1, 0, 1):
        code = totp.code_at(SECRET, step + delta)
        assert totp.matching_step(SECRET, code, window=1, now=NOW) == step + delta
    assert totp.matching_step(SECRET, totp.code_at(SECRET, step - 2), window=1, now=NOW) is None
    assert totp.matching_step(SECRET, totp.code_at(SECRET, step - 2), window=2,
                              now=NOW) == step - 2
    assert totp.matching_step(SECRET, totp.code_at(SECRET, step + 1), window=0, now=NOW) is None


def test_malformed_codes_rejected() -> None:
    for code in ("", "12345", "1234567", "abcdef", "12 456"):
        assert totp.matching_step(SECRET, code, window=1, now=NOW) is None


def test_enrolment_material() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32 and secret != totp.new_secret()
    uri = totp.provisioning_uri(secret, "1001", "webfon")
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    query = parse_qs(parsed.query)
    assert query["secret"] == [secret] and query["issuer"] == ["webfon"]
    png = base64.b64decode(totp.qr_png_base64(uri))
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 200
