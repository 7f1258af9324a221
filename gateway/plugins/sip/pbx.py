"""Client of the PBX control API (webphone login/logout, node release).

``pbx_control_url`` is ``unix:/path/pbx.sock`` (same machine), ``https://…`` (verified against
``pbx_control_ca`` or the system CAs) or ``http://…`` (the settings refuse it towards another
host: the control key must not cross a network in clear).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from webfon.control_client import ControlClient, ControlError

PbxError = ControlError
"""The PBX refused (``status`` its answer) or could not be reached (503/504)."""


@dataclass
class WebphoneLogin:
    extension: str
    sip_username: str
    sip_password: str
    domain: str
    registrar: str
    lines: int
    mode: str


class PbxControl:
    def __init__(self, base_url: str, key_path: Path, timeout: float = 10.0,
                 ca_file: Path | None = None, node_id: int = 0) -> None:
        self.client = ControlClient(base_url, key_path, timeout=timeout, ca_file=ca_file)
        # this gateway's node: a logout releases the web phone only while it is still on
        # this node (its user may have logged in again through another one meanwhile)
        self.node_id = node_id

    async def login(self, user_id: int, node_id: int) -> WebphoneLogin:
        data = await self.client.post("/control/webphone/login", {"user_id": user_id,
                                                            "node_id": node_id})
        try:
            return WebphoneLogin(extension=str(data["extension"]),
                                 sip_username=str(data["sip_username"]),
                                 sip_password=str(data["sip_password"]),
                                 domain=str(data.get("domain") or "webfon"),
                                 registrar=str(data.get("registrar") or ""),
                                 lines=int(data.get("lines") or 0),
                                 mode=str(data.get("mode") or "exclusivo"))
        except (KeyError, TypeError, ValueError):
            raise PbxError(502, "PBX login answer incomplete") from None

    async def logout(self, user_id: int) -> None:
        body = {"user_id": user_id}
        if self.node_id:
            body["node_id"] = self.node_id
        await self.client.post("/control/webphone/logout", body)

    async def release_node(self, node_id: int) -> int:
        data = await self.client.post("/control/webphone/release-node", {"node_id": node_id})
        return int(data.get("released", 0))
