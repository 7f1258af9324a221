"""The security tests attack the real components: they reuse the gateway's fixtures (a running
gateway with a media worker, aiortc browser clients, a test registrar)."""

from tests.integration.gateway.conftest import (  # noqa: F401
    gateway_factory,
    gateway_server,
    registrar_factory,
    sip_clients,
)
from tests.support.fixtures import sipp_factory  # noqa: F401
