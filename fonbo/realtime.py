"""Realtime events over Socket.IO: new calls, new voicemail, presence of agenda contacts.

Clients connect to ``/socket.io`` with ``auth={"token": "<access token>"}``; each socket joins
the room ``user:<id>``. Events sent to clients:

* ``history.new`` — a call record (same shape as ``GET /fonbo/history`` items);
* ``voicemail.new`` — ``{"message_id", "message", "unread"}``;
* ``voicemail.unread`` — ``{"unread"}`` after a message is marked or deleted;
* ``presence`` — ``{"user_id", "number", "state"}`` for users in my agenda, matched only on
  what the corporate directory shows of them (a disabled or test user, or a pool web
  extension, cannot be watched by putting its number in one's agenda);
* ``presence.snapshot`` — ``{"items": [presence, …]}`` right after connecting;
* ``session.ended`` — ``{"reason"}`` just before the server disconnects a socket whose login
  session ended (logout, revocation, account disabled: bus topic ``auth.ended``).
* ``presence`` — ``{"user_id", "number", "state"}`` for users in my agenda;
* ``presence.snapshot`` — ``{"items": [presence, …]}`` right after connecting;
* ``acd.queue`` — ``{"queue_id", "event", "waiting"}``: something changed in a group the user
  is an agent or supervisor of (admins: every group); what changed is read with
  ``GET /fonbo/acd/queues/{id}/status``, which applies the user's rights. Sockets join the
  rooms ``acd:<queue id>`` of their groups when connecting and again when they send
  ``acd.watch`` (after their groups changed).

The source is the event bus (topics ``call.ended``, ``voicemail.new``, ``presence``,
``acd.queue``). With a
Redis URL, python-socketio's Redis manager joins the FONBO nodes: an emit on one node reaches
sockets on every node. When the bus itself is shared (``bus_url`` set) every node already
receives every bus event, so those are emitted to local sockets only (no duplicates); when the
bus is in-process, they go through the Redis manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from aiohttp import web

from fonbo.repo import acd, agenda, history, voicemail
from webfon import session_end
from webfon.bus import Bus
from webfon.store import Store
from webfon.tokens import TokenError

log = logging.getLogger("fonbo.realtime")

TOPICS = ("call.ended", "voicemail.new", "presence", "acd.queue", session_end.TOPIC)
PRESENCE_STATES = ("idle", "ringing", "in_call", "offline")


def room(user_id: int) -> str:
    return f"user:{user_id}"


def queue_room(queue_id: int) -> str:
    return f"acd:{queue_id}"


class Realtime:
    def __init__(self, app: web.Application, *, store_getter: Callable[[], Store],
                 bus_getter: Callable[[], Bus], verify: Callable[[str], Awaitable[Any]],
                 redis_url: str = "", shared_bus: bool = False,
                 cors_allowed_origins: list[str] | None = None) -> None:
        manager = socketio.AsyncRedisManager(redis_url) if redis_url else None
        kwargs: dict[str, Any] = {}
        if cors_allowed_origins:
            kwargs["cors_allowed_origins"] = cors_allowed_origins
        self.sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager,
                                        logger=False, engineio_logger=False, **kwargs)
        self.sio.attach(app, socketio_path="socket.io")
        self._store = store_getter
        self._bus = bus_getter
        self._verify = verify
        self.shared_bus = shared_bus
        self.presence: dict[int, dict[str, Any]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.ended = session_end.EndedSessions()
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("acd.watch", self._on_watch)

    # --- sockets -----------------------------------------------------------------------
    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise socketio.exceptions.ConnectionRefusedError("missing token")
        try:
            claims = await self._verify(token)
            user_id = claims.user_id
        except (TokenError, ValueError) as exc:
            raise socketio.exceptions.ConnectionRefusedError(f"unauthorized: {exc}") from None
        admin = claims.has_role("admin")
        await self.sio.save_session(sid, {"user_id": user_id, "admin": admin,
                                          "sid": claims.extra.get("sid"),
                                          "iat": claims.issued_at})
        await self.sio.enter_room(sid, room(user_id))
        await self._watch_queues(sid, user_id, admin)
        delay = max(0.0, claims.expires_at - time.time())
        loop = asyncio.get_running_loop()
        self._expiry[sid] = loop.call_later(delay, self._expire, sid)
        log.info("socket connected", extra={"sid": sid, "user_id": user_id})
        task = asyncio.create_task(self._welcome(sid, user_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _expire(self, sid: str) -> None:
        self._expiry.pop(sid, None)
        task = asyncio.create_task(self.sio.disconnect(sid))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _welcome(self, sid: str, user_id: int) -> None:
        try:
            store = self._store()
            unread = await voicemail.unread_count(store, user_id)
            await self.sio.emit("voicemail.unread", {"unread": unread}, to=sid, ignore_queue=True)
            rows = await store.fetchall("SELECT DISTINCT number FROM contacts "
                                        "WHERE owner_user_id = ?", (user_id,))
            numbers = {str(r["number"]) for r in rows}
            items = [{k: v for k, v in p.items() if k != "numbers"}
                     for p in self.presence.values() if numbers & set(p["numbers"])]
            await self.sio.emit("presence.snapshot", {"items": items}, to=sid, ignore_queue=True)
        except Exception:
            log.exception("welcome failed", extra={"sid": sid})

    async def _watch_queues(self, sid: str, user_id: int, admin: bool) -> list[int]:
        """Join the rooms of the groups the user may follow (and leave the others)."""
        try:
            ids = await acd.related_queue_ids(self._store(), user_id, admin)
        except Exception:
            log.exception("groups of a socket not found", extra={"sid": sid})
            return []
        wanted = {queue_room(i) for i in ids}
        for name in self.sio.rooms(sid):
            if name.startswith("acd:") and name not in wanted:
                await self.sio.leave_room(sid, name)
        for name in wanted:
            await self.sio.enter_room(sid, name)
        return ids

    async def _on_watch(self, sid: str, *args: Any) -> dict[str, Any]:
        session = await self.sio.get_session(sid)
        ids = await self._watch_queues(sid, int(session["user_id"]), bool(session["admin"]))
        return {"queues": ids}

    async def _on_disconnect(self, sid: str, *args: Any) -> None:
        handle = self._expiry.pop(sid, None)
        if handle is not None:
            handle.cancel()

    async def emit_user(self, user_id: int, event: str, data: Any, *,
                        from_bus: bool = False) -> None:
        """Send to every socket of ``user_id`` on every node.

        Events that came from a shared bus are already seen by every node: those go to the
        local sockets only.
        """
        await self.sio.emit(event, data, room=room(user_id),
                            ignore_queue=from_bus and self.shared_bus)

    # --- bus ---------------------------------------------------------------------------
    async def start(self) -> None:
        bus = self._bus()
        for topic, handler in (("call.ended", self.on_call_ended),
                               ("voicemail.new", self.on_voicemail),
                               ("presence", self.on_presence),
                               ("acd.queue", self.on_queue),
                               (session_end.TOPIC, self.on_auth_ended)):
            sub = await bus.subscribe(topic)
            self._tasks.append(asyncio.create_task(self._consume(sub, handler)))

    async def _consume(self, sub: Any, handler: Callable[[dict[str, Any]], Awaitable[None]]
                       ) -> None:
        try:
            async for event in sub:
                try:
                    await handler(event.payload)
                except Exception:
                    log.exception("bus event not delivered", extra={"topic": event.topic})
        finally:
            with contextlib.suppress(Exception):
                await sub.close()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for handle in self._expiry.values():
            handle.cancel()
        self._expiry.clear()
        manager = self.sio.manager
        if hasattr(manager, "thread") and manager.thread is not None:
            manager.thread.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await manager.thread

    async def on_auth_ended(self, payload: dict[str, Any]) -> None:
        end = session_end.SessionEnd.from_payload(payload)
        if end is not None:
            await self.end_sessions(end)

    async def end_sessions(self, end: session_end.SessionEnd) -> int:
        """Disconnect this node's sockets of the sessions that ended; returns how many."""
        self.ended.note(end)
        closed = 0
        for sid, _ in list(self.sio.manager.get_participants("/", room(end.user_id))):
            try:
                info = await self.sio.get_session(sid)
            except KeyError:
                continue
            if not end.ends(str(info.get("user_id")), info.get("sid"), info.get("iat", 0.0)):
                continue
            await self.sio.emit("session.ended", {"reason": end.reason}, to=sid,
                                ignore_queue=True)
            await self.sio.disconnect(sid, ignore_queue=True)
            closed += 1
        if closed:
            log.info("sockets of an ended session closed",
                     extra={"user_id": end.user_id, "sockets": closed, "reason": end.reason})
        return closed

    async def on_call_ended(self, payload: dict[str, Any]) -> None:
        rows = payload.get("cdr") or payload.get("rows") or payload
        for row in rows if isinstance(rows, list) else [rows]:
            if not isinstance(row, dict) or row.get("user_id") is None:
                continue
            user_id = int(row["user_id"])
            store = self._store()
            rec = None
            if row.get("id") is not None:
                rec = await history.get_record(store, user_id, int(row["id"]))
            if rec is None:
                needed = ("id", "call_id", "caller", "callee", "direction", "started_at",
                          "ended_at", "disposition")
                if not all(k in row for k in needed):
                    log.warning("call.ended without a usable cdr row",
                                extra={"user_id": user_id})
                    continue
                full = {"caller_name": "", "extension": "", "answered_at": None,
                        "duration_s": 0, "billsec": 0, "trunk": "", **row}
                mine = await agenda.numbers_of_user(store, user_id)
                rec = history.record(full, mine)
            await self.emit_user(user_id, "history.new", rec, from_bus=True)

    async def on_voicemail(self, payload: dict[str, Any]) -> None:
        if payload.get("user_id") is None:
            return
        user_id = int(payload["user_id"])
        store = self._store()
        message = None
        if payload.get("message_id") is not None:
            message = await voicemail.get_message(store, user_id, int(payload["message_id"]))
        unread = payload.get("unread")
        if not isinstance(unread, int):
            unread = await voicemail.unread_count(store, user_id)
        await self.emit_user(user_id, "voicemail.new",
                             {"message_id": payload.get("message_id"), "message": message,
                              "unread": unread}, from_bus=True)

    async def on_presence(self, payload: dict[str, Any]) -> None:
        state = payload.get("state")
        if payload.get("user_id") is None or state not in PRESENCE_STATES:
            return
        user_id = int(payload["user_id"])
        store = self._store()
        # only what the directory shows of the user can be watched (see presence_numbers)
        numbers = await agenda.presence_numbers(store, user_id)
        if not numbers:
            self.presence.pop(user_id, None)
            return
        number = str(payload.get("number") or "")
        data = {"user_id": user_id, "number": number if number in numbers else numbers[0],
                "state": state}
        self.presence[user_id] = {**data, "numbers": numbers}
        for owner in await agenda.owners_of_numbers(store, numbers):
            if owner != user_id:
                await self.emit_user(owner, "presence", data, from_bus=True)


    async def on_queue(self, payload: dict[str, Any]) -> None:
        """A group changed: tell its room that it did, not who or what (the status says that
        to each according to their rights)."""
        queue_id = payload.get("queue_id")
        if not isinstance(queue_id, int) or isinstance(queue_id, bool):
            return
        event = payload.get("event") if isinstance(payload.get("event"), str) else "changed"
        waiting = payload.get("waiting")
        await self.sio.emit("acd.queue", {"queue_id": queue_id, "event": event[:16],
                                          "waiting": waiting if isinstance(waiting, int)
                                          else None},
                            room=queue_room(queue_id), ignore_queue=self.shared_bus)


async def emit_to_user(app: web.Application, user_id: int, event: str, data: Any) -> None:
    """Send an event to a user's sockets from an HTTP handler (no-op without realtime)."""
    from fonbo.keys import REALTIME_KEY

    realtime: Realtime | None = app.get(REALTIME_KEY)
    if realtime is None:
        return
    try:
        await realtime.emit_user(user_id, event, data)
    except Exception:
        log.exception("realtime emit failed", extra={"event": event})
