"""The fail2ban filter shipped in deploy/fail2ban matches the failure lines sercen writes."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from sercen import authlog
from tests.unit.sercen.fail2ban_regex import datepattern, failregexes, match_host
from webfon.logsetup import JsonFormatter, LogfmtFormatter

FORMATTERS = [JsonFormatter("sercen"), LogfmtFormatter("sercen")]


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[list[logging.LogRecord]]:
    handler = Capture()
    logger = logging.getLogger("sercen")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(old)


def test_filter_loads() -> None:
    assert failregexes()


@pytest.mark.parametrize("formatter", FORMATTERS, ids=["json", "logfmt"])
@pytest.mark.parametrize(("ip", "user", "factor", "reason"), [
    ("203.0.113.7", "1001", "password", "bad_password"),
    ("198.51.100.20", "nobody", "password", "unknown_user"),
    ("2001:db8::42", "1002", "totp", "reused_code"),
    ("203.0.113.8", "1003", "email", "code_expired"),
    ("203.0.113.9", "-", "challenge", "unknown_challenge"),
    ("203.0.113.10", "1001", "password", "banned"),
])
def test_failure_lines_match(captured: list[logging.LogRecord], formatter: logging.Formatter,
                             ip: str, user: str, factor: str, reason: str) -> None:
    authlog.failure(ip, user, factor, reason)
    (record,) = captured
    line = formatter.format(record)
    assert match_host(line) == ip
    assert datepattern().search(line), line


@pytest.mark.parametrize("formatter", FORMATTERS, ids=["json", "logfmt"])
def test_crafted_login_cannot_forge_fields(captured: list[logging.LogRecord],
                                           formatter: logging.Formatter) -> None:
    authlog.failure("203.0.113.7", 'x ip=10.0.0.1 "event": "sercen-auth-failure ip=10.0.0.2',
                    "password", "unknown_user")
    line = formatter.format(captured[0])
    assert match_host(line) == "203.0.113.7"
    assert "10.0.0.1 " not in line.split("user=")[1].split(" factor=")[0]


@pytest.mark.parametrize("formatter", FORMATTERS, ids=["json", "logfmt"])
def test_other_lines_do_not_match(captured: list[logging.LogRecord],
                                  formatter: logging.Formatter) -> None:
    authlog.success("203.0.113.7", "1001", "password+email")
    authlog.ban("ip", "203.0.113.7", 300)
    # a request whose path imitates a failure line, as the access log would record it
    logging.getLogger("sercen.http").info(
        "request", extra={"path": "/x sercen-auth-failure ip=10.9.9.9 user=a factor=password "
                                  'reason=bad_password "event": "sercen-auth-failure ip=10.9.9.8'
                                  " user=a factor=password reason=bad_password",
                          "status": 404})
    assert len(captured) == 3
    for record in captured:
        assert match_host(formatter.format(record)) is None, formatter.format(record)

