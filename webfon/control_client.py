"""A client of the PBX control API for the services that drive the PBX (FONBO): JSON over
HTTP (``http://127.0.0.1:port``, ``unix:/path/pbx.sock`` or ``https://host:port``, see
:class:`~webfon.service_url.ServiceUrl`) with the control key as bearer; a refusal comes back
as :class:`ControlError` with the PBX's status and message, an unreachable PBX as 503."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import aiohttp

from webfon.service_url import ServiceUrl

log = logging.getLogger("webfon.control")


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ControlClient:
    def __init__(self, base_url: str, key_path: Path, timeout: float = 10.0,
                 ca_file: Path | None = None) -> None:
        self.target = ServiceUrl.parse(base_url)
        self.key_path = key_path
        self.timeout = timeout
        self.ca_file = ca_file

    def _key(self) -> str:
        try:
            return self.key_path.read_text().strip()
        except OSError as exc:
            raise ControlError(503, f"PBX control key not available: {exc.strerror}") from None

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._key()}"}
        try:
            async with aiohttp.ClientSession(connector=self.target.connector(self.ca_file),
                                             timeout=aiohttp.ClientTimeout(
                    total=self.timeout)) as http, http.post(
                    f"{self.target.base}{path}", json=body, headers=headers) as resp:
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = {}
                if resp.status != 200:
                    message = ""
                    if isinstance(data, dict) and isinstance(data.get("error"), dict):
                        message = str(data["error"].get("message", ""))
                    raise ControlError(resp.status, message or f"PBX answered {resp.status}")
                return data if isinstance(data, dict) else {}
        except aiohttp.ClientError as exc:
            log.warning("PBX control API unreachable", extra={"path": path, "error": str(exc)})
            raise ControlError(503, "the PBX is not reachable") from None
        except TimeoutError:
            raise ControlError(503, "the PBX did not answer in time") from None
