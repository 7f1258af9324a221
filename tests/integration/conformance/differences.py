"""The deliberate differences between our gateway and Janus 1.1.2's SIP plugin: the one list.

Every entry says what differs and why; the suite removes exactly these from our transcript
(``apply``) before comparing it with Janus's, so anything not listed here must match. The
same list, in prose, is the "Deliberate differences" section of ``gateway/README.md``
(``test_differences_documented`` checks that each entry's name appears there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.integration.conformance.transcript import Item, Transcript


@dataclass(frozen=True)
class Difference:
    """One deliberate difference."""

    name: str
    reason: str

    def apply(self, item: Item) -> Item | None:
        """Our normalized frame as Janus would have sent it (None: Janus sends nothing)."""
        return item


def _result(item: Item) -> dict[str, Any] | None:
    data = item.fields.get("data")
    if isinstance(data, dict) and isinstance(data.get("result"), dict):
        return data["result"]
    return None


@dataclass(frozen=True)
class ExtraEvent(Difference):
    """A plugin event only we send."""

    event: str = ""

    def apply(self, item: Item) -> Item | None:
        result = _result(item)
        if result is not None and result.get("event") == self.event:
            return None
        return item


@dataclass(frozen=True)
class ErrorTextPrefix(Difference):
    """A core error whose text is compared only up to ``prefix``."""

    code: int = 0
    prefix: str = ""

    def apply(self, item: Item) -> Item | None:
        error = item.fields.get("error")
        if isinstance(error, dict) and error.get("code") == self.code and \
                str(error.get("reason", "")).startswith(self.prefix):
            error["reason"] = self.prefix + "…"
        return item


DIFFERENCES: tuple[Difference, ...] = (
    ErrorTextPrefix(
        name="454 text for unparseable JSON",
        reason="After \"Invalid Janus API request - \" Janus quotes its JSON parser "
               "(jansson: position and complaint); ours quotes Python's. The code and the "
               "prefix are the same.",
        code=454, prefix="Invalid Janus API request - "),
    ExtraEvent(
        name="remote_hold / remote_resume events",
        reason="Janus answers a peer's re-INVITE without telling the application; ours also "
               "reports when the peer puts the call on hold or resumes it, so the web client "
               "can show it. Clients that do not know the events ignore them.",
        event="remote_hold"),
    ExtraEvent(
        name="remote_hold / remote_resume events",
        reason="(the resume half of the same difference)",
        event="remote_resume"),
    ExtraEvent(
        name="dtmf events",
        reason="Janus passes RFC 4733 packets from the SIP side to the browser and reports a "
               "DTMF INFO only as `info`; ours also reports each digit received from SIP (RFC "
               "4733 or INFO) as a `dtmf` event (`signal`, `duration`), because a browser "
               "cannot read telephone-events from a received track.",
        event="dtmf"),
)


def apply(transcript: Transcript, ours: bool = True) -> Transcript:
    """A transcript with the deliberate differences taken out: ours, or Janus's (where a
    difference rewrites both sides, such as an error text compared by its prefix)."""
    out = Transcript()
    for name, items in transcript.streams.items():
        kept = []
        for item in items:
            current: Item | None = item
            for difference in DIFFERENCES:
                if current is None:
                    break
                if ours or isinstance(difference, ErrorTextPrefix):
                    current = difference.apply(current)
            if current is not None:
                kept.append(current)
        out.streams[name] = kept
    return out
