"""Turns the frames of a scenario run into a transcript that can be compared across servers.

What is compared, per connection:

- each **request's frames**, in order: its reply and the plugin events that carry its
  transaction, with the ``janus`` type, the set of top-level fields, which handle sent it, the
  plugin data (values that are random per run, such as ``call_id``, ``master_id``,
  ``refer_id``, session and handle ids and addresses, become stable placeholders; a value seen
  twice keeps the same placeholder, so "the same call id" is still checked), the JSEP type (not
  the SDP), and for errors the code and the text. Which request's transaction an event carries
  is what puts it in that stream, so transaction placement is compared;
- per handle, the plugin **events without a transaction**, in order;
- per handle, the core's asynchronous **media frames** (``webrtcup``, ``hangup``,
  ``detached``, ``timeout``), in order. ``media`` and ``slowlink`` depend on packet timing and
  are not compared.

Three things Janus does not do the same way twice are not compared: a ``call_id`` in a
``declining`` or ``hangingup`` event (Janus's SIP thread may clear it first: it answers the
CANCEL or BYE while the request's thread is still building the event), a core ``hangup`` of a handle
whose PeerConnection never came up (sent or not depending on how far Janus's ICE got), and
whether a core ``hangup`` says ``Close PC`` or ``DTLS alert`` (who closed the DTLS association
first).

Order *between* these streams is not compared: Janus acks a message on one thread, runs the
plugin on another and receives SIP on a third, so e.g. a ``declining`` event and the
``hangup`` that the decline causes come in either order from Janus itself. Acks are compared
as a stream of their own for the same reason (Janus may push a request's first event before
its ack).

Deliberate differences (``differences.py``) are applied to our transcript before comparing.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from tests.integration.conformance.client import Frame, Recorder

API = {"ack", "success", "error", "event", "pong", "server_info"}
MEDIA = {"webrtcup", "hangup", "detached", "timeout"}
NOT_COMPARED = {"media", "slowlink", "trickle", "keepalive"}
# values that differ from run to run: compared by identity only
VOLATILE = {"call_id", "master_id", "refer_id", "id"}
ADDRESS = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?::(\d+))?")


@dataclass
class Item:
    """One normalized frame."""

    stream: str
    fields: dict[str, Any]

    def render(self) -> str:
        return json.dumps(self.fields, sort_keys=True)


@dataclass
class Transcript:
    """The normalized frames of one run, by stream."""

    streams: dict[str, list[Item]] = field(default_factory=dict)

    def add(self, item: Item) -> None:
        self.streams.setdefault(item.stream, []).append(item)

    def error_codes(self) -> set[int]:
        """Every core and plugin error code in the transcript."""
        codes = set()
        for items in self.streams.values():
            for item in items:
                error = item.fields.get("error")
                if isinstance(error, dict) and isinstance(error.get("code"), int):
                    codes.add(error["code"])
                data = item.fields.get("data")
                if isinstance(data, dict) and isinstance(data.get("error_code"), int):
                    codes.add(data["error_code"])
        return codes

    def lines(self) -> list[str]:
        out = []
        for name in sorted(self.streams):
            if not self.streams[name]:
                continue
            out.append(f"== {name}")
            out += [f"   {item.render()}" for item in self.streams[name]]
        return out


class Normalizer:
    """Replaces per-run values by placeholders (stable within one transcript)."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names  # port -> symbolic name (the scenario's SIP peers)
        self.tokens: dict[tuple[str, str], str] = {}
        self.ids: dict[int, str] = {}  # session and handle ids -> placeholders

    def token(self, kind: str, value: Any) -> str:
        key = (kind, json.dumps(value, sort_keys=True))
        if key not in self.tokens:
            n = sum(1 for k in self.tokens if k[0] == kind) + 1
            self.tokens[key] = f"<{kind}#{n}>"
        return self.tokens[key]

    def text(self, value: str) -> str:
        def address(m: re.Match[str]) -> str:
            port = m.group(2)
            if port is None:
                return m.group(1)
            name = self.names.get(int(port))
            return f"{m.group(1)}:{name or '<port>'}"

        value = ADDRESS.sub(address, value)
        for number, token in self.ids.items():
            value = re.sub(rf"\b{number}\b", token, value)
        return value

    def value(self, key: str, value: Any) -> Any:
        if isinstance(value, int) and value in self.ids:
            return self.ids[value]
        if key in VOLATILE and value is not None:
            return self.token(key, value)
        if key == "sdp":
            return "<sdp>"
        if isinstance(value, dict):
            return {k: self.value(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(key, v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value


def normalize(recorder: Recorder, names: dict[int, str] | None = None) -> Transcript:
    """The transcript of the frames ``recorder`` holds."""
    norm = Normalizer(names or {})
    for frame in recorder.frames:  # session and handle ids, also where texts quote them
        msg = frame.message
        if frame.direction == "<" and msg.get("janus") == "success" and \
                isinstance(msg.get("data"), dict) and isinstance(msg["data"].get("id"), int):
            kind = "handle" if "session_id" in msg else "session"
            norm.ids[msg["data"]["id"]] = norm.token(kind, msg["data"]["id"])
    transcript = Transcript()
    for frame in recorder.frames:
        if frame.direction != "<":
            continue
        item = _item(frame, recorder, norm)
        if item is not None:
            transcript.add(item)
    return _without_races(transcript)


def _without_races(transcript: Transcript) -> Transcript:
    for name, items in transcript.streams.items():
        kept = []
        up = False
        for item in items:
            kind = item.fields.get("janus")
            if kind == "webrtcup":
                up = True
            elif kind == "hangup" and " media " in f" {name} ":
                if not up:
                    continue
                up = False
                if item.fields.get("reason") == "DTLS alert":
                    item.fields["reason"] = "Close PC"
            result = (item.fields.get("data") or {}).get("result")
            if isinstance(result, dict) and result.get("event") in ("declining", "hangingup"):
                result.pop("call_id", None)
                item.fields["data"].pop("call_id", None)
            kept.append(item)
        transcript.streams[name] = kept
    return transcript


def _item(frame: Frame, recorder: Recorder, norm: Normalizer) -> Item | None:
    msg = frame.message
    kind = msg.get("janus")
    if kind in NOT_COMPARED:
        return None
    fields: dict[str, Any] = {"janus": kind, "keys": sorted(msg)}
    tx = msg.get("transaction")
    if tx is not None:
        fields["transaction"] = recorder.transactions.get(tx, "<unknown transaction>")
    sender = msg.get("sender")
    handle = recorder.handles.get(sender, "<handle>") if sender is not None else None
    if handle is not None:
        fields["handle"] = handle
    if "error" in msg:
        fields["error"] = norm.value("error", msg["error"])
    if isinstance(msg.get("data"), dict):
        fields["reply_data"] = norm.value("data", msg["data"])
    if "plugindata" in msg:
        pd = msg["plugindata"] or {}
        fields["plugin"] = pd.get("plugin")
        fields["data"] = norm.value("data", pd.get("data"))
    if "jsep" in msg:
        jsep = msg["jsep"] or {}
        fields["jsep"] = {"type": jsep.get("type"), "keys": sorted(jsep)}
    if kind == "hangup" or kind == "detached" or kind == "webrtcup":
        for key in ("reason",):
            if key in msg:
                fields[key] = msg[key]
    if kind in MEDIA:
        return Item(f"{frame.conn} media {handle}", fields)
    if kind == "ack":
        return Item(f"{frame.conn} acks", fields)
    if kind in API:
        if "transaction" in fields:
            return Item(f"{frame.conn} request {fields['transaction']}", fields)
        return Item(f"{frame.conn} {handle or 'core'} without transaction", fields)
    return Item(f"{frame.conn} other", fields)


def diff(expected: Transcript, actual: Transcript) -> str:
    """A unified diff of two transcripts ("" when they are the same)."""
    a, b = expected.lines(), actual.lines()
    if a == b:
        return ""
    return "\n".join(difflib.unified_diff(a, b, "janus", "webfon", lineterm="", n=3))
