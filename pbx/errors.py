"""The PBX's refusals: an error that carries the status to answer (SIP, or HTTP for the
control API) and a reason that is safe to show whoever asked."""

from __future__ import annotations


class Refusal(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
