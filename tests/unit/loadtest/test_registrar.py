"""The idle-users registrar: digest authentication, granted expiry, refresh bookkeeping."""

from __future__ import annotations

from loadtest.registrar import Registrar
from loadtest.webphone import user_secret
from webfon.sip.digest import DigestClient
from webfon.sip.message import Request, Response, parse_message

HOST = "127.0.0.1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _register(user: str, cseq: int, expires: int = 3600) -> Request:
    text = (f"REGISTER sip:{HOST}:5060 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:6000;branch=z9hG4bK{user}{cseq};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:{user}@{HOST}>;tag=a{user}\r\n"
            f"To: <sip:{user}@{HOST}>\r\nCall-ID: reg-{user}\r\nCSeq: {cseq} REGISTER\r\n"
            f"Contact: <sip:{user}@{HOST}:6000>\r\nExpires: {expires}\r\n"
            "Content-Length: 0\r\n\r\n")
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


def _authorized(reg: Registrar, user: str, password: str, cseq: int,
                expires: int = 3600) -> Response:
    request = _register(user, cseq, expires)
    challenge = reg.handle(request)
    assert challenge.status == 401
    retry = DigestClient(user, password).authorize(request, challenge)
    assert retry is not None
    return reg.handle(retry)


def test_registration_is_challenged_then_granted_the_registrars_expiry() -> None:
    reg = Registrar(expires=30, clock=Clock())
    ok = _authorized(reg, "idle7", user_secret(7), 1)
    assert ok.status == 200
    assert ok.expires == 30 and ok.contact is not None
    stats = reg.stats()
    assert stats.bindings == 1 and stats.active == 1 and stats.registrations == 1


def test_wrong_password_or_foreign_user_is_refused() -> None:
    reg = Registrar(expires=30, clock=Clock())
    assert _authorized(reg, "idle7", "guess", 1).status == 403
    assert _authorized(reg, "alice", "pw-1", 1).status == 403
    assert reg.stats().bindings == 0 and reg.rejected == 2
    assert reg.handle(parse_message(
        _register("idle1", 1).encode().replace(b"REGISTER", b"OPTIONS"))).status == 405


def test_refreshes_in_time_late_and_missing() -> None:
    clock = Clock()
    reg = Registrar(expires=30, clock=clock)
    for n in (1, 2, 3):
        assert _authorized(reg, f"idle{n}", user_secret(n), 1).status == 200
    clock.now += 24  # idle1 refreshes at 80 % of the interval
    assert _authorized(reg, "idle1", user_secret(1), 2).status == 200
    clock.now += 10  # 34 s: idle2 refreshes after its binding expired
    assert _authorized(reg, "idle2", user_secret(2), 2).status == 200
    stats = reg.stats()  # idle3 never refreshed
    assert stats.refreshes == 2 and stats.late_refreshes == 1
    assert stats.lapsed == 1 and stats.active == 2
    assert stats.to_dict()["refresh_gap_s_max"] >= 33


def test_unregister_removes_the_binding() -> None:
    reg = Registrar(expires=30, clock=Clock())
    _authorized(reg, "idle4", user_secret(4), 1)
    assert _authorized(reg, "idle4", user_secret(4), 2, expires=0).status == 200
    assert reg.stats().bindings == 0
