"""The PBX's services wired together: store, directory, router, location, CDR, mdflow, ACD.

One :class:`PbxCore` per process; the SIP engine and the control API both use it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from webfon.store import Store

from .cdr import CdrWriter
from .directory import Directory
from .events import Events, Publisher
from .location import CachedLocation, Location, StoreLocation
from .mdflow import Mdflow, MdflowConfig, config_from_rows, load_config
from .nodes import NodeWatch, end_calls_to
from .routing import Router
from .settings import PbxSettings
from .stats import QueueStats
from .webphone import Released, Webphones

log = logging.getLogger("pbx.core")


@dataclass
class PbxCore:
    settings: PbxSettings
    store: Store
    directory: Directory
    router: Router
    location: Location
    cdr: CdrWriter
    mdflow: Mdflow
    stats: QueueStats
    webphones: Webphones
    nodes: NodeWatch
    events: Events
    bus: Publisher | None = None
    calls: dict[str, Any] = field(default_factory=dict)
    engine: Any = None

    @classmethod
    def create(cls, settings: PbxSettings, store: Store, bus: Publisher | None = None,
               location: Location | None = None) -> PbxCore:
        directory = Directory(store, phone_ttl=settings.directory_cache_s)
        prefixes = tuple(p.strip() for p in settings.local_prefixes.split(",") if p.strip())
        router = Router(directory, outside_prefix=settings.outside_prefix,
                        local_prefixes=prefixes)
        conf = settings.mdflow_conf
        if conf is None and (settings.data_dir / "MDflow.conf").exists():
            conf = settings.data_dir / "MDflow.conf"
        if conf is not None:
            mdflow = Mdflow(load_config(conf), path=conf)
        else:
            mdflow = Mdflow(MdflowConfig())
        registrar = f"sip:{settings.advertised_host}:{settings.sip_port}"
        webphones = Webphones(store, realm=settings.realm, registrar=registrar)
        core = cls(settings=settings, store=store, directory=directory, router=router,
                   location=location or CachedLocation(StoreLocation(store)),
                   cdr=CdrWriter(store, bus),
                   mdflow=mdflow,
                   stats=QueueStats(store, global_enabled=settings.stats_global,
                                    sla_s=settings.stats_sla_s),
                   webphones=webphones,
                   nodes=NodeWatch(store, webphones, lease_s=settings.node_lease_s,
                                   check_s=settings.node_check_s),
                   events=Events(bus), bus=bus)
        core.webphones.on_logout = core._on_logout
        core.webphones.on_change = directory.invalidate
        core.webphones.node_silent = core.nodes.silent
        return core

    async def load_mdflow_from_store(self) -> None:
        """Without an MDflow.conf, take the flows from the store's ``mdflow_flows`` table."""
        if self.mdflow.path is not None:
            return
        rows = await self.store.fetchall("SELECT * FROM mdflow_flows ORDER BY id")
        if rows:
            self.mdflow = Mdflow(config_from_rows(rows))

    async def _on_logout(self, released: Released) -> None:
        """A web phone left (logout, its node lost, or moved to another node): its bindings
        go, and so do the calls it carried, with the cause in their CDR."""
        aor, username = released.extension, released.sip_username
        self.directory.invalidate()
        # the location cache may hold bindings not yet written to the store
        contacts = set(released.contacts)
        contacts.update(b.contact for b in await self.location.lookup(aor)
                        if b.username == username)
        forget = getattr(self.location, "forget", None)
        if forget is not None:
            forget(aor, username=username)
        if self.engine is not None:
            await self.engine.drop_user(aor, username)
            ended = end_calls_to(self.engine, contacts, released.cause)
            if ended:
                log.info("calls of a released web phone ended",
                         extra={"extension": aor, "calls": ended, "cause": released.cause})

    def call_list(self) -> list[dict[str, Any]]:
        if self.engine is None:
            return []
        return list(self.engine.call_list())
