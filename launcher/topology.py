"""Which processes ``webfon up`` runs, with which ports and settings, for the options given.

Embedded (the default): sercen, PBX, FONBO, one gateway and the web front, on SQLite with the
local event hub. Production shape (``--nodes N``, ``--profile production``): N gateway nodes,
each with its own ``local_nodo_id``, HTTP port, media port range and media workers, behind
nginx with TLS, with MariaDB and Redis either started here (``start``) or given by URL.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from launcher.components import Component, configured
from launcher.process import Health, ProcessSpec
from launcher.services import MariaDb, NginxPlan, ensure_self_signed, nginx_spec, redis_spec

STAGE_INFRA, STAGE_CORE, STAGE_EDGE, STAGE_FRONT = 0, 1, 2, 3
PROFILES = ("embedded", "production")


@dataclass
class UpOptions:
    nodes: int = 1
    nginx: bool = False
    mariadb: str = ""  # "" (use --database-url / SQLite), "start", or a mysql:// URL
    redis: str = ""  # "" (local hub), "start", or a redis:// URL
    https_port: int = 8443
    http_port: int = 0  # plain HTTP, redirected to HTTPS; default: the web front's port
    server_name: str = "localhost"
    tls_cert: str = ""
    tls_key: str = ""
    mariadb_port: int = 3307
    redis_port: int = 6380
    rtp_base: int = 40000
    rtp_per_node: int = 1000
    only: frozenset[str] | None = None

    @classmethod
    def for_profile(cls, profile: str) -> UpOptions:
        if profile == "production":
            return cls(nodes=2, nginx=True, mariadb="start", redis="start")
        return cls()

    def validate(self) -> None:
        if not 1 <= self.nodes <= 32:
            raise ValueError("--nodes must be between 1 and 32")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        if self.nodes > 1 and not self.nginx:
            raise ValueError("several gateway nodes need nginx in front (drop --no-nginx)")
        for name, value in (("--mariadb", self.mariadb), ("--redis", self.redis)):
            if value and value != "start" and "://" not in value:
                raise ValueError(f"{name} takes 'start' or a URL, not {value!r}")


@dataclass
class Plan:
    specs: list[ProcessSpec]
    env: dict[str, str]  # for every child
    database_url: str
    mariadb: MariaDb | None
    entry_url: str  # what the user opens
    nginx: ProcessSpec | None


def _python(component: Component, port: int, stage: int, *, name: str | None = None,
            env: dict[str, str] | None = None, description: str = "") -> ProcessSpec:
    return ProcessSpec(
        name=name or component.name, stage=stage, port=port,
        argv=(sys.executable, "-m", component.module, "--port", str(port)),
        description=description or component.description,
        health=Health("http", "127.0.0.1", port), url=f"http://127.0.0.1:{port}/",
        env=env or {}, stop_signal=signal.SIGINT, stop_grace_s=15.0)


def _stage(name: str) -> int:
    return {"sercen": STAGE_CORE, "pbx": STAGE_CORE, "fonbo": STAGE_EDGE,
            "gateway": STAGE_EDGE, "web": STAGE_FRONT}[name]


def plan(options: UpOptions, data_dir: Path, *, database_url: str, base_node_id: int,
         cpus: int | None = None, environ: dict[str, str] | None = None) -> Plan:
    options.validate()
    environ = dict(os.environ if environ is None else environ)
    comps = {c.name: c for c in configured(environ) if c.available()}
    wanted = options.only
    specs: list[ProcessSpec] = []
    env: dict[str, str] = {}

    mariadb = None
    if options.mariadb == "start":
        mariadb = MariaDb(data_dir, options.mariadb_port)
        specs.append(mariadb.spec(STAGE_INFRA))
        database_url = mariadb.url
    elif options.mariadb:
        database_url = options.mariadb
    if database_url:
        env["WEBFON_DATABASE_URL"] = database_url
    if options.redis == "start":
        redis = redis_spec(data_dir, options.redis_port, STAGE_INFRA)
        specs.append(redis)
        redis_url = redis.url
    else:
        redis_url = options.redis
    if redis_url:
        env["WEBFON_BUS_URL"] = redis_url
        env["WEBFON_REDIS_URL"] = redis_url

    for name in ("sercen", "pbx", "fonbo"):
        if name in comps and (wanted is None or name in wanted):
            specs.append(_python(comps[name], comps[name].port, _stage(name)))
            env[f"WEBFON_{name.upper()}_URL"] = f"http://127.0.0.1:{comps[name].port}"

    gateways: list[str] = []
    gw = comps.get("gateway")
    if gw is not None and (wanted is None or "gateway" in wanted):
        cpus = cpus or os.cpu_count() or 1
        for i in range(options.nodes):
            node_id = base_node_id + i
            port = gw.port + i
            node_env = {"WEBFON_GATEWAY_LOCAL_NODO_ID": str(node_id)}
            name = "gateway"
            if options.nodes > 1:
                name = f"gateway-{node_id}"
                low = options.rtp_base + i * options.rtp_per_node
                node_env.update({
                    "WEBFON_GATEWAY_NODE_NAME": name,
                    "WEBFON_GATEWAY_RTP_PORT_RANGE": f"{low}-{low + options.rtp_per_node - 1}",
                    # the machine's cores shared between the nodes' media workers
                    "WEBFON_GATEWAY_MEDIA_WORKERS": str(max(1, cpus // options.nodes)),
                })
            specs.append(_python(gw, port, STAGE_EDGE, name=name, env=node_env,
                                 description=f"WebRTC gateway node {node_id}, Janus API on "
                                             "/janus"))
            gateways.append(f"{node_id}=127.0.0.1:{port}")
        env["WEBFON_GATEWAY_URL"] = f"http://127.0.0.1:{gw.port}"

    nginx = None
    entry = ""
    if options.nginx:
        if options.tls_cert:
            cert, key = Path(options.tls_cert), Path(options.tls_key)
        else:
            cert, key = ensure_self_signed(data_dir / "tls", sorted(
                {options.server_name, "localhost", "127.0.0.1"}, key=lambda n: n !=
                options.server_name))
        if not gateways:
            raise ValueError("nginx needs the gateway")
        # nginx reaches sercen on its Unix socket: sercen believes the client address nginx
        # passes on from that socket only (its default), never from a TCP peer
        sercen_socket = data_dir / "run" / "sercen.sock"
        if "sercen" in comps:
            env["WEBFON_SERCEN_UNIX_SOCKET"] = str(sercen_socket)
        nginx = nginx_spec(data_dir, NginxPlan(
            https_port=options.https_port,
            http_port=options.http_port or (comps["web"].port if "web" in comps else 8080),
            server_name=options.server_name, cert=cert, key=key, gateways=gateways,
            sercen=f"unix:{sercen_socket}" if "sercen" in comps else "127.0.0.1:1",
            fonbo=f"127.0.0.1:{comps['fonbo'].port}" if "fonbo" in comps else "127.0.0.1:1"),
            STAGE_FRONT)
        specs.append(nginx)
        entry = nginx.url
    elif "web" in comps and (wanted is None or "web" in wanted):
        web = _python(comps["web"], comps["web"].port, STAGE_FRONT)
        specs.append(web)
        entry = web.url
    return Plan(specs=specs, env=env, database_url=database_url, mariadb=mariadb,
                entry_url=entry, nginx=nginx)

