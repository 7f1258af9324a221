"""This gateway process's lease in the shared store (table ``gateway_nodes``).

A node writes its row when it starts (a new random ``incarnation`` each time), refreshes
``heartbeat_at`` every ``node_heartbeat_s`` together with what it carries (sessions, calls,
media workers), and marks it ``draining`` or ``stopped``. The PBX watches the rows: a node
whose heartbeat stops is declared ``lost`` and its web phones are released (``pbx.nodes``).

A heartbeat that finds its row taken means one of two things, both logged: the PBX declared
this node lost while it was alive but cut off from the store (its web phones were released,
so the node ends its sessions and their browsers log in again; ``on_lost``), or another process
started with the same ``local_nodo_id`` (a configuration error; the newer one keeps the row).
The store being unreachable never stops the node: heartbeats resume when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from webfon.store import Store, StoreError

log = logging.getLogger("gateway.lease")


class NodeState(enum.StrEnum):
    UP = "up"
    DRAINING = "draining"
    STOPPED = "stopped"
    LOST = "lost"


@dataclass(frozen=True)
class NodeLoad:
    """What the node carries, written with each heartbeat."""

    sessions: int = 0
    registered: int = 0
    calls: int = 0
    media_workers: int = 0
    media_workers_alive: int = 0
    media_legs: int = 0


@dataclass(frozen=True)
class NodeIdentity:
    node_id: int
    name: str
    api_url: str
    sip_address: str


class NodeLease:
    def __init__(self, store: Store, identity: NodeIdentity, *, heartbeat_s: float,
                 load: Callable[[], NodeLoad],
                 on_lost: Callable[[], Awaitable[None]] | None = None) -> None:
        self.store = store
        self.identity = identity
        self.heartbeat_s = heartbeat_s
        self.load = load
        self.on_lost = on_lost
        self.state = NodeState.UP
        self.incarnation = ""
        self.registered = False  # the row is ours
        self._task: asyncio.Task[None] | None = None
        self._store_down = False
        self._conflict_logged = False

    @property
    def node_id(self) -> int:
        return self.identity.node_id

    async def start(self) -> None:
        await self._register()
        self._task = asyncio.create_task(self._run())

    async def _register(self) -> None:
        """Take the row with a new incarnation (a previous process of this node is gone)."""
        self.incarnation = secrets.token_hex(8)
        now = time.time()
        row = {"node_id": self.node_id, "incarnation": self.incarnation,
               "name": self.identity.name, "host": socket.gethostname(), "pid": os.getpid(),
               "api_url": self.identity.api_url, "sip_address": self.identity.sip_address,
               "state": self.state.value, "started_at": now, "heartbeat_at": now,
               "ended_at": None, "released": 0, **asdict(self.load())}
        try:
            await self.store.upsert("gateway_nodes", row, ["node_id"])
        except StoreError as exc:
            self._store_failed(exc)
            return
        self.registered = True
        self._conflict_logged = False
        log.info("node lease taken", extra={"node_id": self.node_id,
                                            "incarnation": self.incarnation})

    def _store_failed(self, exc: StoreError) -> None:
        if not self._store_down:
            log.error("node heartbeat not written: store unavailable; retrying",
                      extra={"node_id": self.node_id, "error": str(exc)})
        self._store_down = True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self.beat()
            except Exception:
                log.exception("node heartbeat failed", extra={"node_id": self.node_id})

    async def beat(self) -> None:
        if not self.registered:
            await self._register()
            return
        load = asdict(self.load())
        cols = ", ".join(f"{k} = ?" for k in load)
        try:
            changed = await self.store.execute(
                f"UPDATE gateway_nodes SET heartbeat_at = ?, state = ?, {cols} "
                "WHERE node_id = ? AND incarnation = ? AND state IN ('up', 'draining')",
                [time.time(), self.state.value, *load.values(), self.node_id,
                 self.incarnation])
        except StoreError as exc:
            self._store_failed(exc)
            return
        if self._store_down:
            log.info("node heartbeat written again", extra={"node_id": self.node_id})
            self._store_down = False
        if changed == 0:
            await self._row_taken()

    async def _row_taken(self) -> None:
        try:
            row = await self.store.fetchone(
                "SELECT incarnation, state, host, pid FROM gateway_nodes WHERE node_id = ?",
                (self.node_id,))
        except StoreError as exc:
            self._store_failed(exc)
            return
        if row is None:
            self.registered = False  # deleted by an admin: take it again
            return
        if row["incarnation"] != self.incarnation:
            if not self._conflict_logged:
                log.error("another process runs with this node id (local_nodo_id); its "
                          "heartbeat is kept, not this one's",
                          extra={"node_id": self.node_id, "other_host": row["host"],
                                 "other_pid": row["pid"]})
                self._conflict_logged = True
            return
        if row["state"] == NodeState.LOST:
            log.error("this node was declared lost (its heartbeat did not reach the store) "
                      "and its web phones were released: ending its sessions so their users "
                      "log in again", extra={"node_id": self.node_id})
            if self.on_lost is not None:
                await self.on_lost()
            await self._register()

    async def set_state(self, state: NodeState) -> None:
        self.state = state
        if not self.registered:
            return
        with contextlib.suppress(StoreError):
            await self.store.execute(
                "UPDATE gateway_nodes SET state = ?, heartbeat_at = ?, ended_at = ? "
                "WHERE node_id = ? AND incarnation = ?",
                (state.value, time.time(),
                 time.time() if state == NodeState.STOPPED else None,
                 self.node_id, self.incarnation))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.set_state(NodeState.STOPPED)
        log.info("node lease given back", extra={"node_id": self.node_id})
