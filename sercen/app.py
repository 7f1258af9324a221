"""Building the sercen application: keys, store, services, routes and housekeeping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from sercen.api import SERCEN_KEY, SercenContext, add_routes
from sercen.regulation import Regulator
from sercen.repo import SercenRepo
from sercen.secretbox import SecretBox, decode_key, ensure_key_file
from sercen.service import Authenticator
from sercen.sessions import Sessions
from sercen.settings import SercenSettings
from webfon import session_end
from webfon.bus import Bus, open_bus
from webfon.http import create_app
from webfon.runner import SETTINGS_KEY, STORE_KEY
from webfon.store import Store, StoreError, open_store
from webfon.tokens import (
    TokenIssuer,
    TokenVerifier,
    ensure_keypair,
    load_private_key,
    store_revocation_check,
)

log = logging.getLogger("sercen")


def secrets_key(settings: SercenSettings) -> bytes:
    if settings.secrets_key:
        return decode_key(settings.secrets_key)
    return ensure_key_file(settings.secrets_key_path)


def signing_key_path(settings: SercenSettings) -> str:
    if settings.token_private_key is None:
        private_path, _ = ensure_keypair(settings.data_dir)
        return str(private_path)
    return str(settings.token_private_key)


def make_context(settings: SercenSettings, store: Store, bus: Bus | None = None
                 ) -> SercenContext:
    private_key = load_private_key(Path(signing_key_path(settings)))
    public_key = private_key.public_key()
    public_pem = public_key.public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    repo = SercenRepo(store)
    notify = None
    if bus is not None:
        async def notify(user_id: int, sids: list[str], reason: str) -> None:
            try:
                await session_end.publish(bus, user_id, sids, reason)
            except Exception as exc:  # the store already revoked them; the bus is a bonus
                log.warning("auth.ended not published", extra={"error": str(exc)})

    sessions = Sessions(repo, TokenIssuer(private_key, settings.token_issuer), settings,
                        notify)
    regulator = Regulator(repo, settings.max_retries, settings.find_time, settings.ban_time)
    auth = Authenticator(settings, repo, SecretBox(secrets_key(settings)), sessions, regulator)
    verifier = TokenVerifier(public_key, audience="sercen", issuer=settings.token_issuer,
                             is_revoked=store_revocation_check(store),
                             refuse=session_end.store_account_check(store))
    return SercenContext(settings, auth, sessions, verifier, public_pem)


async def _housekeeping(repo: SercenRepo, settings: SercenSettings) -> None:
    while True:
        await asyncio.sleep(settings.cleanup_interval)
        try:
            await repo.cleanup(time.time(), settings.find_time)
        except StoreError as exc:
            log.warning("cleanup failed", extra={"error": str(exc)})


async def build_app(settings: SercenSettings, store: Store | None = None) -> web.Application:
    """The sercen application; with ``store`` given (tests) that store is used and left open."""
    app = create_app("sercen", settings.max_body_bytes)
    app[SETTINGS_KEY] = settings
    signing_key_path(settings)   # fail early on an unusable key
    secrets_key(settings)

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        own = store is None
        opened = await open_store(settings.effective_database_url) if own else store
        assert opened is not None
        app[STORE_KEY] = opened
        try:
            bus = await open_bus(settings.bus_url)
        except BaseException:
            if own:
                await opened.close()
            raise
        app[SERCEN_KEY] = make_context(settings, opened, bus)
        task = (asyncio.create_task(_housekeeping(SercenRepo(opened), settings))
                if settings.cleanup_interval > 0 else None)
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await bus.close()
            if own:
                await opened.close()

    app.cleanup_ctx.append(ctx)
    add_routes(app)
    return app
