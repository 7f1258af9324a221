"""The web front: serves the static web client and proxies the APIs on one origin.

``python -m launcher.front --port 8080`` starts it. Browsers load «VIVAit Call Web» from here and
reach the gateway (``/janus``, HTTP and WebSocket), sercen (``/sercen/``) and FONBO
(``/fonbo/``, ``/socket.io/``) through the same origin, so no CORS is needed and the same
layout works behind nginx in production.
"""

from launcher.front.app import build_app
from launcher.front.settings import FrontSettings

__all__ = ["FrontSettings", "build_app"]
