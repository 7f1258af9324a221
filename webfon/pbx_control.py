"""A client of the PBX control API for the other components (bearer key from
``<data_dir>/keys/pbx_control.key`` unless configured): one JSON request, errors as
:class:`PbxControlError` with an HTTP-like status (503 unreachable, 504 timed out, or the
PBX's own answer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp


class PbxControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class PbxControlClient:
    def __init__(self, base_url: str, key_path: Path, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.key_path = key_path
        self.timeout = timeout

    def _key(self) -> str:
        try:
            return self.key_path.read_text().strip()
        except OSError:
            raise PbxControlError(503, "the PBX control key is not available") from None

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._key()}"}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
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
                    raise PbxControlError(resp.status, message or f"PBX answered {resp.status}")
                return data if isinstance(data, dict) else {}
        except aiohttp.ClientError:
            raise PbxControlError(503, "the PBX is not reachable") from None
        except TimeoutError:
            raise PbxControlError(504, "the PBX did not answer in time") from None
