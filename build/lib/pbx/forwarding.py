"""Forwarding («Desvíos»): unconditional, busy, no answer and not logged in.

Each rule forwards to a number or to voicemail («a mensa»). :func:`resolve` answers, for one
situation of the called user, what happens next.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("unconditional", "busy", "no_answer", "not_logged_in")


@dataclass(frozen=True)
class Forward:
    kind: str
    to_voicemail: bool
    number: str
    timeout_s: int

    def describe(self) -> str:
        return f"{self.kind} -> " + ("voicemail" if self.to_voicemail else self.number)


@dataclass(frozen=True)
class ForwardingRules:
    rules: dict[str, Forward]

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> ForwardingRules:
        found: dict[str, Forward] = {}
        for r in rows:
            if not r.get("enabled") or r["kind"] not in KINDS:
                continue
            to_vm = r["target_type"] == "voicemail"
            number = str(r.get("target_number") or "")
            if not to_vm and not number:
                continue
            found[r["kind"]] = Forward(r["kind"], to_vm, number, int(r.get("timeout_s") or 20))
        return cls(found)

    def unconditional(self) -> Forward | None:
        return self.rules.get("unconditional")

    def on(self, situation: str) -> Forward | None:
        """Rule for ``busy``, ``no_answer`` or ``not_logged_in`` (unconditional wins)."""
        if situation not in KINDS:
            raise ValueError(f"unknown forwarding situation {situation!r}")
        return self.rules.get("unconditional") or self.rules.get(situation)

    def ring_timeout(self, default: float) -> float:
        rule = self.rules.get("no_answer")
        return float(rule.timeout_s) if rule else default


def resolve(rules: ForwardingRules, *, registered: bool, busy: bool) -> Forward | None:
    """The forward that applies before ringing (unconditional, not logged in, busy)."""
    if rules.unconditional():
        return rules.unconditional()
    if not registered:
        return rules.on("not_logged_in")
    if busy:
        return rules.on("busy")
    return None
