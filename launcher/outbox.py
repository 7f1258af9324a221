"""The console mailbox of ``webfon up``: login codes sercen could not e-mail, shown on screen.

A node started by ``webfon up`` has no mail server unless ``sercen.conf`` names one, so sercen
writes its e-mails to ``<data_dir>/outbox`` (files only this user can read). The supervisor
prints each one on its console (the code and who it is for) and removes it: the second
factor of a demo login is then being at this machine, not a network address.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import re
from collections.abc import Callable
from pathlib import Path

POLL_S = 0.3
_CODE = re.compile(r"code is:\s*(\d{4,10})")


def describe(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    to = str(msg.get("To", "?"))
    body = msg.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    found = _CODE.search(text if isinstance(text, str) else "")
    if found:
        return f"login code for {to}: {found.group(1)}"
    return f"e-mail for {to}: {msg.get('Subject', '')}"


def drain(outbox: Path, show: Callable[[str], None]) -> int:
    """Show and remove every message waiting in ``outbox``; returns how many."""
    if not outbox.is_dir():
        return 0
    count = 0
    for path in sorted(outbox.glob("*.eml")):
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        show(describe(raw))
        with contextlib.suppress(OSError):
            path.unlink()
        count += 1
    return count


async def watch(outbox: Path, show: Callable[[str], None]) -> None:
    """Keep draining ``outbox`` until cancelled."""
    while True:
        await asyncio.to_thread(drain, outbox, show)
        await asyncio.sleep(POLL_S)
