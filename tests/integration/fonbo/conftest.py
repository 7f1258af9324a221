"""Fixtures for FONBO API tests (a live aiohttp test server over a real store)."""

from tests.unit.fonbo.support import client, sqlite_store, world

__all__ = ["client", "sqlite_store", "world"]
