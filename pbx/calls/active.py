"""The calls in progress, the lines of each extension they hold (an extension with
``line_count`` lines in use is busy) and the calls on each trunk."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .leg import CallLeg
from .model import Call


class ActiveCalls:
    def __init__(self) -> None:
        self.calls: dict[str, Call] = {}
        self._lines: Counter[str] = Counter()
        self._trunks: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self.calls)

    def add(self, call: Call) -> None:
        self.calls[call.call_id] = call
        for number in call.extensions:
            self._lines[number] += 1
        for name in call.trunks:
            self._trunks[name] += 1

    def remove(self, call: Call) -> None:
        self.calls.pop(call.call_id, None)

    # ------------------------------------------------------------------ lines
    def lines_in_use(self, extension: str) -> int:
        return self._lines[extension]

    def take_line(self, extension: str) -> None:
        self._lines[extension] += 1

    def free_line(self, extension: str) -> None:
        self._lines[extension] -= 1
        if self._lines[extension] <= 0:
            del self._lines[extension]

    def free_lines(self, call: Call) -> None:
        """Give back every line and trunk call ``call`` holds."""
        for number in call.extensions:
            self.free_line(number)
        for name in call.trunks:
            self.free_trunk(name)

    # ------------------------------------------------------------------ trunks
    def trunk_calls(self, name: str) -> int:
        return self._trunks[name]

    def take_trunk(self, name: str) -> None:
        self._trunks[name] += 1

    def free_trunk(self, name: str) -> None:
        self._trunks[name] -= 1
        if self._trunks[name] <= 0:
            del self._trunks[name]

    # ------------------------------------------------------------------ lookups
    def find_dialog(self, call_id: str, tags: set[str | None], *,
                    besides: Call) -> tuple[Call, CallLeg] | None:
        """The call (other than ``besides``) and its leg whose dialog is ``call_id`` with
        ``tags``: the dialog an attended transfer replaces."""
        for call in self.calls.values():
            if call is besides:
                continue
            for leg in call.legs():
                if leg.has_dialog(call_id, tags):
                    return call, leg
        return None

    def listing(self) -> list[dict[str, Any]]:
        """The calls as the control API lists them."""
        return [{"call_id": c.call_id, "caller": c.caller.number or "",
                 "callee": c.callee or c.dialled, "dialled": c.dialled,
                 "state": str(c.state), "started_at": c.started_at,
                 "answered_at": c.answered_at, "legs": len(c.legs()), "trunk": c.trunk,
                 "media": [leg.media.stats() for leg in c.legs()]} for c in self.calls.values()]
