"""What a plugin sees of the WebRTC leg: audio negotiation and raw RTP in and out.

A plugin asks the bridge to answer a browser offer (optionally restricted to some codecs), to
make an offer, or to take an answer; then it receives the browser's RTP packets (already
decrypted, header as sent) through ``on_rtp`` and sends packets with ``send_rtp``, or links the
bridge with a plain RTP leg (``link``), which lets the relay run outside the gateway's loop in a
media worker. It never sees ICE, DTLS or SRTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gateway.media.rtp_leg import RtpLeg


@dataclass(frozen=True)
class AudioFormat:
    """The audio codec the WebRTC leg settled on, with its RFC 4733 payload type if any."""

    pt: int
    name: str
    rate: int
    channels: int = 1
    dtmf_pt: int | None = None

    @property
    def key(self) -> str:
        return self.name.lower()


RtpHandler = Callable[[bytes], None]


class MediaBridge(Protocol):
    audio: AudioFormat | None

    async def answer(self, offer_sdp: str, codecs: list[str] | None = None) -> str:
        """Take a browser offer and return our answer; ``codecs`` names allowed codecs."""
        ...

    async def offer(self, codecs: list[str], direction: str = "sendrecv") -> str:
        """Make an offer towards the browser offering ``codecs`` (in preference order)."""
        ...

    async def accept_answer(self, answer_sdp: str) -> None: ...

    def on_rtp(self, handler: RtpHandler | None) -> None: ...

    def link(self, leg: RtpLeg) -> None:
        """Relay with a plain RTP leg (its packets to the browser, the browser's to it),
        wherever the relay runs best: this process or a media worker."""
        ...

    def unlink(self, leg: RtpLeg) -> None: ...

    def send_rtp(self, packet: bytearray) -> None:
        """Send one RTP packet to the browser (its SSRC is replaced by the leg's own)."""
        ...

    @property
    def connected(self) -> bool: ...

    def stats(self) -> dict[str, float]: ...
