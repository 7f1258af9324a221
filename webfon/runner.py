"""How a component process starts: settings, logging, store, HTTP app, clean shutdown.

Each component's ``__main__`` calls :func:`run_component` with its settings class and an async
factory that builds its aiohttp application (servers other than HTTP, such as the PBX's SIP
transports, start and stop through the application's ``cleanup_ctx``). Exit codes: 0 clean
stop, 2 bad configuration, 3 store unreachable or corrupt.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from webfon.config import ConfigError
from webfon.logsetup import setup_logging
from webfon.private_files import private_dir
from webfon.settings import BaseSettings
from webfon.store import Store, StoreError, open_store

log = logging.getLogger("webfon.runner")

S = TypeVar("S", bound=BaseSettings)
STORE_KEY = web.AppKey("store", Store)
SETTINGS_KEY = web.AppKey("settings", BaseSettings)
DRAIN_KEY = web.AppKey("drain", Callable[[], Awaitable[None]])


def attach_store(app: web.Application, settings: BaseSettings) -> None:
    """Open the shared store when the app starts and close it when it stops."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[STORE_KEY] = await open_store(settings.effective_database_url)
        yield
        await app[STORE_KEY].close()

    app.cleanup_ctx.append(ctx)


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    """TLS 1.2+ server context from PEM files."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


async def serve(app: web.Application, host: str, port: int, stop: asyncio.Event, *,
                unix_socket: Path | None = None,
                ssl_context: ssl.SSLContext | None = None) -> None:
    """Serve ``app`` on ``host:port`` (TLS with ``ssl_context``) and, when given, on the Unix
    socket ``unix_socket`` (mode 0600, in a directory created 0700) until ``stop`` is set."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=3)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
        await site.start()
        log.info("listening", extra={"host": host, "port": port,
                                     "tls": ssl_context is not None})
        if unix_socket is not None:
            _clear_socket_path(unix_socket)
            old = os.umask(0o177)
            try:
                await web.UnixSite(runner, str(unix_socket)).start()
            finally:
                os.umask(old)
            os.chmod(unix_socket, 0o600)
            log.info("listening", extra={"unix_socket": str(unix_socket)})
        await stop.wait()
    finally:
        await runner.cleanup()
        if unix_socket is not None:
            _remove_socket(unix_socket)


def _clear_socket_path(path: Path) -> None:
    """Make the socket's directory (0700 if new) and remove a socket a dead process left."""
    private_dir(path.parent, narrow=False)
    if path.is_socket():
        path.unlink()


def _remove_socket(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_socket():
            path.unlink()


def run_component(component: str, settings_cls: type[S],
                  build: Callable[[S], Awaitable[web.Application]],
                  argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"webfon-{component}")
    parser.add_argument("--config", help="settings file (default: $WEBFON_CONFIG_DIR)")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    try:
        settings = settings_cls.load(args.config, **overrides)
    except ConfigError as exc:
        print(f"webfon-{component}: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(component, settings.log_level, settings.log_format)
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        built: list[web.Application] = []
        draining: list[asyncio.Task[None]] = []

        async def drain(hook: Callable[[], Awaitable[None]]) -> None:
            try:
                await hook()
            except Exception:
                log.exception("drain failed")
            finally:
                stop.set()

        def stop_now() -> None:
            for task in draining:
                task.cancel()
            stop.set()

        def on_sigterm() -> None:
            hook = built[0].get(DRAIN_KEY) if built else None
            if hook is None or draining:
                stop_now()
                return
            log.info("SIGTERM: draining before stopping (SIGINT or a second SIGTERM stops "
                     "at once)")
            draining.append(asyncio.ensure_future(drain(hook)))

        loop.add_signal_handler(signal.SIGINT, stop_now)
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        try:
            app = await build(settings)
            built.append(app)
            app[SETTINGS_KEY] = settings
            context = None
            if settings.tls_cert_file is not None and settings.tls_key_file is not None:
                context = server_ssl_context(settings.tls_cert_file, settings.tls_key_file)
            await serve(app, settings.host, settings.port, stop,
                        unix_socket=settings.unix_socket, ssl_context=context)
        except StoreError as exc:
            log.error("store unavailable", extra={"error": str(exc)})
            print(f"webfon-{component}: {exc}", file=sys.stderr)
            return 3
        except OSError as exc:
            log.error("cannot start", extra={"error": str(exc)})
            print(f"webfon-{component}: cannot start: {exc}", file=sys.stderr)
            return 1
        log.info("stopped")
        return 0

    return asyncio.run(main())
