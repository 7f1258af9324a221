"""Client of the PBX control API (webphone login/logout, node release).

``pbx_control_url`` is ``unix:/path/pbx.sock`` (same machine), ``https://…`` (verified against
``pbx_control_ca`` or the system CAs) or ``http://…`` (the settings refuse it towards another
host: the control key must not cross a network in clear).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from webfon.service_url import ServiceUrl

log = logging.getLogger("gateway.pbx")


class PbxError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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
        self.target = ServiceUrl.parse(base_url)
        self.base_url = self.target.base
        self.key_path = key_path
        self.timeout = timeout
        self.ca_file = ca_file
        # this gateway's node: a logout releases the web phone only while it is still on
        # this node (its user may have logged in again through another one meanwhile)
        self.node_id = node_id

    def _key(self) -> str:
        try:
            return self.key_path.read_text().strip()
        except OSError as exc:
            raise PbxError(503, f"PBX control key not available: {exc}") from None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._key()}"}
        try:
            async with aiohttp.ClientSession(connector=self.target.connector(self.ca_file),
                                             timeout=aiohttp.ClientTimeout(
                    total=self.timeout)) as http, http.post(
                    f"{self.base_url}{path}", json=body, headers=headers) as resp:
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = {}
                if resp.status != 200:
                    message = ""
                    if isinstance(data, dict) and isinstance(data.get("error"), dict):
                        message = str(data["error"].get("message", ""))
                    raise PbxError(resp.status, message or f"PBX answered {resp.status}")
                return data if isinstance(data, dict) else {}
        except aiohttp.ClientError as exc:
            raise PbxError(503, f"PBX control API unreachable: {exc}") from None
        except TimeoutError:
            raise PbxError(504, "PBX control API timed out") from None

    async def login(self, user_id: int, node_id: int) -> WebphoneLogin:
        data = await self._post("/control/webphone/login", {"user_id": user_id,
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
        await self._post("/control/webphone/logout", body)

    async def release_node(self, node_id: int) -> int:
        data = await self._post("/control/webphone/release-node", {"node_id": node_id})
        return int(data.get("released", 0))
