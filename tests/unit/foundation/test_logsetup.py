"""Structured log lines: one JSON object per event, ids attached, secrets never written."""

from __future__ import annotations

import json
import logging

from webfon.logsetup import JsonFormatter, LogfmtFormatter, bind


def _record(msg: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "t", "levelname": "INFO", "msg": msg})
    for k, v in extra.items():
        setattr(record, k, v)
    return record


def test_json_line_with_ids_and_redaction() -> None:
    fmt = JsonFormatter("gateway")
    with bind(session_id=12, handle_id=34):
        line = fmt.format(_record("call answered", call_id="abc@x", password="hunter2",
                                  sip_ha1="deadbeef", status_code=200))
    data = json.loads(line)
    assert data["component"] == "gateway" and data["event"] == "call answered"
    assert data["session_id"] == 12 and data["handle_id"] == 34 and data["call_id"] == "abc@x"
    assert data["password"] == "***" and data["sip_ha1"] == "***"
    assert data["status_code"] == 200
    assert "hunter2" not in line and "\n" not in line


def test_logfmt_quotes_values() -> None:
    line = LogfmtFormatter("pbx").format(_record("registered", contact="sip:a b@x"))
    assert 'event=registered' in line and 'contact="sip:a b@x"' in line and "component=pbx" in line
