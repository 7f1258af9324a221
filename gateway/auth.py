"""Token checks for ``create``/``attach`` (sercen's Ed25519 tokens, audience ``gateway``)."""

from __future__ import annotations

import logging
from pathlib import Path

from webfon.tokens import (
    Claims,
    RefusalCheck,
    RevocationCheck,
    TokenError,
    TokenVerifier,
    load_public_key,
)

log = logging.getLogger("gateway.auth")


class GatewayTokens:
    """Loads sercen's public key when first needed (sercen may create it after we start)."""

    def __init__(self, public_key_path: Path, issuer: str) -> None:
        self.path = public_key_path
        self.issuer = issuer
        self._verifier: TokenVerifier | None = None
        self.is_revoked: RevocationCheck | None = None
        self.refuse: RefusalCheck | None = None

    def use_revocations(self, check: RevocationCheck) -> None:
        """Refuse tokens listed in the shared store's ``token_revocations`` (logouts)."""
        self.is_revoked = check
        if self._verifier is not None:
            self._verifier.is_revoked = check

    def use_refusals(self, check: RefusalCheck) -> None:
        """Refuse tokens of ended sessions and disabled accounts (:mod:`webfon.session_end`)."""
        self.refuse = check
        if self._verifier is not None:
            self._verifier.refuse = check

    def _get(self) -> TokenVerifier:
        if self._verifier is None:
            if not self.path.exists():
                raise TokenError("token verification key not available")
            self._verifier = TokenVerifier(load_public_key(self.path), audience="gateway",
                                           issuer=self.issuer, is_revoked=self.is_revoked,
                                           refuse=self.refuse)
        return self._verifier

    async def verify(self, token: str) -> Claims:
        return await self._get().verify(token)
