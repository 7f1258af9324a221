"""A child's log file that does not grow without end.

Past ``max_bytes`` the file is renamed ``<name>.log.1`` (older ones move on to ``.2`` …
``.<backups>``, the oldest is dropped) and a new ``<name>.log`` is started: what logrotate
would do, without it, for ``webfon up`` on a laptop or a test machine. (The systemd units of
``deploy/`` log to the journal, which has its own limits.)
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_BACKUPS = 5


class RotatingLog:
    """Appends lines to ``path``, rotating it as the module says."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 backups: int = DEFAULT_BACKUPS) -> None:
        if max_bytes < 1 or backups < 0:
            raise ValueError("max_bytes must be >= 1 and backups >= 0")
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._out: TextIO = path.open("a", encoding="utf-8")
        self._size = path.stat().st_size

    def write(self, text: str) -> None:
        size = len(text.encode("utf-8"))
        if self._size and self._size + size > self.max_bytes:
            self._rotate()
        self._out.write(text)
        self._out.flush()
        self._size += size

    def close(self) -> None:
        self._out.close()

    def backup(self, n: int) -> Path:
        """The ``n``-th older file (1: the newest of them)."""
        return self.path.with_name(f"{self.path.name}.{n}")

    def _rotate(self) -> None:
        self._out.close()
        if self.backups:
            for n in range(self.backups - 1, 0, -1):
                if self.backup(n).exists():
                    self.backup(n).replace(self.backup(n + 1))
            self.path.replace(self.backup(1))
        else:
            self.path.unlink()
        self._out = self.path.open("a", encoding="utf-8")
        self._size = 0
