"""The ``webfon`` command: run the stack, look at it, prepare its data.

``webfon up``            start every available component on loopback (embedded defaults)
``webfon status``        what runs, on which port, and whether it answers ``/healthz``
``webfon demo-data``     fill an empty store with the demo organisation
``webfon migrate``       bring the store's schema up to date
``webfon check-config``  validate a component's settings file
Components add their own sub-commands (``webfon pbx …``, ``webfon mdflow …``, ``webfon
loadtest …``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from launcher import outbox
from launcher.components import COMPONENTS, Component, configured
from launcher.demo import DEMO_PASSWORD, DEMO_SIP_PASSWORD, DEMO_USERS, has_data, load_demo
from launcher.embedded_config import write_embedded_config
from launcher.nginxconf import main as nginx_main
from launcher.supervisor import Supervisor, outbox_path, state_path
from webfon.config import ConfigError
from webfon.control_key import ensure_control_key
from webfon.logsetup import setup_logging
from webfon.private_files import private_dir
from webfon.settings import BaseSettings
from webfon.store import StoreError, open_store
from webfon.tokens import ensure_keypair

HEALTH_WAIT_S = 30.0


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


async def _prepare(settings: BaseSettings, demo: bool) -> bool:
    """Keys, schema and (on an empty store) the demo; returns True when the demo was loaded."""
    private_dir(settings.data_dir, narrow=False)  # a new data directory is the owner's only
    if not os.environ.get("WEBFON_CONFIG_DIR"):
        config_dir = settings.data_dir.resolve() / "etc"
        write_embedded_config(config_dir)
        os.environ["WEBFON_CONFIG_DIR"] = str(config_dir)
    ensure_keypair(settings.data_dir)
    ensure_control_key(settings.data_dir)
    store = await open_store(settings.effective_database_url)
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


async def _up(args: argparse.Namespace) -> int:
    settings = _settings(args)
    setup_logging("supervisor", settings.log_level, settings.log_format)
    print(f"webfon: preparing data in {settings.data_dir.resolve()} …", flush=True)
    try:
        loaded = await _prepare(settings, demo=not args.no_demo)
    except StoreError as exc:
        print(f"webfon: store unavailable: {exc}", file=sys.stderr)
        return 3
    if loaded:
        print("webfon: demo data loaded", flush=True)
    wanted = set(args.only.split(",")) if args.only else None
    components = [c for c in configured()
                  if c.available() and (wanted is None or c.name in wanted)]
    if not components:
        print("webfon: no component to start", file=sys.stderr)
        return 1
    sup = Supervisor(components, settings.data_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await sup.start()
    mailbox = asyncio.create_task(outbox.watch(outbox_path(settings.data_dir.resolve()),
                                               lambda line: print(f"webfon: {line}",
                                                                  flush=True)))
    healthy = await _wait_healthy(components, stop)
    if healthy:
        web = next((c for c in components if c.name == "web"), None)
        print()
        print("webfon is running:")
        print_table(["component", "url", "what"],
                    [[c.name, f"http://127.0.0.1:{c.port}/", c.description] for c in components])
        if web is not None:
            print(f"\nOpen the web client: http://127.0.0.1:{web.port}/")
        print(f"\nSettings files: {os.environ.get('WEBFON_CONFIG_DIR')}")
        print("\nDemo logins (the second-factor code appears here, as sercen.conf names no mail "
              "server):")
        _print_logins()
        print("\nCtrl-C stops everything.", flush=True)
    await stop.wait()
    print("webfon: stopping …", flush=True)
    mailbox.cancel()
    await sup.stop()
    return 0 if healthy else 1


async def _wait_healthy(components: list[Component], stop: asyncio.Event) -> bool:
    deadline = time.monotonic() + HEALTH_WAIT_S
    pending = {c.name: c for c in components}
    async with aiohttp.ClientSession() as session:
        while pending and time.monotonic() < deadline and not stop.is_set():
            for name, comp in list(pending.items()):
                if await _health(session, comp.health_url):
                    print(f"webfon: {name} ready on port {comp.port}", flush=True)
                    del pending[name]
            if pending:
                await asyncio.sleep(0.3)
    if pending:
        print(f"webfon: not answering after {HEALTH_WAIT_S:.0f} s: {', '.join(pending)}",
              file=sys.stderr, flush=True)
    return not pending


async def _status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    path = state_path(settings.data_dir.resolve())
    if not path.exists():
        print(f"webfon is not running (no {path})")
        return 1
    state = json.loads(path.read_text())
    rows = []
    all_ok = True
    async with aiohttp.ClientSession() as session:
        for name, info in state["components"].items():
            ok = await _health(session, info["health_url"])
            all_ok &= ok
            rows.append([name, str(info["pid"]), str(info["port"]), "ok" if ok else "DOWN",
                         str(info["restarts"])])
    print(f"supervisor pid {state['pid']}, bus {state.get('bus_url')}")
    print_table(["component", "pid", "port", "health", "restarts"], rows)
    return 0 if all_ok else 1


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
    up.set_defaults(run=_up)
    common(sub.add_parser("status", help="show running components")).set_defaults(run=_status)
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
