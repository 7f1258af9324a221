"""A user's mailbox as destination («a mensa»): the PBX answers, plays the greeting, records
what the caller says (up to ``voicemail_max_s``) to a WAV file, stores the message, announces
``voicemail.new`` and sends the user's phones a message-waiting NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from webfon.private_files import write_private
from webfon.rtp import g711
from webfon.rtp.packet import RtpError, RtpPacket
from webfon.rtp.wav import encode_wav

from ..calls.model import Call, CallState
from ..calls.records import from_user
from ..cdr import Disposition
from ..directory import User
from ..events import Events, VoicemailNew
from ..mwi import MessageWaiting
from ..repo.voicemail import NewMessage, VoicemailRepo
from ..routing import Route
from ..tasks import Background
from .base import answer_here

log = logging.getLogger("pbx.destinations")

PACKETS_PER_S = 50


class VoicemailDestination:
    def __init__(self, repo: VoicemailRepo, mwi: MessageWaiting, events: Events,
                 background: Background, media_host: str, folder: Path,
                 max_s: float) -> None:
        self.repo = repo
        self.mwi = mwi
        self.events = events
        self.background = background
        self.media_host = media_host
        self.folder = folder
        self.max_s = max_s

    async def deliver(self, call: Call, route: Route, depth: int) -> None:
        user = route.user
        if user is None:
            call.refuse(480, "No voicemail")
            return
        pt = answer_here(call, self.media_host)
        if pt is None:
            return
        call.state = CallState.VOICEMAIL
        call.answered_at = time.time()
        call.disposition = Disposition.VOICEMAIL
        payloads = await self._record(call, pt)
        if not payloads:
            call.hangup_cause = "voicemail: nothing recorded"
            return
        await self._store(call, user, payloads, pt)

    async def _record(self, call: Call, pt: int) -> list[bytes]:
        """Play the greeting, then keep what the caller sends until they hang up or the
        time is up."""
        a = call.a
        payloads: list[bytes] = []
        limit = PACKETS_PER_S * self.max_s

        def sink(data: bytes) -> None:
            try:
                pkt = RtpPacket.parse(data)
            except RtpError:
                return
            if pkt.payload_type == pt and len(payloads) < limit:
                payloads.append(pkt.payload)

        gone = a.ended
        player = a.media.play_prompt("voicemail_greeting")
        await asyncio.wait([player, gone], return_when=asyncio.FIRST_COMPLETED)
        a.media.sink = sink
        if not gone.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(gone), self.max_s)
        a.media.sink = None
        if not gone.done():
            await a.hangup()
        return payloads

    async def _store(self, call: Call, user: User, payloads: list[bytes], pt: int) -> None:
        samples = g711.decode(b"".join(payloads), pt)
        now = time.time()
        safe_id = "".join(ch if ch.isalnum() else "_" for ch in call.call_id)[:40]
        path = self.folder / str(user.id) / f"{int(now * 1000)}-{safe_id}.wav"
        await asyncio.to_thread(_write, path, samples)
        duration = len(samples) / 8000.0
        caller = call.caller
        message_id = await self.repo.add(NewMessage(
            user.id, caller.display_number or from_user(call.a.sip.invite),
            caller.user.display_name if caller.user else "", call.call_id, now, duration,
            str(path)))
        unread = await self.repo.unread(user.id)
        log.info("voicemail stored", extra={"call_id": call.call_id, "user_id": user.id,
                                            "message_id": message_id, "seconds": duration})
        await self.events.emit(VoicemailNew(user.id, message_id, unread))
        self.background.spawn(self.mwi.notify(user.id, unread))


def _write(path: Path, samples: Any) -> None:
    write_private(path, encode_wav(samples, 8000))  # 0600 in 0700 folders
