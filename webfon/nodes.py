"""Reading the gateway nodes' leases (``gateway_nodes``) for people: ``webfon status --all``
and the admin page list each node with its health, sessions, calls and media workers.

Health from the lease alone: ``ok`` (up, heartbeat fresh), ``late`` (up, but no heartbeat for
longer than ``stale_s``: the PBX is about to declare it lost), ``draining``, ``lost`` (its
web phones were released), ``stopped`` (clean exit).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from webfon.store import Store


@dataclass(frozen=True)
class NodeRow:
    node_id: int
    name: str
    host: str
    pid: int
    api_url: str
    sip_address: str
    state: str
    health: str
    started_at: float
    heartbeat_at: float
    heartbeat_age_s: float
    ended_at: float | None
    sessions: int
    registered: int
    calls: int
    media_workers: int
    media_workers_alive: int
    media_legs: int
    released: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def health_of(state: str, age_s: float, stale_s: float) -> str:
    if state == "up":
        return "ok" if age_s <= stale_s else "late"
    return state


async def list_nodes(store: Store, *, stale_s: float = 5.0,
                     now: float | None = None) -> list[NodeRow]:
    now = time.time() if now is None else now
    rows = await store.fetchall("SELECT * FROM gateway_nodes ORDER BY node_id")
    out = []
    for r in rows:
        age = round(max(0.0, now - float(r["heartbeat_at"])), 1)
        out.append(NodeRow(
            node_id=int(r["node_id"]), name=str(r["name"]), host=str(r["host"]),
            pid=int(r["pid"]), api_url=str(r["api_url"]), sip_address=str(r["sip_address"]),
            state=str(r["state"]), health=health_of(str(r["state"]), age, stale_s),
            started_at=float(r["started_at"]), heartbeat_at=float(r["heartbeat_at"]),
            heartbeat_age_s=age,
            ended_at=float(r["ended_at"]) if r["ended_at"] is not None else None,
            sessions=int(r["sessions"]), registered=int(r["registered"]),
            calls=int(r["calls"]), media_workers=int(r["media_workers"]),
            media_workers_alive=int(r["media_workers_alive"]),
            media_legs=int(r["media_legs"]), released=int(r["released"])))
    return out
