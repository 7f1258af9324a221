"""Render the nginx site configuration for a WebRTC node from ``nginx/webfon-site.conf.template``.

``webfon nginx-config --server-name webfon.example.com --gateway 4=10.0.0.5:8188 --gateway
5=10.0.0.6:8188 --sercen 10.0.0.5:8300 --fonbo 10.0.0.5:8400 --cert … --key …`` prints the site
file; two or more ``--gateway`` nodes give high availability behind the balancer. A gateway is
``[NODE=]host:port``: NODE (the node's ``local_nodo_id``; default its place in the list) is
the value of the ``webfon_node`` cookie that keeps a client on the node that served it.
``--front 127.0.0.1:8080`` instead sends every API to the web front of ``webfon up``.

The site writes the trust chain for the client address: nginx sets ``X-Forwarded-For`` to the
client it sees (for a load balancer in front, ``--trusted-proxy`` makes nginx take the client
from that balancer's header, and only from it), and the comment at the top of the file says
which setting of each component must name nginx (``--proxy-address``, the address nginx
connects from) as its trusted proxy.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "nginx" / "webfon-site.conf.template"
_HOSTPORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$|^unix:/[^\s;{}]+$")
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
    # load balancers in front of nginx whose X-Forwarded-For nginx believes
    trusted_proxies: list[str] = field(default_factory=list)
    # the address nginx connects to the components from (what they must trust)
    proxy_address: str = "127.0.0.1"
    front: bool = False  # the upstreams are the web front of `webfon up`
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
                    raise ValueError(f"{group} node {node!r} is not host:port (or "
                                     "unix:/path)")
        ids = [n for n, _ in self.gateway_nodes()]
        if len(set(ids)) != len(ids):
            raise ValueError(f"two gateway nodes share a node id: {ids}")
        for net in self.trusted_proxies:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"--trusted-proxy {net!r} is not an address or network") \
                    from None
        try:
            ipaddress.ip_address(self.proxy_address)
        except ValueError:
            raise ValueError(f"--proxy-address {self.proxy_address!r} is not an address") \
                from None

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
def _real_ip(site: SiteConfig) -> str:
    if not site.trusted_proxies:
        return ("    # no load balancer in front: the client is the TCP peer; a header a client "
                "sends is dropped\n")
    lines = ["    # the client as named by these load balancers (and by nobody else)"]
    lines += [f"    set_real_ip_from {net};" for net in site.trusted_proxies]
    lines += ["    real_ip_header X-Forwarded-For;", "    real_ip_recursive on;", ""]
    return "\n".join(lines)


def trust_notes(site: SiteConfig) -> str:
    """Comment lines: what each component must trust so the chain ends at the client."""
    addr = site.proxy_address
    lines = ["#", "# Trust chain: the components must believe nginx's X-Forwarded-For (and no one",
             f"# else's). nginx connects to them from {addr}:"]
    if site.front:
        lines += [f"#   web front (web.jcfg or WEBFON_WEB_TRUSTED_PROXIES): trusted_proxies = "
                  f"\"{addr}\"",
                  "#   sercen keeps its default (trusted_proxies = \"unix\": the front reaches it"
                  " on its Unix socket)"]
    elif all(s.startswith("unix:") for s in site.sercen):
        lines += ["#   sercen keeps its default (trusted_proxies = \"unix\": nginx reaches it on "
                  "its Unix socket)",
                  "#   (FONBO and the gateway decide nothing on the client address)"]
    else:
        lines += [f"#   sercen.conf: trusted_proxies = \"unix,{addr}\"",
                  "#   (FONBO and the gateway decide nothing on the client address)"]
    lines += ["# Until then a component takes nginx for the client: every user shares its address "
              "(one", "# brute-force ban) and none is on a trusted network.", "#"]
    return "\n".join(lines)


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
        "fonbo_servers": _servers(site.fonbo), "real_ip": _real_ip(site),
        "trust_notes": trust_notes(site), **site.extra,
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
    p.add_argument("--gateway", action="append",
                   help="[NODE=]host:port of a gateway node, repeatable")
    p.add_argument("--sercen", action="append", help="host:port (127.0.0.1:8300), repeatable")
    p.add_argument("--fonbo", action="append", help="host:port (127.0.0.1:8400), repeatable")
    p.add_argument("--front", help="host:port of the `webfon up` web front: every API goes "
                                   "there (instead of --gateway/--sercen/--fonbo)")
    p.add_argument("--trusted-proxy", action="append", default=[],
                   help="a load balancer in front of nginx (address or network), repeatable")
    p.add_argument("--proxy-address", default="127.0.0.1",
                   help="the address nginx connects to the components from")
    p.add_argument("--webclient-root", default=str(TEMPLATE.parent.parent / "webclient"))
    args = p.parse_args(argv)
    if args.front and (args.gateway or args.sercen or args.fonbo):
        p.error("--front replaces --gateway, --sercen and --fonbo")
    if not args.front and not args.gateway:
        p.error("--gateway (or --front) is required")
    site = SiteConfig(server_name=args.server_name, ssl_certificate=args.cert,
                      ssl_certificate_key=args.key,
                      gateways=[args.front] if args.front else args.gateway,
                      sercen=[args.front] if args.front else args.sercen or ["127.0.0.1:8300"],
                      fonbo=[args.front] if args.front else args.fonbo or ["127.0.0.1:8400"],
                      webclient_root=args.webclient_root,
                      trusted_proxies=args.trusted_proxy, proxy_address=args.proxy_address,
                      front=bool(args.front))
    try:
        print(render(site), end="")
    except ValueError as exc:
        p.error(str(exc))
    return 0
