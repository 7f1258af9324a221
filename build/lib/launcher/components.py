"""The components ``webfon up`` runs, their default ports and how to start each one."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Component:
    name: str
    module: str
    port: int
    description: str

    def available(self) -> bool:
        """A component is started only once its package has a ``__main__``."""
        try:
            return importlib.util.find_spec(f"{self.module}.__main__") is not None
        except ModuleNotFoundError:
            return False

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, "--port", str(self.port)]

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"


COMPONENTS: tuple[Component, ...] = (
    Component("sercen", "sercen", 8300, "login, second factor, tokens"),
    Component("pbx", "pbx", 8500, "embedded PBX (SIP 5060 udp/tcp, control API)"),
    Component("fonbo", "fonbo", 8400, "portal API and realtime events"),
    Component("gateway", "gateway", 8188, "WebRTC gateway, Janus API on /janus"),
    Component("web", "launcher.front", 8080, "web client and single-origin proxy"),
)


def configured(environ: Mapping[str, str] | None = None) -> tuple[Component, ...]:
    """The components with ports overridden by ``WEBFON_<NAME>_PORT`` where set."""
    environ = os.environ if environ is None else environ
    out = []
    for c in COMPONENTS:
        port = environ.get(f"WEBFON_{c.name.upper()}_PORT")
        out.append(dataclasses.replace(c, port=int(port)) if port else c)
    return tuple(out)


def by_name(name: str) -> Component:
    for component in COMPONENTS:
        if component.name == name:
            return component
    raise KeyError(name)
