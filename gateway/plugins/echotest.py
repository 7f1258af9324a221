"""``janus.plugin.echotest``: the browser's own audio sent straight back (device test screen).

Packets are returned as received (no decoding), so any codec the browser offers works.
Requests follow Janus's EchoTest plugin: a message with ``audio`` (bool) and an optional JSEP
offer; the answer comes in an ``{"echotest": "event", "result": "ok"}`` event.
"""

from __future__ import annotations

from typing import Any

from gateway import errors as E
from gateway.errors import JanusError
from gateway.plugins.base import HandleContext, MessageResult, Plugin, PluginSession
from webfon.sip.errors import ParseError


class EchoSession(PluginSession):
    def __init__(self, ctx: HandleContext) -> None:
        super().__init__(ctx)
        self.audio_enabled = True
        self.echoed = 0

    def _echo(self, data: bytes) -> None:
        if self.audio_enabled:
            self.echoed += 1
            self.ctx.media.send_rtp(bytearray(data))

    async def handle_message(self, transaction: str, body: dict[str, Any],
                             jsep: dict[str, Any] | None) -> MessageResult | None:
        if "audio" in body:
            if not isinstance(body["audio"], bool):
                self.ctx.push_event(transaction, {"echotest": "event", "error_code": 413,
                                                  "error": "Invalid element (audio should be "
                                                           "a boolean)"})
                return None
            self.audio_enabled = body["audio"]
        if jsep is not None and jsep["type"] != "offer":
            raise JanusError(E.UNEXPECTED_ANSWER, "Unexpected ANSWER (no offer was made)")
        codec = body.get("audiocodec")

        async def job() -> None:
            answer = None
            if jsep is not None:
                try:
                    sdp = await self.ctx.media.answer(
                        jsep["sdp"], [codec] if isinstance(codec, str) else None)
                except ParseError as exc:
                    self.ctx.push_event(transaction, {"echotest": "event", "error_code": 465,
                                                      "error": f"Invalid SDP: {exc}"})
                    return
                self.ctx.media.on_rtp(self._echo)
                answer = {"type": "answer", "sdp": sdp}
            self.ctx.push_event(transaction, {"echotest": "event", "result": "ok"}, answer)

        self.enqueue(job)
        return None

    async def destroy(self) -> None:
        self.stop_jobs()

    async def media_down(self, reason: str = "") -> None:
        self.ctx.push_event(None, {"echotest": "event", "result": "done"})

    def describe(self) -> dict[str, Any]:
        return {"audio": self.audio_enabled, "echoed_packets": self.echoed}


class EchoTestPlugin(Plugin):
    package = "janus.plugin.echotest"
    name = "JANUS EchoTest plugin"
    version = 7
    version_string = "0.0.7"
    description = "Audio echo test: returns the browser's audio as received."

    def create_session(self, ctx: HandleContext) -> PluginSession:
        return EchoSession(ctx)
