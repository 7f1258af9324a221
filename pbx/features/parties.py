"""Who is on a leg of a call, as a caller: whose rights apply to what they do in the call.

The caller's leg and a trunk's leg know their party; a leg a phone answered knows the phone,
whose rights (its category, else its user's, else its extension's; its user's «solo
entrantes») are looked up now, as for a call that phone dials. Unknown or disabled phones have
no rights: nothing is placed for them.
"""

from __future__ import annotations

from ..calls.leg import CallLeg
from ..directory import Directory
from ..routing import Caller, Router


class Parties:
    def __init__(self, directory: Directory, router: Router) -> None:
        self.directory = directory
        self.router = router

    async def of(self, leg: CallLeg) -> Caller | None:
        """The party on ``leg``, or None when it cannot be told."""
        if leg.party is not None:
            return leg.party
        if not leg.phone:
            return None
        phone = await self.directory.phone_by_username(leg.phone)
        if phone is None or not phone.enabled:
            return None
        return await self.router.caller_for_phone(phone)


def same_party(a: Caller, b: Caller) -> bool:
    """Whether two legs' parties are the same person or phone: the same phone, user or
    extension (multiterminal). Trunks are nobody's: never the same party."""
    if a.trunk is not None or b.trunk is not None:
        return False
    if a.phone is not None and b.phone is not None and a.phone.id == b.phone.id:
        return True
    if a.user is not None and b.user is not None and a.user.id == b.user.id:
        return True
    return a.extension is not None and b.extension is not None \
        and a.extension.id == b.extension.id
