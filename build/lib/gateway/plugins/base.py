"""The contract between the Janus core and a plugin.

The core owns sessions, handles, transports and the WebRTC leg (ICE, DTLS, SRTP); a plugin sees
only JSON bodies, JSEP SDP and a :class:`gateway.media.bridge.MediaBridge` through which it
negotiates audio and exchanges RTP. A plugin never touches ICE; the core never knows what the
plugin does with the media (echo, SIP, ...).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gateway.media.bridge import MediaBridge
    from webfon.tokens import Claims


class HandleContext(Protocol):
    """What the core offers a plugin session (one per attached handle)."""

    handle_id: int
    session_id: int
    opaque_id: str | None
    claims: Claims | None

    @property
    def media(self) -> MediaBridge: ...

    def push_event(self, transaction: str | None, data: dict[str, Any],
                   jsep: dict[str, Any] | None = None) -> None: ...

    async def close_media(self) -> None: ...

    def renew_media(self) -> MediaBridge:
        """A fresh WebRTC leg in place of the current one (new peer connection or ICE
        restart); the old one is closed without ending anything."""
        ...

    def end(self, reason: str = "plugin ended the handle") -> None: ...


@dataclass
class MessageResult:
    """A synchronous reply (``success`` with plugindata) instead of ``ack`` + async ``event``."""

    data: dict[str, Any]
    jsep: dict[str, Any] | None = None


class PluginSession(ABC):
    """A plugin's state for one handle."""

    def __init__(self, ctx: HandleContext) -> None:
        self.ctx = ctx
        self._work: asyncio.Queue[Callable[[], Awaitable[None]]] | None = None
        self._worker: asyncio.Task[None] | None = None

    def enqueue(self, job: Callable[[], Awaitable[None]]) -> None:
        """Run ``job`` after the reply was sent, one job at a time (like Janus's plugin
        thread): requests of a handle are processed in order."""
        if self._work is None:
            self._work = asyncio.Queue()
            self._worker = asyncio.create_task(self._run_jobs())
        self._work.put_nowait(job)

    async def _run_jobs(self) -> None:
        assert self._work is not None
        while True:
            job = await self._work.get()
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                logging.getLogger("gateway.plugin").exception("plugin job failed")

    def stop_jobs(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    @abstractmethod
    async def handle_message(self, transaction: str, body: dict[str, Any],
                             jsep: dict[str, Any] | None) -> MessageResult | None:
        """Handle a ``message``; return a result for a synchronous reply, None for async.

        Raising :class:`gateway.errors.JanusError` gives the client a core error.
        """

    async def media_up(self) -> None:
        """The WebRTC leg is connected (``webrtcup``)."""
        return None

    async def media_down(self, reason: str = "") -> None:
        """The WebRTC leg went away: ``reason`` is empty for the client's ``hangup`` request,
        otherwise what ended it ("ICE failed", "Close PC")."""
        return None

    async def destroy(self) -> None:
        """The handle is being detached: free everything."""
        return None

    def describe(self) -> dict[str, Any]:
        """State for the admin listing."""
        return {}


class Plugin(ABC):
    """A plugin type, instantiated once per gateway."""

    package: str = ""
    aliases: tuple[str, ...] = ()
    name: str = ""
    version: int = 1
    version_string: str = "0.0.1"
    description: str = ""
    author: str = "webfon"

    @abstractmethod
    def create_session(self, ctx: HandleContext) -> PluginSession:
        """A new handle attached: may raise JanusError(PLUGIN_ATTACH / UNAUTHORIZED_PLUGIN)."""

    async def start(self) -> None:
        """Called once when the gateway starts."""
        return None

    async def stop(self) -> None:
        """Called once when the gateway stops."""
        return None

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "author": self.author, "description": self.description,
                "version_string": self.version_string, "version": self.version}

    def metrics(self) -> dict[str, float]:
        return {}


@dataclass
class PluginRegistry:
    plugins: dict[str, Plugin] = field(default_factory=dict)

    def add(self, plugin: Plugin) -> None:
        for name in (plugin.package, *plugin.aliases):
            self.plugins[name] = plugin

    def get(self, name: str) -> Plugin | None:
        return self.plugins.get(name)

    def unique(self) -> list[Plugin]:
        seen: list[Plugin] = []
        for plugin in self.plugins.values():
            if plugin not in seen:
                seen.append(plugin)
        return seen
