"""Static files of the web client, served safely from one directory."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from aiohttp import web

from webfon.http import json_error

mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/json", ".json")
mimetypes.add_type("image/svg+xml", ".svg")
mimetypes.add_type("application/manifest+json", ".webmanifest")
mimetypes.add_type("audio/wav", ".wav")


class StaticFiles:
    """GET/HEAD handler: ``/`` is ``index.html``; nothing outside the directory is reachable."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def resolve(self, relative: str) -> Path | None:
        if "\x00" in relative:
            return None
        parts = [p for p in relative.split("/") if p not in ("", ".")]
        if any(p == ".." or p.startswith(".") for p in parts):
            return None
        candidate = self.root.joinpath(*parts) if parts else self.root
        try:
            candidate = candidate.resolve()
        except OSError:
            return None
        if candidate != self.root and self.root not in candidate.parents:
            return None
        if candidate.is_dir():
            candidate = candidate / "index.html"
        return candidate if candidate.is_file() else None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = self.resolve(request.match_info.get("path", ""))
        if path is None:
            return json_error(404, "not found")
        response = web.FileResponse(path)
        content_type, _ = mimetypes.guess_type(path.name)
        if content_type:
            response.content_type = content_type
        # The client has no build step and no hashed names: always revalidate.
        response.headers["Cache-Control"] = "no-cache"
        return response
