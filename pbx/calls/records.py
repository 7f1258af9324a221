"""The CDR rows a call leaves.

One row per user involved, each seeing the call from their side (what the portal's history
lists); a call with no user on either side still gets its row. Then one technical row per
attempt (a phone, a trunk or a queue member tried), owned by nobody so it stays out of the
users' histories. A call that ends before it started (refused by flow control, cancelled
while admitted) leaves one row.
"""

from __future__ import annotations

from collections.abc import Iterator

from webfon.rtp.quality import CallQuality
from webfon.sip import ParseError, Request

from ..cdr import CdrRecord, Direction, Disposition
from ..routing import Caller
from .model import Call


def call_records(call: Call, ended: float, quality: CallQuality | None = None
                 ) -> Iterator[tuple[CdrRecord, bool]]:
    """The rows of ``call``, which ended at ``ended``, each with whether it is announced
    (``call.ended`` on the bus); the users' rows carry the call's ``quality``."""
    q = quality or CallQuality()
    details = q.details()
    caller = call.caller
    caller_user = caller.user.id if caller.user else None
    # Users are called and call by their number, whichever extension carried the call.
    caller_number = caller.display_number or from_user(call.a.sip.invite)
    extension = caller.extension.number if caller.extension else ""
    caller_name = (caller.user.display_name if caller.user else "")[:128]
    sides = [(caller_user, call.peer_user_id, call.direction)]
    if call.peer_user_id is not None and call.peer_user_id != caller_user:
        inbound = Direction.INTERNAL if call.direction == Direction.INTERNAL \
            else Direction.INBOUND
        sides.append((call.peer_user_id, caller_user, inbound))
    if caller_user is None and len(sides) > 1:
        sides.pop(0)
    extra = {"callee_number": call.callee}
    if call.transferred_by:
        extra["transferred_by"] = call.transferred_by
    for user_id, peer_id, direction in sides:
        yield CdrRecord(call.call_id, caller_number, call.dialled, direction, call.started_at,
                        disposition=call.disposition, answered_at=call.answered_at,
                        ended_at=ended, trunk=call.trunk, hangup_cause=call.hangup_cause[:64],
                        caller_name=caller_name, leg=0, user_id=user_id,
                        peer_user_id=peer_id, extension=extension, mos=q.mos,
                        loss_pct=q.loss_pct, jitter_ms=q.jitter_ms, rtt_ms=q.rtt_ms,
                        quality=details, extra=extra), True
    for i, att in enumerate(call.attempts, start=1):
        yield CdrRecord(call.call_id, caller_number, att.target[:64], call.direction,
                        att.started_at, disposition=att.disposition,
                        answered_at=att.answered_at, ended_at=att.ended_at or ended,
                        trunk=att.trunk, hangup_cause=f"{att.code}" if att.code else "",
                        leg=i, user_id=None, peer_user_id=None, extension=extension), False


def refused_record(request: Request, caller: Caller, dialled: str, cause: str, now: float,
                   disposition: Disposition = Disposition.REJECTED) -> CdrRecord:
    """The row of a call that ended before it started (refused, or cancelled meanwhile)."""
    return CdrRecord(request.call_id, caller.number or from_user(request), dialled,
                     Direction.INBOUND if caller.trunk else Direction.INTERNAL, now,
                     disposition, ended_at=now,
                     user_id=caller.user.id if caller.user else None, hangup_cause=cause)


def from_user(request: Request) -> str:
    """The user part of a request's From (the caller's number as their phone sent it)."""
    try:
        return request.from_.uri.user or ""
    except ParseError:
        return ""
