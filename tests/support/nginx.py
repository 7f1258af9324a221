"""A real nginx for tests: a throw-away CA and server certificate, and ``nginx`` started in the
foreground with a site file under the test's directory (stopped afterwards)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_pki(d: Path, name: str, addresses: tuple[str, ...] = ("127.0.0.1",)
             ) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``name`` (and ``addresses``) signed by it; returns
    (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webfon test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(name)]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256()))
    d.mkdir(parents=True, exist_ok=True)
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return d / "ca.pem", d / "cert.pem", d / "key.pem"


@contextlib.asynccontextmanager
async def running_nginx(d: Path, site: str, wait_for: tuple[str, int]) -> AsyncIterator[None]:
    """nginx with ``site`` (an http-context snippet) until the block ends; ``wait_for`` is an
    address it listens on."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is installed by scripts/install-test-deps"
    d.mkdir(parents=True, exist_ok=True)
    (d / "site.conf").write_text(site)
    (d / "nginx.conf").write_text(
        f"user root;\nworker_processes 1;\npid {d}/nginx.pid;\n"
        f"error_log {d}/error.log warn;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n include /etc/nginx/mime.types;\n client_body_temp_path {d}/body;\n"
        f" proxy_temp_path {d}/proxy;\n access_log {d}/access.log;\n"
        f" include {d}/site.conf;\n}}\n")
    check = subprocess.run([nginx, "-t", "-p", str(d), "-c", str(d / "nginx.conf")],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    proc = await asyncio.create_subprocess_exec(
        nginx, "-p", str(d), "-c", str(d / "nginx.conf"), "-g", "daemon off;")
    try:
        for _ in range(100):
            try:
                _, w = await asyncio.open_connection(*wait_for)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        yield
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
