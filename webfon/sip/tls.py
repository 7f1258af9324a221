"""TLS for SIP (RFC 3261 §26, RFC 5922): the certificate settings and the SSL contexts.

A :class:`TlsConfig` names our certificate and key (presented to phones and trunks that
connect to us, and to trunks that ask for a client certificate), the certificate authorities
trusted when *we* connect (a trunk's certificate is verified against them, by the name the
trunk is configured with — SNI and RFC 6125 host check — or the system's CAs when none are
given) and whether a peer that connects to us must present a certificate too (mutual TLS).
Contexts allow TLS 1.2 and later only.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


class TlsConfigError(ValueError):
    """A certificate, key or CA file cannot be used (the message says which and why)."""


@dataclass(frozen=True)
class TlsConfig:
    cert_file: Path | None = None
    """Our certificate chain (PEM)."""
    key_file: Path | None = None
    """Its private key (PEM)."""
    ca_file: Path | None = None
    """CAs trusted for the peers we connect to; the system's when None."""
    verify_server: bool = True
    """Verify the certificate (and name) of the servers we connect to (trunks)."""
    require_client_cert: bool = False
    """Ask the peers that connect to us for a certificate signed by ``ca_file``."""

    def server_context(self) -> ssl.SSLContext:
        """The context of our TLS listener: our certificate."""
        if self.cert_file is None or self.key_file is None:
            raise TlsConfigError("SIP over TLS needs a certificate and its key")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self._load_chain(ctx)
        if self.require_client_cert:
            self._load_ca(ctx)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """The context of the connections we open: the peer verified unless told not to,
        our certificate offered when we have one."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.verify_server:
            self._load_ca(ctx)
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file is not None and self.key_file is not None:
            self._load_chain(ctx)
        return ctx

    def _load_chain(self, ctx: ssl.SSLContext) -> None:
        try:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigError(f"cannot load the certificate {self.cert_file} with the key "
                                 f"{self.key_file}: {exc}") from None

    def _load_ca(self, ctx: ssl.SSLContext) -> None:
        if self.ca_file is None:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
            return
        try:
            ctx.load_verify_locations(cafile=str(self.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigError(f"cannot load the CA file {self.ca_file}: {exc}") from None
