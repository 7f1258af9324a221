"""Reader for libconfig syntax, the format of Janus's ``.jcfg`` files.

Supports groups ``name: { ... }``, ``=`` or ``:`` assignments, optional ``;``/``,`` terminators,
arrays ``[...]``, lists ``(...)``, strings (adjacent literals concatenated), integers (decimal,
hex, ``L`` suffix), floats, booleans, and ``#``, ``//`` and ``/* */`` comments. Groups are
flattened into dotted keys (``general.local_nodo_id``); each entry keeps its line number.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from webfon.config.entries import ConfigEntry, ConfigError

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\f\v]+)
  | (?P<nl>\n)
  | (?P<comment>\#[^\n]*|//[^\n]*)
  | (?P<block>/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<float>[-+]?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+)
  | (?P<hex>0[xX][0-9a-fA-F]+L{0,2})
  | (?P<int>[-+]?\d+L{0,2})
  | (?P<bool>(?i:true|false)\b)
  | (?P<name>[A-Za-z*][-A-Za-z0-9_*]*)
  | (?P<punct>[=:;,{}\[\]()])
    """,
    re.VERBOSE | re.DOTALL,
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "\\": "\\", '"': '"'}


class _Lexer:
    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.tokens: list[tuple[str, str, int]] = []
        pos, line = 0, 1
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise ConfigError(f"unexpected character {text[pos]!r}", file=file, line=line)
            kind = m.lastgroup or ""
            value = m.group()
            if kind not in ("ws", "nl", "comment", "block"):
                self.tokens.append((kind, value, line))
            line += value.count("\n")
            pos = m.end()
        self.i = 0
        self.last_line = line

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self, what: str) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise ConfigError(f"unexpected end of file, expected {what}",
                              file=self.file, line=self.last_line)
        self.i += 1
        return tok

    def accept(self, *values: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == "punct" and tok[1] in values:
            self.i += 1
            return True
        return False


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(x[0-9a-fA-F]{2}|.)",
                  lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "x"
                  else _ESCAPES.get(m.group(1), m.group(1)), body)


class _Parser:
    def __init__(self, lexer: _Lexer) -> None:
        self.lx = lexer
        self.entries: dict[str, ConfigEntry] = {}

    def error(self, message: str, line: int) -> ConfigError:
        return ConfigError(message, file=self.lx.file, line=line)

    def settings(self, prefix: str, closing: str | None) -> None:
        while True:
            tok = self.lx.peek()
            if tok is None:
                if closing is not None:
                    raise self.error(f"missing '{closing}'", self.lx.last_line)
                return
            if closing is not None and tok == ("punct", closing, tok[2]):
                self.lx.i += 1
                return
            self.setting(prefix)

    def setting(self, prefix: str) -> None:
        kind, name, line = self.lx.next("a setting name")
        if kind not in ("name", "bool"):
            raise self.error(f"expected a setting name, got {name!r}", line)
        key = f"{prefix}{name}"
        if not self.lx.accept("=", ":"):
            raise self.error(f"expected '=' or ':' after {name!r}", line)
        if self.lx.accept("{"):
            self.settings(f"{key}.", "}")
        else:
            value = self.value()
            if key in self.entries:
                raise ConfigError(f"duplicate setting (first set on line {self.entries[key].line})",
                                  file=self.lx.file, line=line, key=key)
            self.entries[key] = ConfigEntry(key, value, self.lx.file, line)
        self.lx.accept(";", ",")

    def value(self) -> Any:
        kind, text, line = self.lx.next("a value")
        if kind == "string":
            parts = [_unquote(text)]
            while (tok := self.lx.peek()) is not None and tok[0] == "string":
                parts.append(_unquote(self.lx.next("string")[1]))
            return "".join(parts)
        if kind == "int":
            return int(text.rstrip("L"))
        if kind == "hex":
            return int(text.rstrip("L"), 16)
        if kind == "float":
            return float(text)
        if kind == "bool":
            return text.lower() == "true"
        if kind == "punct" and text in "[(":
            closing = "]" if text == "[" else ")"
            items: list[Any] = []
            while not self.lx.accept(closing):
                if items and not self.lx.accept(","):
                    raise self.error(f"expected ',' or '{closing}'", self.lx.next("','")[2])
                if self.lx.accept(closing):
                    break
                if self.lx.accept("{"):
                    group = _Parser(self.lx)
                    group.settings("", "}")
                    items.append({k: e.value for k, e in group.entries.items()})
                else:
                    items.append(self.value())
            return items
        raise self.error(f"expected a value, got {text!r}", line)


def parse_libconfig(text: str, file: str = "<string>") -> dict[str, ConfigEntry]:
    parser = _Parser(_Lexer(text, file))
    parser.settings("", None)
    return parser.entries


def read_libconfig(path: str | Path) -> dict[str, ConfigEntry]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=str(path)) from exc
    return parse_libconfig(text, str(path))
