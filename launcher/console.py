"""How ``webfon up`` and ``webfon logs`` show the components' log lines.

Every component logs one JSON object per line. On a terminal they are shown the way developers
expect from uvicorn or docker compose: time, the process in its own colour, the level in
colour, the event and its fields as ``key=value``. Elsewhere (a pipe, a file, a log collector)
or when asked, lines stay JSON, each with an ``instance`` field naming the process it came
from (``gateway-5``); a line that is not JSON (nginx, MariaDB, Redis) is wrapped in one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from typing import Any, TextIO

RESET = "\033[0m"
DIM = "\033[2m"
BOLD = "\033[1m"
PALETTE = ("\033[36m", "\033[35m", "\033[34m", "\033[32m", "\033[33m", "\033[96m",
           "\033[95m", "\033[94m", "\033[92m", "\033[93m")
LEVELS = {"debug": DIM, "info": "\033[32m", "warning": "\033[33m", "error": "\033[31m",
          "critical": "\033[41;97m"}
HIDDEN = {"ts", "level", "component", "logger", "event", "instance"}
# levels in the plain lines of nginx ("[warn]"), MariaDB ("[Warning]", "[ERROR]") and Redis
# ("# WARNING")
_PLAIN_LEVEL = re.compile(r"\[(emerg|alert|crit|error|warn|warning|note)\]|# (WARNING)",
                          re.IGNORECASE)
_LEVEL_NAMES = {"emerg": "critical", "alert": "critical", "crit": "critical",
                "error": "error", "warn": "warning", "warning": "warning", "note": "info"}


def plain_level(raw: str) -> str:
    m = _PLAIN_LEVEL.search(raw)
    if m is None:
        return "info"
    return _LEVEL_NAMES[(m.group(1) or m.group(2)).lower()]


def pretty_wanted(mode: str, stream: TextIO) -> bool:
    """``auto``: pretty on a terminal (unless NO_COLOR asks for plain JSON), JSON otherwise."""
    if mode == "json":
        return False
    if mode == "pretty":
        return True
    return stream.isatty() and not os.environ.get("NO_COLOR")


class Console:
    def __init__(self, stream: TextIO | None = None, *, pretty: bool = False,
                 width: int = 10) -> None:
        self.stream = stream or sys.stderr
        self.pretty = pretty
        self.width = width
        self._colours: dict[str, str] = {}

    def colour(self, name: str) -> str:
        if name not in self._colours:
            self._colours[name] = PALETTE[len(self._colours) % len(PALETTE)]
        return self._colours[name]

    def line(self, name: str, raw: str) -> None:
        """One line a process wrote, shown as configured."""
        raw = raw.rstrip("\r\n")
        if not raw:
            return
        text = self.format_pretty(name, raw) if self.pretty else self.format_json(name, raw)
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            pass

    @staticmethod
    def parse(raw: str) -> dict[str, Any] | None:
        if not raw.startswith("{"):
            return None
        try:
            obj = json.loads(raw)
        except ValueError:
            return None
        return obj if isinstance(obj, dict) else None

    @classmethod
    def format_json(cls, name: str, raw: str) -> str:
        obj = cls.parse(raw)
        if obj is None:
            return json.dumps({"ts": round(time.time(), 3), "level": plain_level(raw),
                               "instance": name,
                               "component": name.split("-")[0], "event": raw},
                              ensure_ascii=False)
        if "instance" in obj:
            return raw
        return '{"instance":' + json.dumps(name) + "," + raw[1:]

    def format_pretty(self, name: str, raw: str) -> str:
        tag = f"{self.colour(name)}{name:<{self.width}}{RESET}"
        obj = self.parse(raw)
        if obj is None:
            stamp = time.strftime("%H:%M:%S", time.localtime())
            level = plain_level(raw)
            colour = LEVELS.get(level, "") if level != "info" else ""
            return f"{DIM}{stamp}{RESET} {tag} {colour}{raw}{RESET if colour else ''}"
        ts = obj.get("ts")
        when = time.localtime(float(ts)) if isinstance(ts, int | float) else time.localtime()
        stamp = time.strftime("%H:%M:%S", when)
        level = str(obj.get("level", "info")).lower()
        lvl = f"{LEVELS.get(level, '')}{level.upper()[:5]:<5}{RESET}"
        event = str(obj.get("event", ""))
        if level in ("warning", "error", "critical"):
            event = f"{BOLD}{event}{RESET}"
        fields = " ".join(f"{DIM}{k}={RESET}{_value(v)}" for k, v in obj.items()
                          if k not in HIDDEN and k != "exc")
        out = f"{DIM}{stamp}{RESET} {tag} {lvl} {event}"
        if fields:
            out += f"  {fields}"
        if obj.get("exc"):
            out += "\n" + "\n".join(f"{' ' * 9}{DIM}│{RESET} {ln}"
                                    for ln in str(obj["exc"]).splitlines())
        return out


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                             default=str)
    if not text or any(c in text for c in ' ="\n'):
        text = json.dumps(text, ensure_ascii=False)
    return text


class ConsoleHandler(logging.Handler):
    """Routes the supervisor's own log records through the console, as ``webfon``."""

    def __init__(self, console: Console, formatter: logging.Formatter,
                 name: str = "webfon") -> None:
        super().__init__()
        self.console = console
        self.setFormatter(formatter)
        self.instance = name

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.line(self.instance, self.format(record))
        except Exception:
            self.handleError(record)
