"""Render the nginx site configuration for a WebRTC node from ``nginx/webfon-site.conf.template``.

``webfon nginx-config --server-name webfon.example.com --gateway 4=10.0.0.5:8188 --gateway
5=10.0.0.6:8188 --sercen 10.0.0.5:8300 --fonbo 10.0.0.5:8400 --cert … --key …`` prints the site
file; two or more ``--gateway`` nodes give high availability behind the balancer. A gateway is
``[NODE=]host:port``: NODE (the node's ``local_nodo_id``; default its place in the list) is
the value of the ``webfon_node`` cookie that keeps a client on the node that served it.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "nginx" / "webfon-site.conf.template"
_HOSTPORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
_NODE = re.compile(r"^(?:(\d{1,9})=)?(.+)$")


@dataclass
class SiteConfig:
    server_name: str
    ssl_certificate: str
    ssl_certificate_key: str
    gateways: list[str]
    sercen: list[str]
    fonbo: list[str]
    webclient_root: str
    https_listen: str = "443"
    http_listen: str = "80"
    https_port_suffix: str = ""
    access_log: str = "/var/log/nginx/webfon.access.log"
    error_log: str = "/var/log/nginx/webfon.error.log"
    login_rate: str = "5r/s"
    login_burst: int = 10
    api_rate: str = "50r/s"
    extra: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9.\-]+", self.server_name):
            raise ValueError(f"invalid server name {self.server_name!r}")
        for group, nodes in (("gateway", [a for _, a in self.gateway_nodes()]),
                             ("sercen", self.sercen), ("fonbo", self.fonbo)):
            if not nodes:
                raise ValueError(f"at least one {group} node is needed")
            for node in nodes:
                if not _HOSTPORT.match(node):
                    raise ValueError(f"{group} node {node!r} is not host:port")
        ids = [n for n, _ in self.gateway_nodes()]
        if len(set(ids)) != len(ids):
            raise ValueError(f"two gateway nodes share a node id: {ids}")

    def gateway_nodes(self) -> list[tuple[str, str]]:
        """(node id, host:port) of each gateway, ids defaulting to 1, 2, …"""
        out = []
        for i, text in enumerate(self.gateways, start=1):
            m = _NODE.match(text.strip())
            assert m is not None
            out.append((m.group(1) or str(i), m.group(2)))
        return out


def _servers(nodes: list[str]) -> str:
    return "\n".join(f"    server {n} max_fails=2 fail_timeout=10s;" for n in nodes)


def _node_upstreams(nodes: list[tuple[str, str]]) -> str:
    blocks = []
    for node_id, addr in nodes:
        lines = [f"upstream webfon_gateway_{node_id} {{",
                 f"    server {addr} max_fails=1 fail_timeout=5s;"]
        lines += [f"    server {other} backup;" for _, other in nodes if other != addr]
        blocks.append("\n".join([*lines, "}"]))
    return "\n".join(blocks)


def _addr_regex(addr: str) -> str:
    return '"~(^|, )' + re.escape(addr).replace('"', "") + '$"'


def render(site: SiteConfig, template: Path = TEMPLATE) -> str:
    site.validate()
    values = {
        "server_name": site.server_name, "ssl_certificate": site.ssl_certificate,
        "ssl_certificate_key": site.ssl_certificate_key, "webclient_root": site.webclient_root,
        "https_listen": site.https_listen, "http_listen": site.http_listen,
        "https_port_suffix": site.https_port_suffix, "access_log": site.access_log,
        "error_log": site.error_log, "login_rate": site.login_rate,
        "login_burst": str(site.login_burst), "api_rate": site.api_rate,
        "gateway_servers": _servers([a for _, a in site.gateway_nodes()]),
        "gateway_node_upstreams": _node_upstreams(site.gateway_nodes()),
        "gateway_node_map": "\n".join(f"    {n} webfon_gateway_{n};"
                                      for n, _ in site.gateway_nodes()),
        "gateway_addr_map": "\n".join(f"    {_addr_regex(a)} {n};"
                                      for n, a in site.gateway_nodes()),
        "sercen_servers": _servers(site.sercen),
        "fonbo_servers": _servers(site.fonbo), **site.extra,
    }
    text = template.read_text()
    missing = set(re.findall(r"\{\{(\w+)\}\}", text)) - set(values)
    if missing:
        raise ValueError(f"template values missing: {sorted(missing)}")
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="webfon nginx-config", description=__doc__)
    p.add_argument("--server-name", required=True)
    p.add_argument("--cert", required=True, help="certificate (chain) valid for the name")
    p.add_argument("--key", required=True)
    p.add_argument("--gateway", action="append", required=True,
                   help="[NODE=]host:port of a gateway node, repeatable")
    p.add_argument("--sercen", action="append", help="host:port (127.0.0.1:8300), repeatable")
    p.add_argument("--fonbo", action="append", help="host:port (127.0.0.1:8400), repeatable")
    p.add_argument("--webclient-root", default=str(TEMPLATE.parent.parent / "webclient"))
    args = p.parse_args(argv)
    site = SiteConfig(server_name=args.server_name, ssl_certificate=args.cert,
                      ssl_certificate_key=args.key, gateways=args.gateway,
                      sercen=args.sercen or ["127.0.0.1:8300"],
                      fonbo=args.fonbo or ["127.0.0.1:8400"], webclient_root=args.webclient_root)
    try:
        print(render(site), end="")
    except ValueError as exc:
        p.error(str(exc))
    return 0
