"""A conference room in progress: its participants, its 20 ms clock, the mix they hear.

Each participant's media leg is detached from the relay: what it sends goes into its
:class:`~.jitter.JitterBuffer`; every 20 ms the room reads one frame per participant, mixes
(:class:`~.mixer.Mixer`: each hears the others, never itself, plus the room's own beeps) and
sends each participant its payload with the leg's own SSRC, sequence and timestamps. A room
where nobody speaks sends silence (the phones' jitter buffers and NAT bindings stay alive)
without mixing. The clock is drift-free (ticks are due every 20 ms from the start; a late
event loop catches up at most ``MAX_CATCH_UP`` ticks, then starts counting again).

With «Conferencias BEEP» on, a short rising beep tells everyone that someone came in and a
falling one that someone left. An ad-hoc room (the web phone's «Conferencia») ends when only
one participant is left: a three-way call that lost two parties is over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from webfon.rtp import g711
from webfon.rtp.prompts import prompt

from ..calls.leg import CallLeg
from ..repo.conferences import ConferenceRoom
from .jitter import FRAME, JitterBuffer
from .mixer import Mixer

log = logging.getLogger("pbx.conference")

TICK_S = FRAME / 8000
MAX_CATCH_UP = 5
ENTER_PROMPT = "conference_enter"
LEAVE_PROMPT = "conference_leave"
_SILENCE = {pt: g711.silence(pt, FRAME) for pt in (g711.PT_PCMU, g711.PT_PCMA)}


class Participant:
    """One leg in a room."""

    __slots__ = ("_first", "buffer", "joined_at", "left", "leg", "payload_type")

    def __init__(self, leg: CallLeg) -> None:
        self.leg = leg
        self.buffer = JitterBuffer()
        self.left = asyncio.Event()
        """Set when the participant is out of the room (left, or the room put them out)."""
        self.joined_at = time.time()
        self.payload_type = leg.media.payload_type
        self._first = True

    def on_rtp(self, data: bytes) -> None:
        media = self.leg.media
        if not media.muted:  # a participant on hold adds nothing to the mix
            self.buffer.put(data, data[1] & 0x7F)

    def send(self, payload: bytes) -> None:
        self.leg.media.endpoint.send(payload, self.payload_type, marker=self._first)
        self._first = False


class Room:
    def __init__(self, config: ConferenceRoom, on_empty: Callable[[Room], None]) -> None:
        self.config = config
        self.participants: list[Participant] = []
        self.mixer = Mixer()
        self.peak = 0
        self._on_empty = on_empty
        self._clock: asyncio.Task[None] | None = None
        self._announce: deque[npt.NDArray[np.int16]] = deque()

    @property
    def number(self) -> str:
        return self.config.number

    @property
    def full(self) -> bool:
        return len(self.participants) >= self.config.max_participants

    def __len__(self) -> int:
        return len(self.participants)

    # ------------------------------------------------------------------ who is in
    def join(self, leg: CallLeg) -> Participant:
        """``leg`` (answered) joins: from now on it hears the room and the room hears it."""
        participant = Participant(leg)
        leg.media.stop_playing()
        leg.media.sink = participant.on_rtp
        self.participants.append(participant)
        self.peak = max(self.peak, len(self.participants))
        self._configure()
        if self.config.beep:
            self.announce(ENTER_PROMPT)
        if self._clock is None:
            self._clock = asyncio.ensure_future(self._run())
        log.info("conference join", extra={"room": self.number, "number": leg.number,
                                           "participants": len(self.participants)})
        return participant

    def leave(self, participant: Participant) -> None:
        """``participant`` is out (idempotent); the room ends when nobody is left."""
        if participant not in self.participants:
            participant.left.set()
            return
        self.participants.remove(participant)
        media = participant.leg.media
        if media.sink == participant.on_rtp:
            media.sink = None
        participant.left.set()
        self._configure()
        remaining = len(self.participants)
        log.info("conference leave", extra={"room": self.number,
                                            "number": participant.leg.number,
                                            "participants": remaining})
        if self.config.adhoc and remaining == 1 and self.peak >= 2:
            self.leave(self.participants[0])  # a three-way call down to one party is over
            return
        if remaining and self.config.beep:
            self.announce(LEAVE_PROMPT)
        if not remaining:
            self.close()
            self._on_empty(self)

    def close(self) -> None:
        """Stop the clock and put everyone out."""
        for participant in list(self.participants):
            self.participants.remove(participant)
            if participant.leg.media.sink == participant.on_rtp:
                participant.leg.media.sink = None
            participant.left.set()
        clock, self._clock = self._clock, None
        if clock is not None and clock is not asyncio.current_task():
            clock.cancel()

    def _configure(self) -> None:
        self.mixer.resize(len(self.participants))
        for i, p in enumerate(self.participants):
            self.mixer.set_payload_type(i, p.payload_type)

    # ------------------------------------------------------------------ sound
    def announce(self, name: str) -> None:
        """Play a prompt to everyone in the room, mixed with what they hear."""
        samples = prompt(name)
        pad = (-len(samples)) % FRAME
        if pad:
            samples = np.concatenate([samples, np.zeros(pad, dtype=np.int16)])
        self._announce.extend(samples.reshape(-1, FRAME))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        try:
            while self.participants:
                self.tick()
                due += TICK_S
                delay = due - loop.time()
                if delay < -MAX_CATCH_UP * TICK_S:
                    due = loop.time()
                    delay = 0.0
                await asyncio.sleep(max(0.0, delay))
        except Exception:
            log.exception("conference clock failed", extra={"room": self.number})
            for participant in list(self.participants):
                participant.left.set()

    def tick(self) -> None:
        """One 20 ms frame to every participant."""
        participants = self.participants
        count = len(participants)
        if not count:
            return
        frames = self.mixer.frames
        frames[:count].fill(0)
        speaking = False
        reconfigure = False
        for i, p in enumerate(participants):
            if p.buffer.read(frames[i]):
                speaking = True
            pt = p.leg.media.payload_type
            if pt != p.payload_type and pt in _SILENCE:  # the codec changed (re-INVITE)
                p.payload_type = pt
                reconfigure = True
        if reconfigure:
            self._configure()
        extra = self._announce.popleft() if self._announce else None
        if not speaking and extra is None:
            for p in participants:
                p.send(_SILENCE[p.payload_type])
            return
        encoded = self.mixer.mix(count, extra)
        for i, p in enumerate(participants):
            p.send(encoded[i].tobytes())
