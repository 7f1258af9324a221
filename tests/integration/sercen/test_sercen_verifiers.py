"""sercen's tokens as the gateway and FONBO check them, with the key they find on disk."""

from __future__ import annotations

import pytest
from aiohttp import web

from fonbo.auth import verify_token
from fonbo.keys import SETTINGS_KEY, STORE_KEY
from fonbo.settings import FonboSettings
from gateway.auth import GatewayTokens
from tests.integration.sercen.support import StartSercen, add_user
from webfon.tokens import TokenError


async def test_gateway_and_fonbo_accept_sercen_tokens(start_sercen: StartSercen) -> None:
    s = await start_sercen()
    uid = await add_user(s.store, "1001", email_addr="ana@example.com", role="admin")
    tokens = await s.full_login("1001")
    data_dir = s.settings.data_dir

    gateway = GatewayTokens(data_dir / "keys" / "sercen_ed25519.pub.pem",
                            s.settings.token_issuer)
    claims = await gateway.verify(tokens["access_token"])
    assert claims.user_id == uid and claims.has_role("admin")

    fonbo_app = web.Application()
    fonbo_app[SETTINGS_KEY] = FonboSettings.load(environ={}, data_dir=data_dir)
    fonbo_app[STORE_KEY] = s.store
    claims = await verify_token(fonbo_app, tokens["access_token"])
    assert claims.user_id == uid

    # after logout FONBO (which checks revocations in the store) refuses the token
    status, _ = await s.post("/sercen/logout", {}, token=tokens["access_token"])
    assert status == 200
    with pytest.raises(TokenError, match="revoked"):
        await verify_token(fonbo_app, tokens["access_token"])
