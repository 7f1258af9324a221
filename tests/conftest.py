"""Fixtures every test may use: stores on both backends, MariaDB, temporary data dirs."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

from tests.support.fixtures import baresip_factory, phone_network, sipp_factory
from webfon.store import Store, open_store

__all__ = ["baresip_factory", "phone_network", "sipp_factory"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mysql_server_url() -> str:
    """DSN of a MariaDB server for tests (started by scripts/start-mariadb when needed)."""
    url = os.environ.get("WEBFON_TEST_MYSQL_URL")
    if not url:
        result = subprocess.run([str(ROOT / "scripts" / "start-mariadb")], capture_output=True,
                                text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"MariaDB is needed for these tests and could not be started:\n"
                               f"{result.stdout}\n{result.stderr}")
        url = result.stdout.strip().splitlines()[-1]
        os.environ["WEBFON_TEST_MYSQL_URL"] = url
    return url


async def _create_database(server_url: str, name: str) -> str:
    import aiomysql

    parts = urlparse(server_url)
    conn = await aiomysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                                  user=parts.username or "root", password=parts.password or "",
                                  autocommit=True)
    async with conn.cursor() as cur:
        await cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    conn.close()
    return urlunparse(parts._replace(path=f"/{name}"))


async def _drop_database(server_url: str, name: str) -> None:
    import aiomysql

    parts = urlparse(server_url)
    conn = await aiomysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                                  user=parts.username or "root", password=parts.password or "",
                                  autocommit=True)
    async with conn.cursor() as cur:
        await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


@pytest.fixture
async def mysql_url(mysql_server_url: str) -> AsyncIterator[str]:
    """A fresh, empty MariaDB database for one test, dropped afterwards."""
    name = f"webfon_t_{secrets.token_hex(4)}"
    url = await _create_database(mysql_server_url, name)
    yield url
    await _drop_database(mysql_server_url, name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'webfon.db'}"


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty store, once per backend (SQLite and MariaDB)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'webfon.db'}"
        return
    server = request.getfixturevalue("mysql_server_url")
    name = f"webfon_t_{secrets.token_hex(4)}"
    url = await _create_database(server, name)
    yield url
    await _drop_database(server, name)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """A migrated store on each backend."""
    s = await open_store(store_url)
    yield s
    await s.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "data"
    d.mkdir()
    yield d
