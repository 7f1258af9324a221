"""The async store every component shares: one interface, SQLite and MySQL/MariaDB backends.

``await open_store(url)`` opens the backend the URL names (``sqlite:///path`` or
``mysql://user:pass@host:port/db``) and applies pending migrations. SQL is written once with
``?`` placeholders; times are epoch seconds (``DOUBLE``), booleans are 0/1.
"""

from webfon.store.base import Row, Store, StoreError
from webfon.store.open import open_store

__all__ = ["Row", "Store", "StoreError", "open_store"]
