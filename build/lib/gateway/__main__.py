"""``python -m gateway [--config FILE] [--port N]``: run the WebRTC gateway."""

from __future__ import annotations

import sys

from gateway.app import build_app
from gateway.settings import GatewaySettings
from webfon.runner import run_component

if __name__ == "__main__":
    sys.exit(run_component("gateway", GatewaySettings, build_app))
