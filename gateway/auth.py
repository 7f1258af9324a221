"""Token checks for ``create``/``attach`` (sercen's Ed25519 tokens, audience ``gateway``)."""

from __future__ import annotations

import logging
from pathlib import Path

from webfon.tokens import Claims, TokenError, TokenVerifier, load_public_key

log = logging.getLogger("gateway.auth")


class GatewayTokens:
    """Loads sercen's public key when first needed (sercen may create it after we start)."""

    def __init__(self, public_key_path: Path, issuer: str) -> None:
        self.path = public_key_path
        self.issuer = issuer
        self._verifier: TokenVerifier | None = None

    def _get(self) -> TokenVerifier:
        if self._verifier is None:
            if not self.path.exists():
                raise TokenError("token verification key not available")
            self._verifier = TokenVerifier(load_public_key(self.path), audience="gateway",
                                           issuer=self.issuer)
        return self._verifier

    async def verify(self, token: str) -> Claims:
        return await self._get().verify(token)
