"""Reading a received REFER: Refer-To target, 400s for a missing or bad one, Replaces."""

from __future__ import annotations

from typing import Any

from webfon.sip import parse_message
from webfon.sip.refer import refer_target, replaces_of


class Answers:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str | None]] = []

    def respond(self, status: int, reason: str | None = None, **_: Any) -> None:
        self.sent.append((status, reason))


def refer(refer_to: str | None) -> Any:
    lines = ["REFER sip:alice@127.0.0.1 SIP/2.0",
             "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1",
             "From: <sip:bob@127.0.0.1>;tag=a", "To: <sip:alice@127.0.0.1>;tag=b",
             "Call-ID: c1", "CSeq: 2 REFER", "Max-Forwards: 70"]
    if refer_to is not None:
        lines.append(f"Refer-To: {refer_to}")
    return parse_message(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())


def test_target_and_replaces() -> None:
    tx = Answers()
    target = refer_target(refer("<sip:carol@127.0.0.1?Replaces=x1%3Bto-tag%3Dt%3Bfrom-tag%3Df>"),
                          tx)
    assert target is not None and tx.sent == []
    assert target.uri.user == "carol"
    assert replaces_of(target) == "x1;to-tag=t;from-tag=f"
    plain = refer_target(refer("<sip:dave@127.0.0.1>"), tx)
    assert plain is not None and replaces_of(plain) is None


def test_missing_or_bad_refer_to_is_answered_400() -> None:
    tx = Answers()
    assert refer_target(refer(None), tx) is None
    assert refer_target(refer("<not a uri"), tx) is None
    assert tx.sent == [(400, "Missing Refer-To"), (400, "Bad Refer-To")]
