"""Files only this service's user may read: the store file, recordings, keys.

The process umask decides the mode of what ``open``/``mkdir`` create (usually world-readable);
files holding secrets (the SQLite store with SIP HA1s and password hashes, voicemail
recordings) are created here instead with mode 0600 in directories of mode 0700, whatever the
umask. A file or directory that already exists with wider permissions is narrowed, with a
warning, when this process owns it.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("webfon.files")

FILE_MODE = 0o600
DIR_MODE = 0o700


def _narrow(path: Path, mode: int) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    current = stat.S_IMODE(st.st_mode)
    if current & ~mode & 0o077 == 0:
        return
    if st.st_uid != os.geteuid():
        log.warning("file readable by others and not ours to change",
                    extra={"path": str(path), "mode": oct(current)})
        return
    os.chmod(path, current & mode)
    log.warning("permissions narrowed", extra={"path": str(path), "was": oct(current),
                                               "now": oct(current & mode)})


def private_dir(path: Path, *, narrow: bool = True) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; with ``narrow``, an existing
    ``path`` is narrowed to 0700 too (only for directories that belong to this service: never
    for a place such as ``/tmp`` that merely holds its files)."""
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass
        os.chmod(d, DIR_MODE)  # mkdir's mode is filtered by the umask
    if narrow:
        _narrow(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists with mode 0600 (created empty if missing); missing parent
    directories are created 0700, existing ones are left as they are."""
    private_dir(path.parent, narrow=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    _narrow(path, FILE_MODE)
    return path


def write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (mode 0600, directory 0700), replacing it atomically."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
