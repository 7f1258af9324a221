"""The Janus core: sessions, handles, request dispatch, events, timeouts.

Transport-agnostic: a transport hands every parsed request to :meth:`Gateway.process` together
with itself (so replies go back the way the request came, and a WebSocket session's events go
down that socket); sessions created over HTTP queue their events for long polls instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiortc import RTCConfiguration

from gateway import errors as E
from gateway.errors import JanusError
from gateway.limits import UNLIMITED_ROLES, Limits
from gateway.media.webrtc import WebRtcLeg
from gateway.media.workers import MediaWorkers
from gateway.metrics import Metrics
from gateway.plugins.base import Plugin, PluginRegistry, PluginSession
from webfon.logsetup import bind
from webfon.session_end import EndedSessions, SessionEnd
from webfon.sip.errors import ParseError
from webfon.sip.sdp import SessionDescription
from webfon.tokens import Claims, TokenError

log = logging.getLogger("gateway.core")

SERVER_NAME = "webfon gateway"
VERSION = 1102
VERSION_STRING = "1.1.2"

TokenCheck = Callable[[str], Awaitable[Claims]]


class Transport(Protocol):
    """Where replies and (for bound sessions) events go."""

    kind: str

    def deliver(self, message: dict[str, Any]) -> bool:
        """Send an event; False when the transport is gone."""
        ...

    async def close(self, reason: str) -> None:
        """Close the connection (the client reconnects, possibly to another node)."""
        ...


def new_id() -> int:
    """Random ids that survive JavaScript's 53-bit integers."""
    return secrets.randbelow(2**53 - 1) + 1


class Handle:
    """One plugin attachment; implements the plugin's HandleContext."""

    def __init__(self, gateway: Gateway, session: Session, plugin: Plugin,
                 opaque_id: str | None, claims: Claims | None,
                 plugin_name: str | None = None) -> None:
        self.gateway = gateway
        self.session = session
        self.plugin = plugin
        # the name the client attached with (an alias such as janus.plugin.sip): events
        # name the plugin that way, as the client expects
        self.plugin_name = plugin_name or plugin.package
        self.handle_id = new_id()
        self.session_id = session.id
        self.opaque_id = opaque_id
        self.claims = claims
        self.created = time.time()
        self.plugin_session: PluginSession | None = None
        self._media: WebRtcLeg | None = None
        self._deferred: list[dict[str, Any]] | None = None
        self.closed = False

    # --- HandleContext -----------------------------------------------------------------
    @property
    def media(self) -> WebRtcLeg:
        if self._media is None:
            self._media = self.gateway.new_leg(self)
        return self._media

    @property
    def has_media(self) -> bool:
        return self._media is not None

    def renew_media(self) -> WebRtcLeg:
        """Replace the WebRTC leg with a fresh one, for a renegotiation that brings a new peer
        connection or an ICE restart (which aiortc cannot do in place). The old leg goes
        quietly: no ``hangup`` event, and its closing does not end the plugin's call."""
        old, self._media = self._media, None
        if old is not None:
            old.silence()
            self.gateway.spawn(old.close())
        self.gateway.metrics.media_renewed += 1
        log.info("media renewed", extra={"session": self.session.id, "handle": self.handle_id})
        return self.media

    def push_event(self, transaction: str | None, data: dict[str, Any],
                   jsep: dict[str, Any] | None = None) -> None:
        if self.closed:
            return
        msg: dict[str, Any] = {"janus": "event", "session_id": self.session.id,
                               "sender": self.handle_id}
        if transaction:
            msg["transaction"] = transaction
        msg["plugindata"] = {"plugin": self.plugin_name, "data": data}
        if jsep is not None:
            msg["jsep"] = jsep
        self._emit(msg)

    def _emit(self, msg: dict[str, Any]) -> None:
        if self._deferred is not None:
            self._deferred.append(msg)
        else:
            self.session.push(msg)

    async def close_media(self, reason: str = "Close PC") -> None:
        leg, self._media = self._media, None
        if leg is not None:
            negotiated = leg.negotiated
            await leg.close()
            if not self.closed and negotiated:
                self._emit({"janus": "hangup", "session_id": self.session.id,
                            "sender": self.handle_id, "reason": reason})

    def end(self, reason: str = "plugin ended the handle") -> None:
        if not self.closed and not self.session.destroyed:
            self.gateway.spawn(self.session.detach(self, reason=reason, notify=True))

    # --- media callbacks ----------------------------------------------------------------
    def _media_up(self) -> None:
        self.gateway.metrics.webrtc_up += 1
        self._emit({"janus": "webrtcup", "session_id": self.session.id,
                    "sender": self.handle_id})
        if self.plugin_session is not None:
            self.gateway.spawn(self.plugin_session.media_up())

    def _media_state(self, kind: str, receiving: bool) -> None:
        self._emit({"janus": "media", "session_id": self.session.id, "sender": self.handle_id,
                    "type": kind, "mid": "0", "receiving": receiving})

    def _media_down(self, reason: str) -> None:
        if self.closed:
            return

        async def down() -> None:
            await self.close_media(reason)
            if self.plugin_session is not None:
                await self.plugin_session.media_down(reason)

        self.gateway.spawn(down())

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"handle_id": self.handle_id, "plugin": self.plugin.package,
                                "opaque_id": self.opaque_id, "created": self.created,
                                "webrtc": None}
        if self._media is not None:
            info["webrtc"] = {"connected": self._media.connected,
                              "codec": self._media.audio.name if self._media.audio else None,
                              **self._media.stats()}
        if self.plugin_session is not None:
            info["plugin_state"] = self.plugin_session.describe()
        return info


class Session:
    def __init__(self, gateway: Gateway, claims: Claims | None,
                 transport: Transport | None) -> None:
        self.gateway = gateway
        self.id = new_id()
        self.claims = claims
        self.transport = transport
        self.created = time.time()
        self.last_activity = time.monotonic()
        self.handles: dict[int, Handle] = {}
        self.queue: deque[dict[str, Any]] = deque(maxlen=1000)
        self.wakeup = asyncio.Event()
        self.destroyed = False
        # set when its WebSocket closed and the session waits to be claimed again
        self.orphaned_at: float | None = None

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    def push(self, msg: dict[str, Any]) -> None:
        if self.transport is not None and self.transport.deliver(msg):
            return
        self.queue.append(msg)
        self.wakeup.set()

    def orphan(self) -> None:
        """Its transport went away: events are queued until a ``claim`` binds a new one."""
        self.transport = None
        self.orphaned_at = time.monotonic()

    def bind(self, transport: Transport | None) -> None:
        """Events go to ``transport`` from now on (None: queued for HTTP long polls); events
        queued while the session had no transport follow, in order, right after the reply to
        the request that bound it."""
        self.transport = transport
        self.orphaned_at = None
        if transport is None:
            self.wakeup.set()
            return
        asyncio.get_running_loop().call_soon(self._flush, transport)

    def _flush(self, transport: Transport) -> None:
        while self.queue and self.transport is transport:
            if not transport.deliver(self.queue[0]):
                break
            self.queue.popleft()

    async def poll(self, maxev: int, timeout: float) -> list[dict[str, Any]]:
        """Events for an HTTP long poll (empty after ``timeout``)."""
        if not self.queue:
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout)
        events = []
        while self.queue and len(events) < maxev:
            events.append(self.queue.popleft())
        return events

    async def detach(self, handle: Handle, reason: str = "", notify: bool = True) -> None:
        if handle.closed:
            return
        self.handles.pop(handle.handle_id, None)
        with bind(session=self.id, handle=handle.handle_id):
            if handle.plugin_session is not None:
                try:
                    await handle.plugin_session.destroy()
                except Exception:
                    log.exception("plugin destroy failed")
            await handle.close_media()
            handle.closed = True
            if notify:
                self.push({"janus": "detached", "session_id": self.id,
                           "sender": handle.handle_id})
            log.info("handle detached", extra={"reason": reason})
        self.gateway.metrics.handles_detached += 1

    async def destroy(self, reason: str) -> None:
        if self.destroyed:
            return
        self.destroyed = True
        self.gateway.sessions.pop(self.id, None)
        self.gateway._forget(self)
        for handle in list(self.handles.values()):
            await self.detach(handle, reason=reason, notify=False)
        self.wakeup.set()
        log.info("session destroyed", extra={"session": self.id, "reason": reason})

    @property
    def busy(self) -> bool:
        """A call in progress on one of its handles (ringing, connected or held), or live
        media such as an echo test."""
        for handle in self.handles.values():
            if handle.has_media and handle.media.connected:
                return True
            if handle.plugin_session is not None and \
                    handle.plugin_session.describe().get("call") is not None:
                return True
        return False

    def describe(self) -> dict[str, Any]:
        return {"session_id": self.id, "created": self.created,
                "user": self.claims.sub if self.claims else None,
                "transport": (self.transport.kind if self.transport
                              else "none (waiting to be claimed)" if self.orphaned_at
                              else "http"),
                "idle_s": round(time.monotonic() - self.last_activity, 1),
                "handles": [h.describe() for h in self.handles.values()]}


# Janus's parameter tables: (name, type, required), checked in order
REQUEST_PARAMETERS = (("transaction", str, True), ("janus", str, True), ("id", int, False))
ATTACH_PARAMETERS = (("plugin", str, True), ("opaque_id", str, False),
                     ("loop_index", int, False))
BODY_PARAMETERS = (("body", dict, True),)
JSEP_PARAMETERS = (("type", str, True), ("sdp", str, True), ("trickle", bool, False),
                   ("rid_order", str, False), ("force_relay", bool, False),
                   ("e2ee", bool, False))
_TYPE_NAMES = {str: "a string", int: "a positive integer", dict: "an object",
               bool: "a boolean"}


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _validate(msg: dict[str, Any], table: tuple[tuple[str, type, bool], ...],
              missing: str = "Missing mandatory element ({})",
              invalid: str = "Invalid element type ({} should be {})") -> None:
    """Janus's JSON validation: the first missing or mistyped element, with its texts."""
    for name, kind, required in table:
        if name not in msg:
            if required:
                raise JanusError(E.MISSING_MANDATORY_ELEMENT, missing.format(name))
            continue
        value = msg[name]
        ok = isinstance(value, kind) and (kind is not int or (not isinstance(value, bool)
                                                              and value >= 0))
        if not ok:
            raise JanusError(E.INVALID_ELEMENT_TYPE, invalid.format(name, _TYPE_NAMES[kind]))


def _error(code: int, reason: str, transaction: Any = None,
           session_id: int | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"janus": "error"}
    if session_id is not None:
        msg["session_id"] = session_id
    if transaction is not None:
        msg["transaction"] = transaction
    msg["error"] = {"code": code, "reason": reason}
    return msg


class Gateway:
    def __init__(self, registry: PluginRegistry, token_check: TokenCheck | None,
                 rtc_config: RTCConfiguration, session_timeout: int = 60,
                 nat_1_1: str = "", host_addresses: list[str] | None = None,
                 require_token: bool = True, reclaim_session_timeout: int = 0,
                 media_workers: MediaWorkers | None = None,
                 limits: Limits | None = None) -> None:
        self.registry = registry
        self.limits = limits or Limits()
        self.by_user: dict[str, set[Session]] = {}
        self.ended = EndedSessions()
        self.media_workers = media_workers
        self.reclaim_session_timeout = reclaim_session_timeout
        self.token_check = token_check
        self.require_token = require_token
        self.rtc_config = rtc_config
        self.session_timeout = session_timeout
        self.nat_1_1 = nat_1_1
        self.host_addresses = host_addresses or []
        self.sessions: dict[int, Session] = {}
        # False while the node drains: ``create`` is refused (and the WebSocket transport
        # refuses new connections, so the balancer sends them to another node)
        self.accepting_sessions = True
        self.node_id = 0  # local_nodo_id, told to clients in the ``create`` reply
        self.metrics = Metrics()
        self.slowlink_threshold = 4  # packets lost in a second (of 50) before ``slowlink``
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reaper: asyncio.Task[None] | None = None

    # --- per-user accounting -------------------------------------------------------------
    def user_sessions(self, sub: str) -> set[Session]:
        return self.by_user.get(sub, set())

    def user_usage(self, sub: str) -> tuple[int, int]:
        """Sessions and handles the user holds on this gateway."""
        sessions = self.user_sessions(sub)
        return len(sessions), sum(len(s.handles) for s in sessions)

    def _forget(self, session: Session) -> None:
        if session.claims is not None:
            held = self.by_user.get(session.claims.sub)
            if held is not None:
                held.discard(session)
                if not held:
                    del self.by_user[session.claims.sub]

    async def end_sessions(self, end: SessionEnd) -> int:
        """The user's login session(s) ended (``auth.ended``: logout, revocation, account
        disabled): their Janus sessions end now, with calls, registrations and webphone
        login. The client gets ``timeout`` with ``ended: true`` and the reason."""
        self.ended.note(end)
        count = 0
        for session in list(self.user_sessions(str(end.user_id))):
            if session.claims is None or not end.ends_claims(session.claims):
                continue
            reason = f"session ended: {end.reason}"
            session.push({"janus": "timeout", "session_id": session.id, "ended": True,
                          "reason": reason})
            await session.destroy(reason)
            count += 1
        if count:
            self.metrics.sessions_ended_by_account += count
            log.info("sessions of an ended login closed",
                     extra={"user": end.user_id, "sessions": count, "reason": end.reason})
        return count

    def _refuse(self, reason: str, **fields: Any) -> JanusError:
        self.metrics.limit_refusals += 1
        log.warning("limit reached", extra={"limit": reason, **fields})
        return JanusError(E.LIMIT_REACHED, reason)

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        if self.media_workers is not None:
            await self.media_workers.start()
        for plugin in self.registry.unique():
            await plugin.start()
        self._reaper = asyncio.create_task(self._reap())

    async def stop(self) -> None:
        if self._reaper:
            self._reaper.cancel()
        for session in list(self.sessions.values()):
            await session.destroy("shutdown")
        for plugin in self.registry.unique():
            await plugin.stop()
        for task in list(self._tasks):
            task.cancel()
        if self.media_workers is not None:
            await self.media_workers.stop()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._watch_media()
            now = time.monotonic()
            for session in list(self.sessions.values()):
                if session.orphaned_at is not None and \
                        now - session.orphaned_at > self.reclaim_session_timeout:
                    self.metrics.sessions_not_reclaimed += 1
                    await session.destroy("not reclaimed after its transport closed")
                    continue
                if self.session_timeout <= 0:
                    continue
                if now - session.last_activity > self.session_timeout:
                    session.push({"janus": "timeout", "session_id": session.id})
                    self.metrics.sessions_timed_out += 1
                    await session.destroy("timeout")

    def _watch_media(self) -> None:
        """``media`` receiving=false after a second without packets from the browser, and
        ``slowlink`` (uplink) when packets from the browser went missing."""
        now = time.monotonic()
        for session in list(self.sessions.values()):
            for handle in list(session.handles.values()):
                leg = handle._media
                if leg is None:
                    continue
                change, lost = leg.watchdog(now)
                if change is False:
                    handle._media_state("audio", False)
                if lost >= self.slowlink_threshold:
                    handle._emit({"janus": "slowlink", "session_id": session.id,
                                  "sender": handle.handle_id, "mid": "0", "media": "audio",
                                  "uplink": True, "lost": lost})

    def new_leg(self, handle: Handle) -> WebRtcLeg:
        return WebRtcLeg(self.rtc_config, nat_1_1=self.nat_1_1,
                         host_addresses=self.host_addresses,
                         on_up=handle._media_up, on_media=handle._media_state,
                         on_down=handle._media_down, workers=self.media_workers)

    async def transport_gone(self, transport: Transport) -> None:
        """A WebSocket closed: its sessions go too (unless another transport claimed them),
        or, with ``reclaim_session_timeout``, wait that long for a ``claim`` with calls and
        registrations intact; their events are queued meanwhile."""
        for session in list(self.sessions.values()):
            if session.transport is not transport:
                continue
            if self.reclaim_session_timeout > 0:
                session.orphan()
                log.info("session waiting to be claimed",
                         extra={"session": session.id,
                                "timeout_s": self.reclaim_session_timeout})
            else:
                await session.destroy("transport closed")

    async def close_session(self, session: Session, reason: str) -> None:
        """End a session from the server side (its registration and calls go with it) and
        close its connection when no other session uses it, so the client reconnects."""
        transport = session.transport
        await session.destroy(reason)
        if transport is not None and not any(s.transport is transport
                                             for s in self.sessions.values()):
            await transport.close(reason)

    # --- requests ---------------------------------------------------------------------------
    async def process(self, msg: Any, transport: Transport | None,
                      path_session: int | None = None, path_handle: int | None = None,
                      reply: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Handle one request; returns the reply (also passed to ``reply`` before any event
        the request caused is delivered)."""
        handle: Handle | None = None
        try:
            result, handle = await self._process(msg, transport, path_session, path_handle)
        except JanusError as exc:
            tx = msg.get("transaction") if isinstance(msg, dict) and \
                getattr(exc, "transaction_known", True) else None
            sid = getattr(exc, "session_id", None)
            if sid is None:
                sid = path_session
            if sid is None and isinstance(msg, dict):
                sid = _integer(msg.get("session_id")) or None
            result = _error(exc.code, exc.reason, tx, sid)
            self.metrics.errors += 1
        except Exception:
            log.exception("request failed")
            tx = msg.get("transaction") if isinstance(msg, dict) else None
            result = _error(E.UNKNOWN, "internal error", tx)
            self.metrics.errors += 1
        if reply is not None:
            reply(result)
        if handle is not None and handle._deferred is not None:
            deferred, handle._deferred = handle._deferred, None
            for event in deferred:
                handle.session.push(event)
        return result

    async def _process(self, msg: Any, transport: Transport | None, path_session: int | None,
                       path_handle: int | None) -> tuple[dict[str, Any], Handle | None]:
        # the order of the checks and their texts are Janus's (clients may rely on them)
        body = msg if isinstance(msg, dict) else {}
        session_id = path_session if path_session is not None else _integer(
            body.get("session_id"))
        handle_id = path_handle if path_handle is not None else _integer(body.get("handle_id"))
        try:
            _validate(body, REQUEST_PARAMETERS)
        except JanusError as exc:
            exc.session_id = session_id or None
            exc.transaction_known = False  # as Janus: no transaction in the reply
            raise
        verb = body["janus"]
        tx = body["transaction"]
        self.metrics.requests += 1
        if not session_id and not handle_id:
            if verb == "info":
                return self._info(tx), None
            if verb == "ping":
                return {"janus": "pong", "transaction": tx}, None
            if verb == "create":
                return await self._create(body, tx, transport), None
            raise JanusError(E.INVALID_REQUEST_PATH, f"Unhandled request '{verb}' at this path")
        if session_id is None or session_id < 1:
            raise JanusError(E.SESSION_NOT_FOUND, "Session not found")
        if "handle_id" in body and body["handle_id"] is not None and path_handle is None and \
                (handle_id is None or handle_id < 1):
            raise JanusError(E.HANDLE_NOT_FOUND, "Handle not found")
        session = self.sessions.get(session_id)
        if session is None:
            raise JanusError(E.SESSION_NOT_FOUND, f"No such session {session_id}")
        session.touch()
        base = {"session_id": session.id, "transaction": tx}
        handle: Handle | None = None
        if handle_id:
            handle = session.handles.get(handle_id)
            if handle is None:
                raise JanusError(E.HANDLE_NOT_FOUND, f"No such handle {handle_id} in session "
                                                     f"{session.id}")
        if verb == "keepalive":
            return {"janus": "ack", **base}, None
        if verb in ("attach", "destroy", "claim") and handle is not None:
            raise JanusError(E.INVALID_REQUEST_PATH, f"Unhandled request '{verb}' at this path")
        if verb in ("detach", "hangup", "message", "trickle") and handle is None:
            raise JanusError(E.INVALID_REQUEST_PATH, f"Unhandled request '{verb}' at this path")
        if verb == "attach":
            return await self._attach(session, body, base), None
        if verb == "destroy":
            await session.destroy("destroy request")
            return {"janus": "success", **base}, None
        if verb == "claim":
            await self._check_claim(session, body)
            session.bind(transport)
            self.metrics.sessions_claimed += 1
            log.info("session claimed", extra={"session": session.id,
                                               "transport": transport.kind if transport
                                               else "http"})
            return {"janus": "success", **base}, None
        if handle is None:
            raise JanusError(E.UNKNOWN_REQUEST, f"Unknown request '{verb}'")
        base["sender"] = handle.handle_id
        with bind(session=session.id, handle=handle.handle_id):
            if verb == "message":
                return await self._message(handle, body, tx, base), handle
            if verb == "trickle":
                await self._trickle(handle, body)
                return {"janus": "ack", "session_id": session.id, "transaction": tx}, None
            if verb == "detach":
                await session.detach(handle, reason="detach request", notify=True)
                return {"janus": "success", "session_id": session.id, "transaction": tx}, None
            if verb == "hangup":
                await handle.close_media("Janus API")
                if handle.plugin_session is not None:
                    await handle.plugin_session.media_down()
                return {"janus": "success", "session_id": session.id, "transaction": tx}, None
        raise JanusError(E.UNKNOWN_REQUEST, f"Unknown request '{verb}'")

    async def _claims(self, msg: dict[str, Any]) -> Claims | None:
        token = msg.get("token")
        if self.token_check is None or (not self.require_token and not token):
            return None
        if not isinstance(token, str) or not token:
            raise JanusError(E.UNAUTHORIZED, "Unauthorized request (wrong or missing "
                                             "secret/token)")
        try:
            return await self.token_check(token)
        except TokenError as exc:
            self.metrics.auth_failures += 1
            log.info("token refused", extra={"error": str(exc)})
            raise JanusError(E.UNAUTHORIZED, "Unauthorized request (wrong or missing "
                                             "secret/token)") from None

    async def _check_claim(self, session: Session, msg: dict[str, Any]) -> None:
        """Only the session's own user may move it to another transport: a claim carries a
        token for the same subject whenever the session was created with one."""
        if session.claims is None or self.token_check is None:
            return
        claims = await self._claims(msg)
        if claims is None or claims.sub != session.claims.sub:
            self.metrics.auth_failures += 1
            raise JanusError(E.UNAUTHORIZED, "Unauthorized request (token for another user)")

    async def _create(self, msg: dict[str, Any], tx: str,
                      transport: Transport | None) -> dict[str, Any]:
        if not self.accepting_sessions:
            raise JanusError(E.NOT_ACCEPTING_SESSIONS,
                             "Not accepting new sessions (this node is draining)")
        claims = await self._claims(msg)
        limits = self.limits
        if limits.over(limits.max_sessions, len(self.sessions)):
            raise self._refuse("this gateway has as many sessions as it may hold "
                               f"({limits.max_sessions}); try again later")
        if claims is not None and not claims.has_role(*UNLIMITED_ROLES) and limits.over(
                limits.max_sessions_per_user, len(self.user_sessions(claims.sub))):
            raise self._refuse(f"too many sessions for this user (at most "
                               f"{limits.max_sessions_per_user}); close another tab or "
                               "device first", user=claims.sub)
        requested = msg.get("id")
        session = Session(self, claims, transport)
        if requested:  # validated by REQUEST_PARAMETERS: a positive integer
            if requested in self.sessions:
                error = JanusError(E.SESSION_CONFLICT, "Session ID already in use")
                error.session_id = requested
                raise error
            session.id = requested
        self.sessions[session.id] = session
        if claims is not None:
            self.by_user.setdefault(claims.sub, set()).add(session)
        self.metrics.sessions_created += 1
        log.info("session created", extra={"session": session.id,
                                           "user": claims.sub if claims else None})
        data: dict[str, Any] = {"id": session.id}
        if self.node_id:
            data["node"] = self.node_id
        return {"janus": "success", "transaction": tx, "data": data}

    async def _attach(self, session: Session, msg: dict[str, Any],
                      base: dict[str, Any]) -> dict[str, Any]:
        _validate(msg, ATTACH_PARAMETERS)
        name = msg["plugin"]
        claims = await self._claims(msg) if (self.token_check is not None and (
            self.require_token or msg.get("token"))) else session.claims
        if claims is not None and session.claims is not None and claims.sub != session.claims.sub:
            raise JanusError(E.UNAUTHORIZED, "Unauthorized request (token for another user)")
        plugin = self.registry.get(name)
        if plugin is None:
            raise JanusError(E.PLUGIN_NOT_FOUND, f"No such plugin '{name}'")
        limits = self.limits
        if limits.over(limits.max_handles_per_session, len(session.handles)):
            raise self._refuse(f"too many handles in this session (at most "
                               f"{limits.max_handles_per_session}); detach one first",
                               session=session.id)
        owner = session.claims.sub if session.claims is not None else None
        if owner is not None and not session.claims.has_role(*UNLIMITED_ROLES) and \
                limits.over(limits.max_handles_per_user, self.user_usage(owner)[1]):
            raise self._refuse(f"too many handles for this user (at most "
                               f"{limits.max_handles_per_user}); detach some first",
                               user=owner)
        opaque = msg.get("opaque_id")
        handle = Handle(self, session, plugin, opaque if isinstance(opaque, str) else None,
                        claims or session.claims, name)
        try:
            handle.plugin_session = plugin.create_session(handle)
        except JanusError:
            raise
        except Exception as exc:
            log.exception("attach failed")
            raise JanusError(E.PLUGIN_ATTACH, "Couldn't attach to plugin") from exc
        session.handles[handle.handle_id] = handle
        self.metrics.handles_attached += 1
        log.info("handle attached", extra={"session": session.id, "handle": handle.handle_id,
                                           "plugin": plugin.package})
        return {"janus": "success", **base, "data": {"id": handle.handle_id}}

    async def _message(self, handle: Handle, msg: dict[str, Any], tx: str,
                       base: dict[str, Any]) -> dict[str, Any]:
        _validate(msg, BODY_PARAMETERS)
        body = msg["body"]
        jsep = msg.get("jsep")
        if jsep is not None:
            jsep = self._check_jsep(jsep)
            if jsep["type"] == "answer" and not (handle.has_media and
                                                  handle.media.awaiting_answer):
                raise JanusError(E.UNEXPECTED_ANSWER, "Unexpected ANSWER (did we offer?)")
        assert handle.plugin_session is not None
        handle._deferred = []
        try:
            result = await handle.plugin_session.handle_message(tx, body, jsep)
        except JanusError:
            raise
        except Exception as exc:
            log.exception("plugin message failed")
            raise JanusError(E.PLUGIN_MESSAGE, "Error processing the message") from exc
        finally:
            if handle._deferred is not None and not handle._deferred:
                pass
        if result is None:
            return {"janus": "ack", "session_id": handle.session.id, "transaction": tx}
        reply: dict[str, Any] = {"janus": "success", **base,
                                 "plugindata": {"plugin": handle.plugin_name,
                                                "data": result.data}}
        if result.jsep is not None:
            reply["jsep"] = result.jsep
        return reply

    @staticmethod
    def _check_jsep(jsep: Any) -> dict[str, Any]:
        if not isinstance(jsep, dict):
            raise JanusError(E.INVALID_JSON_OBJECT, "Invalid jsep object")
        _validate(jsep, JSEP_PARAMETERS, "JSEP error: missing mandatory element ({})",
                  "JSEP error: invalid element type ({} should be {})")
        kind = jsep["type"]
        if kind not in ("offer", "answer"):
            raise JanusError(E.JSEP_UNKNOWN_TYPE, f"JSEP error: unknown message type '{kind}'")
        try:
            if not SessionDescription.parse(jsep["sdp"]).media:
                raise ParseError("no media")
        except ParseError as exc:
            raise JanusError(E.JSEP_INVALID_SDP, f"Invalid SDP ({exc})") from None
        return jsep

    async def _trickle(self, handle: Handle, msg: dict[str, Any]) -> None:
        if "candidate" in msg and "candidates" in msg:
            raise JanusError(E.INVALID_JSON, "Can't have both candidate and candidates")
        if "candidate" in msg:
            items = [msg["candidate"]]
        elif "candidates" in msg:
            items = msg["candidates"]
            if not isinstance(items, list):
                raise JanusError(E.INVALID_ELEMENT_TYPE, "Invalid element type (candidates)")
        else:
            raise JanusError(E.MISSING_MANDATORY_ELEMENT,
                             "Missing mandatory element (candidate|candidates)")
        for item in items:
            if item is not None and not isinstance(item, dict):
                raise JanusError(E.INVALID_ELEMENT_TYPE, "Invalid element type (candidate)")
            try:
                await handle.media.add_candidate(item)
            except (ValueError, IndexError) as exc:
                raise JanusError(E.TRICKLE_INVALID_STREAM, f"Invalid candidate ({exc})") \
                    from None

    def _info(self, tx: str) -> dict[str, Any]:
        return {"janus": "server_info", "transaction": tx, "name": SERVER_NAME,
                "version": VERSION, "version_string": VERSION_STRING, "author": "webfon",
                "data_channels": False, "ipv6": False, "ice-tcp": False,
                "session-timeout": self.session_timeout, "api_secret": False,
                "auth_token": self.token_check is not None,
                "plugins": {p.package: p.info() for p in self.registry.unique()},
                "transports": {"janus.transport.http": {"name": "HTTP"},
                               "janus.transport.websockets": {"name": "WebSocket"}}}
