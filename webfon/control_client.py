"""A client of the PBX control API for the other components (bearer key from
``pbx_control.key``): JSON in, JSON out, one error type with the status to pass on. The PBX is
reached at ``http://127.0.0.1:port``, ``unix:/path/pbx.sock`` or ``https://host:port`` (see
:class:`~webfon.service_url.ServiceUrl`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from webfon.service_url import ServiceUrl


class ControlError(Exception):
    """The PBX refused (``status`` its answer) or could not be reached (503/504)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ControlClient:
    def __init__(self, base_url: str, key_path: Path, timeout: float = 5.0,
                 ca_file: Path | None = None) -> None:
        self.target = ServiceUrl.parse(base_url)
        self.base_url = self.target.base
        self.key_path = key_path
        self.timeout = timeout
        self.ca_file = ca_file

    def _key(self) -> str:
        try:
            return self.key_path.read_text().strip()
        except OSError as exc:
            raise ControlError(503, f"PBX control key not available: {exc.strerror}") from None

    async def request(self, method: str, path: str,
                      body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._key()}"}
        try:
            async with aiohttp.ClientSession(connector=self.target.connector(self.ca_file),
                                             timeout=aiohttp.ClientTimeout(
                    total=self.timeout)) as http, http.request(
                    method, f"{self.base_url}{path}", json=body, headers=headers) as resp:
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = {}
                if resp.status != 200:
                    message = ""
                    if isinstance(data, dict) and isinstance(data.get("error"), dict):
                        message = str(data["error"].get("message", ""))
                    raise ControlError(resp.status, message or resp.reason or "PBX refused")
                return data if isinstance(data, dict) else {"items": data}
        except aiohttp.ClientError as exc:
            raise ControlError(503, f"PBX control API unreachable: {exc}") from None
        except TimeoutError:
            raise ControlError(504, "PBX control API timed out") from None

    async def get(self, path: str) -> dict[str, Any]:
        return await self.request("GET", path)

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, body)
