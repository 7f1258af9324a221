"""Call recording («Grabar por enrutamiento»): when, whose, and what becomes of the files.

Each user and each extension records *siempre* (always), *bajo demanda* (on demand) or *sin
grabación* (never); a party of a call has the most permissive of its user's and its
extension's setting. A connected call with a party that records always is recorded from the
answer to the end (owned by that party's user) and cannot be stopped on demand. A party with
«bajo demanda» (or «siempre») starts and stops recordings of its calls through FONBO (the web
phone's button, the API) and the control API (:meth:`Recordings.control`); an admin may start
and stop any call's recording by call or by extension, as VIVAit's InfoWS does, owned by the
party on that extension. Each start makes one recording, linked to the call's CDR rows by the
call's id.

A recording in progress taps both legs of the relay (:mod:`.writer`); when it stops or the
call ends it becomes a stereo WAV under ``recordings_dir/YYYY/MM`` and its row says where.
Recordings older than the retention setting are deleted, file and row, by :meth:`sweep`.
Conference calls are not recorded (a participant's call has one leg).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..calls.active import ActiveCalls
from ..calls.model import Call
from ..errors import Refusal
from ..features.parties import Parties
from ..repo.recordings import RecordingRepo
from ..tasks import Background
from .writer import Channel, private_dir, write_stereo

log = logging.getLogger("pbx.recording")

SWEEP_INTERVAL_S = 3600.0


class RecordingMode(StrEnum):
    NONE = "none"
    ON_DEMAND = "on_demand"
    ALWAYS = "always"


_RANK = {RecordingMode.NONE: 0, RecordingMode.ON_DEMAND: 1, RecordingMode.ALWAYS: 2}


class RecordingError(Refusal):
    """A start or stop that cannot be done (``status`` is the HTTP status to answer)."""


@dataclass(frozen=True)
class Party:
    user_id: int | None
    extension: str | None


class _Active:
    """A recording in progress."""

    def __init__(self, recording_id: int, call: Call, reason: str, left: Channel,
                 right: Channel, started_at: float) -> None:
        self.id = recording_id
        self.call = call
        self.reason = reason
        self.left = left
        self.right = right
        self.started_at = started_at


class Recordings:
    def __init__(self, repo: RecordingRepo, active: ActiveCalls, folder: Path,
                 retention_days: float, background: Background,
                 cache_s: float = 5.0, legs: Parties | None = None) -> None:
        self.repo = repo
        self.legs = legs
        self.calls = active
        self.folder = folder
        self.retention_s = retention_days * 86400.0
        self.background = background
        self.cache_s = cache_s
        self.recording: dict[str, _Active] = {}
        self._modes: tuple[dict[int, str], dict[str, str]] = ({}, {})
        self._modes_until = 0.0
        self._anyone_always = False
        self._since = time.time()

    # ------------------------------------------------------------------ policy
    async def _settings(self) -> tuple[dict[int, str], dict[str, str]]:
        now = time.monotonic()
        if now >= self._modes_until:
            self._modes = await self.repo.modes()
            self._modes_until = now + self.cache_s
            self._anyone_always = any(mode == RecordingMode.ALWAYS
                                      for modes in self._modes for mode in modes.values())
        return self._modes

    async def mode_of(self, party: Party) -> RecordingMode:
        """The most permissive of the party's user's and extension's setting."""
        users, extensions = await self._settings()
        found = [RecordingMode(users[party.user_id]) if party.user_id in users else None,
                 RecordingMode(extensions[party.extension])
                 if party.extension in extensions else None]
        return max((m for m in found if m is not None), key=_RANK.__getitem__,
                   default=RecordingMode.NONE)

    async def parties(self, call: Call) -> list[Party]:
        """Who is on the call's two legs now — after a transfer, whoever it connected, not
        whoever placed the call; a leg whose party cannot be told stands for the call's
        caller or callee as it was set up."""
        own = call.caller.extension.number if call.caller.extension else None
        other = next((n for n in call.extensions if n != own), None)
        fallback = (Party(call.caller.user.id if call.caller.user else None, own),
                    Party(call.peer_user_id, other))
        found: list[Party] = []
        for leg, default in ((call.a, fallback[0]), (call.b, fallback[1])):
            if leg is None:
                continue
            who = await self.legs.of(leg) if self.legs is not None else None
            if who is None or (who.user is None and who.extension is None):
                found.append(default if leg.user_id in (None, default.user_id)
                             else Party(leg.user_id, None))
                continue
            found.append(Party(who.user.id if who.user else leg.user_id,
                               who.extension.number if who.extension else None))
        return found

    # ------------------------------------------------------------------ start and stop
    async def on_connected(self, call: Call) -> None:
        """A call was connected: record it when a party records always."""
        if call.b is None or call.call_id in self.recording:
            return
        await self._settings()
        if not self._anyone_always:  # nobody records every call: nothing to look up
            return
        for party in await self.parties(call):
            if await self.mode_of(party) is RecordingMode.ALWAYS:
                await self.start(call, party.user_id, RecordingMode.ALWAYS)
                return

    async def start(self, call: Call, owner_user_id: int | None, reason: str) -> int:
        if call.call_id in self.recording:
            raise RecordingError(409, "this call is already being recorded")
        if call.b is None or call.a.terminated or call.b.terminated:
            raise RecordingError(409, "only a connected call between two parties is recorded")
        now = time.time()
        partial = private_dir(self.folder / ".partial")
        recording_id = await self.repo.add(
            call_id=call.call_id, owner_user_id=owner_user_id,
            caller=call.caller.display_number or call.a.number, callee=call.callee,
            reason=reason, started_at=now, expires_at=now + self.retention_s)
        started = time.monotonic()
        left = Channel(partial / f"{recording_id}.left.raw", started)
        right = Channel(partial / f"{recording_id}.right.raw", started)
        self.recording[call.call_id] = _Active(recording_id, call, reason, left, right, now)
        call.a.media.tap = left.feed
        call.b.media.tap = right.feed
        if self._at_end not in (call.end_hooks or []):
            call.add_end_hook(self._at_end)
        log.info("recording started", extra={"call_id": call.call_id,
                                             "recording_id": recording_id, "reason": reason,
                                             "owner": owner_user_id})
        return recording_id

    async def stop(self, call: Call) -> int:
        active = self.recording.pop(call.call_id, None)
        if active is None:
            raise RecordingError(409, "this call is not being recorded")
        for leg in call.legs():
            if leg.media.tap in (active.left.feed, active.right.feed):
                leg.media.tap = None
        await self._finish(active)
        return active.id

    async def _at_end(self, call: Call, ended: float) -> None:
        active = self.recording.pop(call.call_id, None)
        if active is not None:
            await self._finish(active)

    async def _finish(self, active: _Active) -> None:
        ended = time.time()
        stamp = time.gmtime(active.started_at)
        folder = self.folder / f"{stamp.tm_year:04d}" / f"{stamp.tm_mon:02d}"
        safe = "".join(ch if ch.isalnum() else "_" for ch in active.call.call_id)[:40]
        target = folder / f"{active.id}-{safe}.wav"
        try:
            duration = await asyncio.to_thread(_write, active, folder, target)
        except OSError as exc:
            log.error("recording not written: %s", exc,
                      extra={"recording_id": active.id, "call_id": active.call.call_id})
            await self.repo.failed(active.id, ended)
            return
        await self.repo.done(active.id, str(target), ended, duration)
        log.info("recording stored", extra={"recording_id": active.id,
                                            "call_id": active.call.call_id,
                                            "seconds": round(duration, 2)})

    # ------------------------------------------------------------------ control API
    def find(self, *, call_id: str | None = None, extension: str | None = None
             ) -> Call | None:
        """A connected call by its id or a leg's SIP Call-ID, or the call an extension is in."""
        for call in self.calls.calls.values():
            if call.b is None:
                continue
            if call_id is not None and (call.call_id == call_id or any(
                    leg.sip.dialog is not None and leg.sip.dialog.call_id == call_id
                    for leg in call.legs())):
                return call
            if extension is not None and (extension in call.extensions or any(
                    leg.number == extension for leg in call.legs())):
                return call
        return None

    async def control(self, action: str, *, user_id: int, admin: bool,
                      call_id: str | None = None, extension: str | None = None
                      ) -> dict[str, object]:
        """Start or stop the recording of a call for ``user_id``: a party of it (with
        «Grabar por enrutamiento» on demand or always), or an admin."""
        if action not in ("start", "stop"):
            raise RecordingError(400, "action must be start or stop")
        if (call_id is None) == (extension is None):
            raise RecordingError(400, "give call_id or extension")
        if extension is not None and not admin:
            raise RecordingError(403, "only an admin records by extension")
        call = self.find(call_id=call_id, extension=extension)
        if call is None:
            raise RecordingError(404, "no connected call found")
        parties = await self.parties(call)
        mine = next((p for p in parties if p.user_id == user_id), None)
        if mine is None and not admin:
            raise RecordingError(404, "no connected call found")  # not one of theirs
        if action == "start":
            if mine is not None and not admin and \
                    await self.mode_of(mine) is RecordingMode.NONE:
                raise RecordingError(403, "«Grabar por enrutamiento» is «sin grabación» for "
                                          "you")
            owner = user_id if mine is not None else next(
                (p.user_id for p in parties if p.extension == extension), None)
            recording_id = await self.start(call, owner, RecordingMode.ON_DEMAND)
            state = "recording"
        else:
            active = self.recording.get(call.call_id)
            if active is not None and active.reason == RecordingMode.ALWAYS and not admin:
                raise RecordingError(409, "this call is recorded always («siempre»)")
            recording_id = await self.stop(call)
            state = "stopped"
        return {"recording_id": recording_id, "state": state, "call_id": call.call_id}

    # ------------------------------------------------------------------ retention
    async def sweep(self) -> int:
        """Delete recordings past their retention (file and row); how many."""
        count = 0
        for recording_id, path in await self.repo.expired():
            if path:
                with contextlib.suppress(FileNotFoundError):
                    await asyncio.to_thread(Path(path).unlink)
            await self.repo.delete(recording_id)
            count += 1
        if count:
            log.info("expired recordings deleted", extra={"count": count})
        return count

    async def run_sweeper(self, interval: float = SWEEP_INTERVAL_S) -> None:
        for recording_id in await self.repo.unfinished(self._since):
            await self.repo.failed(recording_id, time.time())
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("recording sweep failed")
            await asyncio.sleep(interval)

    async def close(self) -> None:
        """Write what is being recorded (the PBX stops)."""
        for call_id in list(self.recording):
            active = self.recording.pop(call_id)
            await self._finish(active)


def _write(active: _Active, folder: Path, target: Path) -> float:
    active.left.close()
    active.right.close()
    try:
        private_dir(folder)
        return write_stereo(active.left.path, active.right.path, target)
    finally:
        for channel in (active.left, active.right):
            with contextlib.suppress(FileNotFoundError):
                channel.path.unlink()
