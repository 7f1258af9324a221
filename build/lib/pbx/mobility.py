"""Call-by-call mobility («Movilidad llamada a llamada»): ``*72*<login>*<pin>#<destination>``.

The code places one outgoing call as another user (their number and category) from an
extension that has the feature on and belongs to the user's mobility group. The user is fully
validated (login number and PIN together); incoming calls are unaffected.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from webfon.passwords import verify_password

from .directory import Directory, Extension, User

CODE = "*72*"
_PATTERN = re.compile(r"^\*72\*(?P<login>[0-9]{1,32})\*(?P<pin>[0-9]{1,32})#(?P<dest>[0-9*#+]+)$")


class MobilityError(Exception):
    """Refused: ``reason`` is safe to show the caller (never says which part was wrong)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class MobilityCode:
    login: str
    pin: str
    destination: str


def is_mobility(dialled: str) -> bool:
    return dialled.startswith(CODE)


def parse(dialled: str) -> MobilityCode:
    m = _PATTERN.match(dialled)
    if not m:
        raise MobilityError(484, "Mobility code must be *72*<login>*<pin>#<destination>")
    return MobilityCode(m.group("login"), m.group("pin"), m.group("dest"))


async def authorize(directory: Directory, code: MobilityCode,
                    extension: Extension | None) -> User:
    """The user the call goes out as, or :class:`MobilityError`."""
    if extension is None or not extension.mobility_enabled:
        raise MobilityError(403, "Mobility not enabled on this extension")
    user = await directory.user_by_number(code.login)
    # Verify against a dummy hash for unknown users too, so timing does not reveal logins.
    stored = user.pin_hash if user is not None else None
    ok = await asyncio.to_thread(verify_password, stored, code.pin)
    if user is None or not ok or not user.enabled:
        raise MobilityError(403, "Mobility login or PIN not valid")
    if not await directory.mobility_group_allows(user.mobility_group_id, extension.id):
        raise MobilityError(403, "Extension not in the user's mobility group")
    return user
