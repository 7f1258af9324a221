"""The outside programs ``webfon up`` can run for the production shape on one machine: nginx
(TLS, the site rendered from ``nginx/webfon-site.conf.template``), MariaDB (a private server in
``<data_dir>/mariadb``) and Redis. Each gets its files under the data directory and a command
the supervisor runs in the foreground; nothing is installed or touched outside it.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import secrets
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from launcher.nginxconf import SiteConfig, render
from launcher.process import Health, ProcessSpec

ROOT = Path(__file__).resolve().parent.parent
WEBCLIENT = ROOT / "webclient"
SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")


class ServiceError(RuntimeError):
    """A program is missing or could not prepare its files; the message says what to do."""


def find_program(name: str, package: str) -> str:
    found = shutil.which(name) or next(
        (str(Path(d) / name) for d in SBIN if (Path(d) / name).exists()), None)
    if found is None:
        raise ServiceError(f"{name} not found: install the Debian package {package} "
                           f"(apt-get install {package}) or give a URL instead")
    return found


# --- TLS ------------------------------------------------------------------------------------
def ensure_self_signed(tls_dir: Path, names: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate for ``names`` (DNS names or IPs), made once and kept."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = tls_dir / "webfon-selfsigned.crt", tls_dir / "webfon-selfsigned.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    tls_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "webfon (self-signed)")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


# --- nginx ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NginxPlan:
    https_port: int
    http_port: int
    server_name: str
    cert: Path
    key: Path
    gateways: list[str]  # NODE=host:port
    sercen: str
    fonbo: str


def nginx_spec(data_dir: Path, plan: NginxPlan, stage: int) -> ProcessSpec:
    """Render the site and a main configuration under ``<data_dir>/nginx``."""
    nginx = find_program("nginx", "nginx")
    prefix = data_dir / "nginx"
    for sub in ("", "temp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    log_dir = data_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    site = render(SiteConfig(
        server_name=plan.server_name, ssl_certificate=str(plan.cert),
        ssl_certificate_key=str(plan.key), gateways=plan.gateways, sercen=[plan.sercen],
        fonbo=[plan.fonbo], webclient_root=str(WEBCLIENT),
        https_listen=f"127.0.0.1:{plan.https_port}", http_listen=f"127.0.0.1:{plan.http_port}",
        https_port_suffix=f":{plan.https_port}",
        access_log=str(log_dir / "nginx-access.log"), error_log="stderr"))
    (prefix / "webfon-site.conf").write_text(site)
    temp = prefix / "temp"
    # As root, nginx's workers would become "nobody", who may not read the checkout: on this
    # one machine they keep the user that runs `webfon up` (production runs the distribution's
    # nginx with its own user, see deploy/).
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        "# written by `webfon up`; the site is webfon-site.conf\n"
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log stderr warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        "    default_type application/octet-stream;\n"
        f"    client_body_temp_path {temp}/body;\n    proxy_temp_path {temp}/proxy;\n"
        f"    fastcgi_temp_path {temp}/fastcgi;\n    uwsgi_temp_path {temp}/uwsgi;\n"
        f"    scgi_temp_path {temp}/scgi;\n"
        f"    include {prefix}/webfon-site.conf;\n"
        "}\n")
    return ProcessSpec(
        name="nginx", stage=stage, port=plan.https_port,
        argv=(nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"),
        description="TLS front: web client, /janus balanced over the gateway nodes",
        health=Health("https", "127.0.0.1", plan.https_port),
        url=f"https://{plan.server_name}:{plan.https_port}/",
        stop_signal=signal.SIGQUIT, stop_grace_s=10.0)


def nginx_check(spec: ProcessSpec) -> None:
    """``nginx -t`` on the written configuration: a clear error before anything starts."""
    import subprocess

    argv = [a for a in spec.argv if a not in ("-g", "daemon off;")]
    done = subprocess.run([*argv, "-t", "-q"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServiceError(f"nginx refused the configuration: {done.stderr.strip()}")


# --- Redis ----------------------------------------------------------------------------------
def redis_spec(data_dir: Path, port: int, stage: int) -> ProcessSpec:
    redis = find_program("redis-server", "redis-server")
    work = data_dir / "redis"
    work.mkdir(parents=True, exist_ok=True)
    return ProcessSpec(
        name="redis", stage=stage, port=port,
        argv=(redis, "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
              "--save", "", "--appendonly", "no", "--dir", str(work)),
        description="events between the processes (pub/sub), Socket.IO",
        health=Health("tcp", "127.0.0.1", port), url=f"redis://127.0.0.1:{port}/0",
        stop_signal=signal.SIGTERM, stop_grace_s=10.0)


# --- MariaDB --------------------------------------------------------------------------------
@dataclass(frozen=True)
class MariaDb:
    """A private server: data in ``<data_dir>/mariadb``, database ``webfon`` for user
    ``webfon`` with a generated password kept in ``<data_dir>/keys/mariadb.password``."""

    data_dir: Path
    port: int

    @property
    def datadir(self) -> Path:
        return self.data_dir / "mariadb"

    @property
    def socket(self) -> Path:
        return self.data_dir / "run" / "mariadb.sock"

    @property
    def password_file(self) -> Path:
        return self.data_dir / "keys" / "mariadb.password"

    def password(self) -> str:
        if not self.password_file.exists():
            self.password_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(18))
        return self.password_file.read_text().strip()

    @property
    def url(self) -> str:
        return f"mysql://webfon:{quote(self.password(), safe='')}@127.0.0.1:{self.port}/webfon"

    async def install(self) -> None:
        """Create the system tables once (``mariadb-install-db``)."""
        if (self.datadir / "mysql").is_dir():
            return
        tool = find_program("mariadb-install-db", "mariadb-server")
        self.datadir.mkdir(parents=True, exist_ok=True)
        argv = [tool, f"--datadir={self.datadir}", "--auth-root-authentication-method=normal",
                "--skip-test-db"]
        if os.geteuid() == 0:
            argv.append("--user=root")
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            shutil.rmtree(self.datadir, ignore_errors=True)
            raise ServiceError("mariadb-install-db failed: "
                               + out.decode(errors="replace").strip()[-800:])

    def spec(self, stage: int) -> ProcessSpec:
        server = find_program("mariadbd", "mariadb-server")
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        argv = [server, "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
                "--bind-address=127.0.0.1", f"--socket={self.socket}",
                f"--pid-file={self.data_dir / 'run' / 'mariadb.pid'}", "--skip-name-resolve",
                "--innodb-buffer-pool-size=64M", "--max-connections=500",
                "--character-set-server=utf8mb4", "--log-error="]
        if os.geteuid() == 0:
            argv.append("--user=root")
        return ProcessSpec(
            name="mariadb", stage=stage, port=self.port, argv=tuple(argv),
            description="the shared store (configuration, CDR, leases)",
            health=Health("tcp", "127.0.0.1", self.port),
            url=f"mysql://127.0.0.1:{self.port}/webfon",
            stop_signal=signal.SIGTERM, stop_grace_s=30.0)

    async def provision(self) -> None:
        """Database and user, once the server answers (idempotent)."""
        import pymysql

        password = self.password()

        def run() -> None:
            conn = pymysql.connect(unix_socket=str(self.socket), user="root", password="",
                                   connect_timeout=10)
            try:
                with conn.cursor() as cur:
                    cur.execute("CREATE DATABASE IF NOT EXISTS webfon CHARACTER SET utf8mb4")
                    for host in ("127.0.0.1", "localhost"):
                        cur.execute(f"CREATE USER IF NOT EXISTS 'webfon'@'{host}' "
                                    "IDENTIFIED BY %s", (password,))
                        cur.execute(f"ALTER USER 'webfon'@'{host}' IDENTIFIED BY %s",
                                    (password,))
                        cur.execute(f"GRANT ALL PRIVILEGES ON webfon.* TO 'webfon'@'{host}'")
                conn.commit()
            finally:
                conn.close()

        last: Exception | None = None
        for _ in range(40):
            try:
                await asyncio.to_thread(run)
                return
            except pymysql.err.Error as exc:  # still starting
                last = exc
                await asyncio.sleep(0.25)
        raise ServiceError(f"MariaDB did not accept the set-up: {last}")
