"""Structured logging: one line per event, JSON or logfmt, with the component and any ids.

Ids travel as ``extra`` fields (``log.info("call answered", extra={"call_id": ...})``) or, for
everything a task does, through :func:`bind` which stores them in a context variable.
Values of keys that look like secrets are never written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

_EMPTY: types.MappingProxyType[str, Any] = types.MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("log_context",
                                                                               default=_EMPTY)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_SECRET_WORDS = {"password", "passwd", "secret", "token", "clave", "pin", "otp", "ha1",
                 "authorization", "cookie"}


@contextmanager
def bind(**ids: Any) -> Iterator[None]:
    """Attach ids (session, handle, call_id, …) to every log line in this context."""
    token = _context.set({**_context.get(), **ids})
    try:
        yield
    finally:
        _context.reset(token)


def _redact(key: str, value: Any) -> Any:
    words = set(key.lower().replace("-", "_").split("_"))
    return "***" if words & _SECRET_WORDS else value


def _fields(record: logging.LogRecord, component: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": round(record.created, 3),
        "level": record.levelname.lower(),
        "component": component,
        "logger": record.name,
        "event": record.getMessage(),
    }
    for key, value in _context.get().items():
        out[key] = _redact(key, value)
    for key, value in vars(record).items():
        if key not in _STANDARD and not key.startswith("_"):
            out[key] = _redact(key, value)
    if record.exc_info:
        out["exc"] = logging.Formatter().formatException(record.exc_info)
    return out


class JsonFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record, self.component), default=str, ensure_ascii=False)


class LogfmtFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        for key, value in _fields(record, self.component).items():
            text = str(value)
            if not text or any(c in text for c in ' ="\n'):
                text = json.dumps(text, ensure_ascii=False)
            parts.append(f"{key}={text}")
        return " ".join(parts)


def setup_logging(component: str, level: str = "info", fmt: str = "json") -> None:
    """Configure the root logger once per process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(component) if fmt == "json" else LogfmtFormatter(component))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.Formatter.converter = time.gmtime
    for noisy in ("aioice", "aiortc", "aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
