"""The ``webfon`` command: run the stack, look at it, prepare its data.

``webfon up``            start every available component on loopback (embedded defaults);
                         ``--nodes N`` / ``--profile production``: the production shape
``webfon status``        what runs, on which port, and whether it answers ``/healthz``;
                         ``--all``: the gateway nodes from the store too
``webfon logs NAME``     follow one process's log
``webfon demo-data``     fill an empty store with the demo organisation
``webfon migrate``       bring the store's schema up to date
``webfon check-config``  validate a component's settings file
Components add their own sub-commands (``webfon pbx …``, ``webfon mdflow …``, ``webfon
loadtest …``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from gateway.settings import GatewaySettings
from launcher import outbox
from launcher.components import COMPONENTS
from launcher.console import Console, ConsoleHandler, pretty_wanted
from launcher.demo import DEMO_PASSWORD, DEMO_SIP_PASSWORD, DEMO_USERS, has_data, load_demo
from launcher.embedded_config import write_embedded_config
from launcher.nginxconf import main as nginx_main
from launcher.process import Health
from launcher.services import ServiceError, nginx_check
from launcher.supervisor import Supervisor, log_path, outbox_path, state_path
from launcher.topology import PROFILES, Plan, UpOptions, plan
from webfon.config import ConfigError
from webfon.control_key import ensure_control_key
from webfon.logsetup import JsonFormatter, setup_logging
from webfon.nodes import list_nodes
from webfon.private_files import private_dir
from webfon.settings import BaseSettings
from webfon.store import StoreError, open_store
from webfon.tokens import ensure_keypair


def _settings(args: argparse.Namespace) -> BaseSettings:
    overrides = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    return BaseSettings.load(**overrides)


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


async def _health(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=1.5)) as resp:
            return resp.status == 200
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


async def _prepare(settings: BaseSettings, database_url: str, demo: bool) -> bool:
    """Keys, schema and (on an empty store) the demo; returns True when the demo was loaded."""
    ensure_keypair(settings.data_dir)
    ensure_control_key(settings.data_dir)
    store = await open_store(database_url)
    try:
        if demo and not await has_data(store):
            await load_demo(store, settings.data_dir.resolve())
            return True
        return False
    finally:
        await store.close()


def _print_logins() -> None:
    rows = [[login, DEMO_PASSWORD.format(login=login), name, role, ext,
             DEMO_SIP_PASSWORD.format(ext=ext)] for login, name, role, ext, _ in DEMO_USERS]
    print_table(["login", "password", "name", "role", "desk phone (SIP user)", "SIP password"],
                rows)


def _up_options(args: argparse.Namespace) -> UpOptions:
    options = UpOptions.for_profile(args.profile)
    if args.nodes is not None:
        options.nodes = args.nodes
        options.nginx = options.nginx or args.nodes > 1
    if args.nginx is not None:
        options.nginx = args.nginx
    for name in ("mariadb", "redis", "server_name", "tls_cert", "tls_key", "https_port",
                 "http_port", "mariadb_port", "redis_port", "rtp_base"):
        value = getattr(args, name)
        if value is not None:
            setattr(options, name, value)
    if args.only:
        options.only = frozenset(args.only.split(","))
    return options


def _console(mode: str) -> Console:
    return Console(sys.stderr, pretty=pretty_wanted(mode, sys.stderr))


def _log_to_console(console: Console, level: str) -> None:
    """The supervisor's own lines go through the same console as its children's."""
    setup_logging("supervisor", level, "json")
    root = logging.getLogger()
    root.handlers[:] = [ConsoleHandler(console, JsonFormatter("supervisor"))]


async def _up(args: argparse.Namespace) -> int:
    settings = _settings(args)
    console = _console(args.log_format)
    _log_to_console(console, settings.log_level)
    data_dir = settings.data_dir.resolve()
    private_dir(data_dir, narrow=False)  # a new data directory is the owner's only
    _config_dir(data_dir)
    try:
        options = _up_options(args)
        node_id = GatewaySettings.load().local_nodo_id or 1
        the_plan = plan(options, data_dir, database_url=settings.database_url,
                        base_node_id=node_id)
        if the_plan.mariadb is not None:
            await the_plan.mariadb.install()
        if the_plan.nginx is not None:
            nginx_check(the_plan.nginx)
    except (ValueError, ServiceError) as exc:
        print(f"webfon: {exc}", file=sys.stderr)
        return 2
    if not the_plan.specs:
        print("webfon: no component to start", file=sys.stderr)
        return 1
    database_url = the_plan.database_url or settings.effective_database_url
    loaded: list[bool] = []

    async def prepare() -> None:
        if the_plan.mariadb is not None:
            await the_plan.mariadb.provision()
        print(f"webfon: preparing data in {data_dir} …", flush=True)
        loaded.append(await _prepare(settings, database_url, demo=not args.no_demo))
        if loaded[-1]:
            print("webfon: demo data loaded", flush=True)

    env = {**os.environ, **the_plan.env}
    stages = sorted({s.stage for s in the_plan.specs})
    hooks = {}
    if the_plan.mariadb is not None:
        hooks[stages[0]] = prepare  # once MariaDB answers
    else:
        try:
            await prepare()
        except StoreError as exc:
            print(f"webfon: store unavailable: {exc}", file=sys.stderr)
            return 3
    sup = Supervisor(the_plan.specs, data_dir, env, console=console,
                     restart_delay=args.restart_delay, hooks=hooks,
                     log_max_bytes=int(args.log_max_mb * 1024 * 1024),
                     log_backups=args.log_backups,
                     extra_state={"database_url": database_url,
                                  "entry_url": the_plan.entry_url})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # login codes sercen could not e-mail (no mail server in sercen.conf) are shown here
    mailbox = asyncio.create_task(outbox.watch(outbox_path(data_dir),
                                               lambda line: print(f"webfon: {line}",
                                                                  flush=True)))
    try:
        healthy = await sup.start(stop)
    except (StoreError, ServiceError) as exc:
        print(f"webfon: store unavailable: {exc}", file=sys.stderr)
        mailbox.cancel()
        await sup.stop()
        return 3
    if healthy and not stop.is_set():
        _banner(the_plan, sup)
    await stop.wait()
    print("webfon: stopping …", flush=True)
    mailbox.cancel()
    await sup.stop()
    return 0 if healthy else 1


def _config_dir(data_dir: Path) -> None:
    if not os.environ.get("WEBFON_CONFIG_DIR"):
        config_dir = data_dir / "etc"
        write_embedded_config(config_dir)
        os.environ["WEBFON_CONFIG_DIR"] = str(config_dir)


def _banner(the_plan: Plan, sup: Supervisor) -> None:
    print()
    print("webfon is running:")
    print_table(["process", "url", "what"],
                [[s.name, s.url, s.description] for s in the_plan.specs])
    if the_plan.entry_url:
        print(f"\nOpen the web client: {the_plan.entry_url}")
        if the_plan.nginx is not None and the_plan.entry_url.startswith("https://"):
            print("(a self-signed certificate unless --tls-cert/--tls-key name one: the "
                  "browser asks once to accept it)")
    print(f"\nSettings files: {os.environ.get('WEBFON_CONFIG_DIR')}")
    print(f"Logs: {sup.data_dir / 'log'} (webfon logs NAME follows one)")
    print("\nDemo logins (the second-factor code appears here, as sercen.conf names no mail "
          "server):")
    _print_logins()
    print("\nCtrl-C stops everything.", flush=True)


async def _status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    path = state_path(settings.data_dir.resolve())
    state: dict[str, Any] | None = json.loads(path.read_text()) if path.exists() else None
    all_ok = True
    if state is None:
        print(f"webfon is not running (no {path})")
        all_ok = False
    else:
        rows = []
        async with aiohttp.ClientSession() as session:
            for name, info in state["components"].items():
                check = Health(**info["health"]) if "health" in info else None
                ok = await (check.check(session) if check is not None
                            else _health(session, info["health_url"]))
                all_ok &= ok
                rows.append([name, str(info["pid"]), str(info["port"]),
                             "ok" if ok else "DOWN", str(info["restarts"])])
        print(f"supervisor pid {state['pid']}, bus {_redact(state.get('bus_url'))}")
        print_table(["component", "pid", "port", "health", "restarts"], rows)
    if getattr(args, "all", False):
        url = args.database_url or (state or {}).get("database_url") or \
            settings.effective_database_url
        nodes_ok = await _print_nodes(url)
        all_ok = all_ok and nodes_ok
    return 0 if all_ok else 1


def _redact(url: str | None) -> str:
    if not url:
        return "-"
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


async def _print_nodes(database_url: str) -> bool:
    try:
        store = await open_store(database_url, migrate=False)
    except StoreError as exc:
        print(f"\ngateway nodes: store unavailable: {exc}")
        return False
    try:
        nodes = await list_nodes(store)
    except StoreError as exc:
        print(f"\ngateway nodes: {exc}")
        return False
    finally:
        await store.close()
    print(f"\ngateway nodes (store {_redact(database_url)}):")
    if not nodes:
        print("  none has registered yet")
        return True
    rows = []
    ok = True
    async with aiohttp.ClientSession() as session:
        for n in nodes:
            answers = await _health(session, f"{n.api_url}/healthz") if n.api_url else False
            live = n.state in ("up", "draining")
            ok &= (not live) or (n.health == "ok" and answers) or n.state == "draining"
            rows.append([str(n.node_id), n.name, n.state, n.health,
                         "yes" if answers else "no", f"{n.heartbeat_age_s:.1f}s",
                         str(n.sessions), str(n.registered), str(n.calls),
                         f"{n.media_workers_alive}/{n.media_workers}", str(n.media_legs),
                         f"{n.host}:{n.pid}", n.api_url])
    print_table(["node", "name", "state", "health", "answers", "heartbeat", "sessions",
                 "registered", "calls", "media workers", "media legs", "host:pid", "api"],
                rows)
    return ok


async def _logs(args: argparse.Namespace) -> int:
    settings = _settings(args)
    data_dir = settings.data_dir.resolve()
    path = log_path(data_dir, args.component)
    if not path.exists():
        known = sorted(p.stem for p in (data_dir / "log").glob("*.log"))
        print(f"webfon: no log for {args.component!r} in {data_dir / 'log'}"
              + (f"; there are: {', '.join(known)}" if known else ""), file=sys.stderr)
        return 1
    console = Console(sys.stdout, pretty=pretty_wanted(args.log_format, sys.stdout))
    f = path.open(encoding="utf-8", errors="replace")
    try:
        for line in collections.deque(f, maxlen=args.lines):
            console.line(args.component, line)
        if not args.follow:
            return 0
        inode = os.fstat(f.fileno()).st_ino
        while True:
            line = f.readline()
            if line:
                console.line(args.component, line)
                continue
            await asyncio.sleep(0.25)
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if st.st_ino != inode or st.st_size < f.tell():  # replaced or truncated
                f.close()
                f = path.open(encoding="utf-8", errors="replace")
                inode = os.fstat(f.fileno()).st_ino
    finally:
        f.close()


async def _demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        store = await open_store(settings.effective_database_url)
    except StoreError as exc:
        print(f"webfon: store unavailable: {exc}", file=sys.stderr)
        return 3
    try:
        if await has_data(store):
            print("webfon: the store already has users; demo data not loaded")
            return 1
        await load_demo(store, settings.data_dir.resolve())
    finally:
        await store.close()
    print("Demo data loaded. Logins:")
    _print_logins()
    return 0


async def _migrate(args: argparse.Namespace) -> int:
    from webfon.store.migrate import applied_versions

    settings = _settings(args)
    try:
        store = await open_store(settings.effective_database_url)
    except StoreError as exc:
        print(f"webfon: {exc}", file=sys.stderr)
        return 3
    try:
        versions = sorted(await applied_versions(store))
    finally:
        await store.close()
    print(f"schema at version {versions[-1]:04d} ({len(versions)} migrations applied)")
    return 0


def _check_config(args: argparse.Namespace) -> int:
    module_name = {"web": "launcher.front"}.get(args.component, args.component)
    try:
        module = importlib.import_module(f"{module_name}.settings")
    except ModuleNotFoundError:
        print(f"webfon: unknown component {args.component!r}", file=sys.stderr)
        return 2
    classes = [v for v in vars(module).values()
               if isinstance(v, type) and issubclass(v, BaseSettings) and v is not BaseSettings]
    try:
        settings = classes[0].load(args.file)
    except ConfigError as exc:
        print(f"webfon: {exc}", file=sys.stderr)
        return 2
    print(f"{args.file}: ok")
    for key, value in vars(settings).items():
        print(f"  {key} = {value!r}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="webfon", description="webfon stack control")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data-dir", help="data directory (default $WEBFON_DATA_DIR or ./var)")
        p.add_argument("--database-url", help="sqlite:///… or mysql://… (default: SQLite)")
        return p

    up = common(sub.add_parser("up", help="start the whole stack"))
    up.add_argument("--only", help="comma-separated components to start")
    up.add_argument("--no-demo", action="store_true", help="do not load demo data")
    up.add_argument("--profile", choices=PROFILES, default="embedded",
                    help="embedded (default: one process each, SQLite) or production (2 "
                         "gateway nodes behind nginx with TLS, MariaDB and Redis started here)")
    up.add_argument("--nodes", type=int, help="gateway nodes (more than one puts nginx in "
                                              "front)")
    up.add_argument("--nginx", action=argparse.BooleanOptionalAction, default=None,
                    help="serve through nginx with TLS instead of the web front")
    up.add_argument("--mariadb", help="'start' (a private server in the data directory) or "
                                      "a mysql:// URL")
    up.add_argument("--redis", help="'start' (a local redis-server) or a redis:// URL")
    up.add_argument("--server-name", help="nginx server name and certificate name "
                                          "(default localhost)")
    up.add_argument("--tls-cert", help="certificate (chain) for nginx; default self-signed")
    up.add_argument("--tls-key", help="its private key")
    up.add_argument("--https-port", type=int, help="nginx HTTPS port (default 8443)")
    up.add_argument("--http-port", type=int, help="nginx plain-HTTP port, redirecting to "
                                                 "HTTPS (default the web front's, 8080)")
    up.add_argument("--mariadb-port", type=int, help="port of a started MariaDB (3307)")
    up.add_argument("--redis-port", type=int, help="port of a started Redis (6380)")
    up.add_argument("--rtp-base", type=int, help="first media port of the gateway nodes: "
                                                "node i gets 1000 ports from base + i*1000 "
                                                "(40000)")
    up.add_argument("--restart-delay", type=float, default=1.0,
                    help="seconds before a crashed process is started again (doubles while "
                         "it keeps crashing)")
    up.add_argument("--log-max-mb", type=float, default=50.0,
                    help="size at which a component's log file in <data>/log is rotated "
                         "(name.log -> name.log.1 …) (50)")
    up.add_argument("--log-backups", type=int, default=5,
                    help="rotated log files kept per component (5)")
    up.add_argument("--log-format", choices=("auto", "pretty", "json"), default="auto",
                    help="console lines: pretty on a terminal, JSON otherwise (auto)")
    up.set_defaults(run=_up)
    status = common(sub.add_parser("status", help="show running components"))
    status.add_argument("--all", action="store_true",
                        help="also the gateway nodes registered in the store")
    status.set_defaults(run=_status)
    logs = common(sub.add_parser("logs", help="follow one process's log"))
    logs.add_argument("component", help="pbx, sercen, fonbo, gateway, gateway-5, nginx, …")
    logs.add_argument("-n", "--lines", type=int, default=20, help="lines of history (20)")
    logs.add_argument("--no-follow", dest="follow", action="store_false",
                      help="print and exit")
    logs.add_argument("--log-format", choices=("auto", "pretty", "json"), default="auto")
    logs.set_defaults(run=_logs)
    common(sub.add_parser("demo-data", help="load the demo")).set_defaults(run=_demo)
    common(sub.add_parser("migrate", help="apply schema migrations")).set_defaults(run=_migrate)
    check = sub.add_parser("check-config", help="validate a settings file")
    check.add_argument("component", choices=[c.name for c in COMPONENTS])
    check.add_argument("file")
    check.set_defaults(run=_check_config, sync=True)
    sub.add_parser("nginx-config", help="print the nginx site file (see --help)")
    for name in ("pbx", "loadtest"):
        with contextlib.suppress(ModuleNotFoundError):
            module = importlib.import_module(f"{name}.cli")
            register: Callable[[argparse._SubParsersAction], None] = module.register
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["nginx-config"]:
        return nginx_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "sync", False):
            return int(args.run(args))
        result = args.run(args)
        if asyncio.iscoroutine(result):
            return int(asyncio.run(result))
        return int(result or 0)
    except ConfigError as exc:
        print(f"webfon: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
