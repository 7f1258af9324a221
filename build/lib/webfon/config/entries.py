"""What every config reader returns: values that remember the file and line they came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A configuration problem, pointing at the file, line and key responsible."""

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.reason = message
        where = ":".join(str(p) for p in (file, line) if p is not None)
        parts = [p for p in (where, f"key '{key}'" if key else None, message) if p]
        super().__init__(": ".join(parts))


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One setting read from a file (or the environment, where ``file`` names the variable)."""

    key: str
    value: Any
    file: str
    line: int

    def error(self, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, line=self.line, key=self.key)
