"""Where another component answers: ``http://host:port``, ``https://host:port`` or
``unix:/path/to.sock`` (a component's ``unix_socket``), and the aiohttp connector that reaches it.

A Unix socket keeps a service call on the machine and out of reach of other users (sercen
believes the front's ``X-Forwarded-For`` there; the PBX control key never crosses a network);
``https`` is for calls between hosts, verified against the system CAs or a given CA file.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import aiohttp

UNIX_PREFIX = "unix:"


@dataclass(frozen=True)
class ServiceUrl:
    raw: str
    base: str                   # what request URLs start with (http://localhost for a socket)
    unix_path: Path | None = None

    @classmethod
    def parse(cls, url: str) -> ServiceUrl:
        """ValueError with a message for anything that is not one of the three forms."""
        text = url.strip().rstrip("/")
        if text.startswith(UNIX_PREFIX):
            path = text[len(UNIX_PREFIX):]
            if path.startswith("//"):
                path = path[2:]
            if not path.startswith("/"):
                raise ValueError(f"expected unix:/absolute/path.sock, got {url!r}")
            return cls(url, "http://localhost", Path(path))
        parsed = urlparse(text)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"expected http(s)://host:port or unix:/path, got {url!r}")
        return cls(url, text)

    @property
    def scheme(self) -> str:
        return "unix" if self.unix_path is not None else urlparse(self.base).scheme

    @property
    def ws_base(self) -> str:
        return ("wss" if self.scheme == "https" else "ws") + self.base[self.base.index(":"):]

    @property
    def plain_over_network(self) -> bool:
        """Plain HTTP to a host that is not this machine (what a bearer secret must avoid)."""
        if self.scheme != "http":
            return False
        host = urlparse(self.base).hostname or ""
        if host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return True

    def connector(self, ca_file: Path | None = None, **kwargs: object) -> aiohttp.BaseConnector:
        if self.unix_path is not None:
            return aiohttp.UnixConnector(path=str(self.unix_path), **kwargs)  # type: ignore
        if self.scheme == "https":
            context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            return aiohttp.TCPConnector(ssl=context, **kwargs)  # type: ignore[arg-type]
        return aiohttp.TCPConnector(**kwargs)  # type: ignore[arg-type]
