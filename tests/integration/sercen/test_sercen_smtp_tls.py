"""SMTP transport options against real aiosmtpd servers: SMTPS (smtps_usa), STARTTLS, login."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.sercen.support import MailSink, SmtpServer, StartSercen, add_user


def make_cert(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "smtp.pem", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Auth:
    def __init__(self) -> None:
        self.logins: list[str] = []

    def __call__(self, server: SMTP, session: object, envelope: object, mechanism: str,
                 auth_data: object) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"sercen"
              and auth_data.password == b"s3cret")
        if ok:
            self.logins.append(auth_data.login.decode())  # type: ignore[union-attr]
        return AuthResult(success=ok)


async def _serve(tmp_path: Path, implicit_tls: bool
                 ) -> tuple[asyncio.AbstractServer, SmtpServer, Path, Auth]:
    cert, key = make_cert(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    sink, auth = MailSink(), Auth()
    loop = asyncio.get_running_loop()
    if implicit_tls:
        server = await loop.create_server(
            # the whole connection is TLS; aiosmtpd only tracks STARTTLS for this check
            lambda: SMTP(sink, hostname="mail.test", authenticator=auth,
                         auth_require_tls=False),
            "127.0.0.1", 0, ssl=ctx)
    else:
        server = await loop.create_server(
            lambda: SMTP(sink, hostname="mail.test", tls_context=ctx, require_starttls=True,
                         authenticator=auth, auth_require_tls=True),
            "127.0.0.1", 0)
    return server, SmtpServer(server.sockets[0].getsockname()[1], sink), cert, auth


@pytest.mark.parametrize("implicit_tls", [True, False], ids=["smtps", "starttls"])
async def test_code_over_tls_with_login(start_sercen: StartSercen, tmp_path: Path,
                                        implicit_tls: bool) -> None:
    server, smtp, ca, auth = await _serve(tmp_path, implicit_tls)
    try:
        s = await start_sercen(smtps_usa=implicit_tls, smtp_puerto=smtp.port,
                               smtp_usuario="sercen", smtp_clave="s3cret", smtp_ca_file=ca,
                               smtp_starttls="require")
        s.smtp = smtp
        await add_user(s.store, "1001", email_addr="ana@example.com")
        tokens = await s.full_login("1001")
        assert tokens["status"] == "ok"
        assert auth.logins == ["sercen"]
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)


async def test_untrusted_certificate_refused(start_sercen: StartSercen, tmp_path: Path) -> None:
    server, smtp, _ca, _auth = await _serve(tmp_path, True)
    try:
        s = await start_sercen(smtps_usa=True, smtp_puerto=smtp.port, smtp_timeout=5.0)
        await add_user(s.store, "1001", email_addr="ana@example.com")
        status, err = await s.login("1001")
        assert status == 503 and err["error"]["reason"] == "mail_failed"
        assert smtp.pending() == 0
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)
