"""Security headers for every response the front sends (static files and proxied APIs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "connect-src 'self' ws: wss:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

BASE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def security_headers(hsts: bool) -> Callable[[web.Request, web.StreamResponse],
                                             Awaitable[None]]:
    """An ``on_response_prepare`` hook: every response, streamed or not, gets the headers.

    A value an upstream already set (say, a stricter CSP) is kept.
    """
    headers = dict(BASE_HEADERS)
    if hsts:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        for key, value in headers.items():
            response.headers.setdefault(key, value)

    return on_prepare
