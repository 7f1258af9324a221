"""The scripted browser side of a scenario, on the ``janus-client`` package.

Every frame a client sends or receives is recorded (in arrival order, per connection) before
``janus-client`` routes it, so the transcript is what the server put on the wire. Requests are
sent the way an application using ``janus-client`` sends them: ``plugin.send`` returns a
``MessageTransaction``, and the request's later events are awaited *on that transaction*
(:meth:`Pending.event`), which is where Janus delivers them. Events that belong to no request
(an incoming call, a hangup by the far end, …) reach :meth:`SipLine.on_receive`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCSessionDescription
from av import AudioFrame
from janus_client import JanusPlugin, JanusSession
from janus_client.message_transaction import MessageTransaction
from janus_client.transport_websocket import JanusTransportWebsocket


@dataclass
class Frame:
    """One JSON message on a connection: ``direction`` is ``>`` (sent) or ``<`` (received)."""

    conn: str
    direction: str
    message: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class Recorder:
    """Every frame of one scenario run, and the names of its transactions and handles."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.transactions: dict[str, str] = {}  # transaction id -> request label
        self.handles: dict[int, str] = {}  # handle id -> line label
        self._labels: dict[str, int] = {}

    def label_transaction(self, transaction: str, label: str) -> None:
        n = self._labels.get(label, 0) + 1
        self._labels[label] = n
        self.transactions[transaction] = label if n == 1 else f"{label}#{n}"


class RecordingTransport(JanusTransportWebsocket):
    """janus-client's WebSocket transport, recording what goes out and comes in."""

    def __init__(self, recorder: Recorder, conn: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.recorder = recorder
        self.conn = conn

    async def _send(self, message: dict[str, Any]) -> None:
        self.recorder.frames.append(Frame(self.conn, ">", dict(message)))
        verb = message.get("janus")
        label = verb
        if verb == "message":
            label = str((message.get("body") or {}).get("request"))
        if isinstance(message.get("transaction"), str) and label:
            self.recorder.label_transaction(message["transaction"], f"{self.conn}.{label}")
        await super()._send(message)

    async def receive(self, response: dict[str, Any]) -> None:
        self.recorder.frames.append(Frame(self.conn, "<", response))
        await super().receive(response)


def open_session(recorder: Recorder, ws_url: str, conn: str) -> JanusSession:
    """A janus-client session whose frames go into ``recorder`` under ``conn``."""
    return JanusSession(transport=RecordingTransport(recorder, conn, base_url=ws_url))


def _result(message: dict[str, Any]) -> dict[str, Any]:
    data = (message.get("plugindata") or {}).get("data") or {}
    return data.get("result") or {}


def event_name(message: dict[str, Any]) -> str | None:
    return _result(message).get("event")


def is_plugin_error(message: dict[str, Any]) -> bool:
    data = (message.get("plugindata") or {}).get("data") or {}
    return "error_code" in data


class Pending:
    """A request in flight: its reply and its later events, read from its transaction."""

    def __init__(self, tx: MessageTransaction, what: str) -> None:
        self.tx = tx
        self.what = what
        self._seen: set[int] = set()

    async def _next(self, match: Any, timeout: float, describe: str) -> dict[str, Any]:
        def matcher(msg: dict[str, Any]) -> bool:
            return id(msg) not in self._seen and match(msg)

        try:
            msg = await self.tx.get(matcher=matcher, timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"{self.what}: no {describe} on the request's transaction "
                                 f"within {timeout} s") from None
        self._seen.add(id(msg))
        return msg

    async def reply(self, timeout: float = 10.0) -> dict[str, Any]:
        """The immediate reply (``ack``, ``success`` or ``error``)."""
        return await self._next(lambda m: m.get("janus") in ("ack", "success", "error"),
                                timeout, "reply")

    async def event(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        """The request's next plugin event called ``name``."""
        return await self._next(lambda m: m.get("janus") == "event" and event_name(m) == name,
                                timeout, f"{name!r} event")

    async def error(self, timeout: float = 10.0) -> dict[str, Any]:
        """The request's plugin error event."""
        return await self._next(lambda m: m.get("janus") == "event" and is_plugin_error(m),
                                timeout, "plugin error")

    async def done(self) -> None:
        await self.tx.done()


class ToneTrack(MediaStreamTrack):
    """A 48 kHz sine, 20 ms frames paced in real time (the "browser's microphone")."""

    kind = "audio"

    def __init__(self, freq: float) -> None:
        super().__init__()
        self.freq = freq
        self.pts = 0
        self.start: float | None = None

    async def recv(self) -> AudioFrame:
        loop = asyncio.get_running_loop()
        if self.start is None:
            self.start = loop.time()
        delay = self.start + self.pts / 48000 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        t = (np.arange(960) + self.pts) / 48000
        data = (0.3 * 32767 * np.sin(2 * math.pi * self.freq * t)).astype(np.int16)
        frame = AudioFrame.from_ndarray(data.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self.pts
        frame.time_base = fractions.Fraction(1, 48000)
        self.pts += 960
        return frame


class Listener:
    """Collects what the far end sends to a remote track; finds a tone in it."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.chunks: list[np.ndarray] = []
        self.rate = 48000
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                frame = await self.track.recv()
                self.rate = frame.sample_rate
                data = frame.to_ndarray().reshape(-1)
                if frame.layout.nb_channels > 1:
                    data = data[::frame.layout.nb_channels]
                self.chunks.append(data.astype(np.int16))

    async def hears(self, freq: float, timeout: float = 8.0) -> bool:
        """True once the last second of audio has ``freq`` (±15 Hz) as its strongest tone."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            await asyncio.sleep(0.5)
            if not self.chunks:
                continue
            data = np.concatenate(self.chunks)[-self.rate:]
            self.chunks = [data]
            if len(data) < self.rate // 2 or np.sqrt(np.mean(data.astype(float) ** 2)) < 300:
                continue
            window = np.hanning(len(data))
            spectrum = np.abs(np.fft.rfft((data - data.mean()) * window))
            freqs = np.fft.rfftfreq(len(data), 1 / self.rate)
            spectrum[freqs < 100] = 0
            if abs(float(freqs[int(np.argmax(spectrum))]) - freq) <= 15:
                return True
        return False

    def stop(self) -> None:
        self.task.cancel()


class SipLine(JanusPlugin):
    """One ``janus.plugin.sip`` handle with an aiortc peer connection."""

    name = "janus.plugin.sip"

    def __init__(self, label: str, recorder: Recorder, tone_hz: float = 440.0) -> None:
        super().__init__(pc_config=RTCConfiguration(iceServers=[]))
        self.label = label
        self.recorder = recorder
        self.tone = ToneTrack(tone_hz)
        self.unsolicited: list[dict[str, Any]] = []
        self._consumed: set[int] = set()
        self._last_up = -1
        self._arrived = asyncio.Event()
        self.listener: Listener | None = None
        self._listening = asyncio.Event()
        self.pc.on("track", self._on_track)

    async def attach(self, session: JanusSession) -> None:
        await super().attach(session)
        assert self.id is not None
        self.recorder.handles[self.id] = self.label

    async def on_receive(self, response: dict[str, Any]) -> None:
        self.unsolicited.append(response)
        self._arrived.set()

    async def request(self, body: dict[str, Any], jsep: dict[str, Any] | None = None
                      ) -> Pending:
        message: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            message["jsep"] = jsep
        tx = await self.send(message)
        return Pending(tx, f"{self.label} {body.get('request')}")

    async def ask(self, body: dict[str, Any], event: str | None = None,
                  jsep: dict[str, Any] | None = None, timeout: float = 10.0
                  ) -> dict[str, Any]:
        """Send a request, wait for its reply and (if named) its ``event``; the last frame."""
        pending = await self.request(body, jsep)
        try:
            reply = await pending.reply(timeout)
            if event is None or reply.get("janus") == "error":
                return reply
            return await pending.event(event, timeout)
        finally:
            await pending.done()

    async def ask_error(self, body: dict[str, Any], jsep: dict[str, Any] | None = None
                        ) -> dict[str, Any]:
        """Send a request the plugin refuses: its plugin error event (or core error)."""
        pending = await self.request(body, jsep)
        try:
            reply = await pending.reply()
            if reply.get("janus") == "error":
                return reply
            return await pending.error()
        finally:
            await pending.done()

    async def poke(self, body: dict[str, Any], jsep: dict[str, Any] | None = None,
                   quiet: float = 1.0) -> dict[str, Any] | None:
        """Send a request that may be refused or ignored: its core error, its first plugin
        event, or None when nothing follows the ack within ``quiet`` seconds (Janus ignores
        some requests made in the wrong state)."""
        pending = await self.request(body, jsep)
        try:
            reply = await pending.reply()
            if reply.get("janus") == "error":
                return reply
            try:
                return await pending._next(lambda m: m.get("janus") == "event", quiet,
                                           "event")
            except AssertionError:
                return None
        finally:
            await pending.done()

    async def hang_up_peer_connection(self) -> dict[str, Any]:
        """The core's ``hangup`` for this handle, as janus.js sends it when a call ends:
        Janus drops a PeerConnection left half-negotiated (an offer nobody answered)."""
        tx = await self.send({"janus": "hangup"})
        try:
            return await Pending(tx, f"{self.label} hangup (core)").reply()
        finally:
            await tx.done()

    async def unsolicited_event(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next event called ``name`` that came with no live request transaction."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for msg in self.unsolicited:
                if id(msg) not in self._consumed and msg.get("janus") == "event" \
                        and event_name(msg) == name:
                    self._consumed.add(id(msg))
                    return msg
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [event_name(m) or m.get("janus") for m in self.unsolicited]
                raise AssertionError(f"{self.label}: no {name!r} event outside a request "
                                     f"within {timeout} s (got {seen})")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def core_event(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next core event (``webrtcup``, ``hangup``, …) of this handle; a ``hangup`` is
        the one that closed the PeerConnection of the last ``webrtcup`` taken (Janus may also
        send one for a PeerConnection that never came up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            start = self._last_up + 1 if kind == "hangup" else 0
            for index, msg in enumerate(self.unsolicited):
                if index >= start and id(msg) not in self._consumed and \
                        msg.get("janus") == kind:
                    self._consumed.add(id(msg))
                    if kind == "webrtcup":
                        self._last_up = index
                    return msg
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"{self.label}: no {kind!r} within {timeout} s")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    # --- media ---------------------------------------------------------------------------
    async def fresh_connection(self) -> None:
        """A new peer connection when the last one was used (one per call)."""
        if self.pc.signalingState == "stable" and self.pc.remoteDescription is None \
                and self.pc.localDescription is None:
            return
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        self._listening.clear()
        await self.reset_connection()
        self.pc.on("track", self._on_track)
        self.tone = ToneTrack(self.tone.freq)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self.listener = Listener(track)
            self._listening.set()

    async def offer(self) -> dict[str, Any]:
        await self.fresh_connection()
        self.pc.addTrack(self.tone)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"type": "offer", "sdp": self.pc.localDescription.sdp}

    async def take_answer(self, message: dict[str, Any]) -> None:
        jsep = message.get("jsep")
        assert jsep is not None, f"{self.label}: no JSEP in {event_name(message)}"
        await self.pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], jsep["type"]))

    async def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        jsep = message.get("jsep")
        assert jsep is not None, f"{self.label}: no JSEP offer in {event_name(message)}"
        await self.fresh_connection()
        await self.pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], "offer"))
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "audio":
                transceiver.sender.replaceTrack(self.tone)
                transceiver.direction = "sendrecv"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return {"type": "answer", "sdp": self.pc.localDescription.sdp}

    async def hears(self, freq: float, timeout: float = 8.0) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout)
        if self.listener is None:
            return False
        return await self.listener.hears(freq, max(0.5, deadline - loop.time()))

    async def close(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        if self.pc.signalingState != "closed":
            await self.pc.close()
