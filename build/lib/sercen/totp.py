"""TOTP (RFC 6238, pyotp): enrolment material and verification that reports the time step.

The caller stores the accepted step and refuses any step not later than it, so a code that
has been accepted once is never accepted again, not even within its own 30 s window.
"""

from __future__ import annotations

import base64
import hmac
import io
import time

import pyotp
import qrcode
from qrcode.image.pure import PyPNGImage

INTERVAL = 30
DIGITS = 6


def new_secret() -> str:
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=account, issuer_name=issuer)


def qr_png_base64(text: str) -> str:
    image = qrcode.make(text, image_factory=PyPNGImage, box_size=6, border=2)
    buf = io.BytesIO()
    image.save(buf)
    return base64.b64encode(buf.getvalue()).decode()


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // INTERVAL)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).at(step * INTERVAL)


def matching_step(secret: str, code: str, window: int = 1,
                  now: float | None = None) -> int | None:
    """The latest step within ``window`` of now whose code equals ``code``, or None.

    Every candidate is compared (constant time each) so the time taken does not depend on
    which step matched.
    """
    if len(code) != DIGITS or not code.isdigit():
        return None
    base = current_step(now)
    found: int | None = None
    for step in range(base - window, base + window + 1):
        if hmac.compare_digest(code_at(secret, step), code):
            found = step
    return found
